"""The peak-hour benchmark's report: deadline policy against the FIFO baseline of the same run."""

from __future__ import annotations

import math

from bench.lib.report import ratio, share
from bench.peak.measure import Figures
from bench.peak.traffic import GREETING_S, Scale, Traffic, offered_load


def pp(a: tuple[int, int], b: tuple[int, int]) -> str:
    if not a[1] or not b[1]:
        return ""
    return f"{100.0 * (a[0] / a[1] - b[0] / b[1]):+.1f} pp"


def minutes(wall: float, scale: Scale) -> str:
    if math.isinf(wall):
        return "never"
    if math.isnan(wall):
        return "-"
    return f"{scale.real(wall) / 60:.2f} min ({wall:.1f} s)"


def header(traffic: Traffic, greeting: float | None) -> list[str]:
    p, s = traffic.profile, traffic.scale
    stay = sum(1 for c in traffic.callers if not c.abandoner)
    lines = [
        f"Peak hour: {p.calls} inbound calls over {p.hour_real / 60:.0f} real min, compressed x{s.compression:g} "
        f"({traffic.span:.0f} s wall), {p.admins} administrators, seed {traffic.seed}",
        f"  talk {p.talk_real[0]:g}-{p.talk_real[1]:g} s real ({s.wall(p.talk_real[0]):.2f}-"
        f"{s.wall(p.talk_real[1]):.2f} s wall) + 1 s ring (= {s.real(1.0):g} s real); {p.calls - stay} callers "
        f"({100 * (p.calls - stay) / p.calls:.0f}%) "
        f"hang up before anyone could answer; the others wait up to {p.patience_real[0]:g}-{p.patience_real[1]:g} s "
        f"real, the queue gives up after {s.wall(p.queue_timeout_real):.0f} s wall ({p.queue_timeout_real:g} s real)",
        f"  deadline {p.deadline_real / 60:g} min -> {s.wall(p.deadline_real):.1f} s, "
        f"min gap {p.min_gap_real / 60:g} min -> {s.wall(p.min_gap_real):.1f} s, "
        f"patient ring {p.ring_timeout_real:g} s -> {int(s.wall(p.ring_timeout_real))} s "
        f"(Dial takes whole seconds); ahead of the queue from {p.priority_margin_real / 60:g} min before the "
        f"deadline (0: never); callback patients: {100 * (1 - p.no_answer_share):.0f}% answer (…1), "
        f"{100 * p.no_answer_share:.0f}% ring out (…3); "
        + (
            "callers on the sandbox's carrier, over the PJSIP trunk both ways"
            if traffic.carrier
            else "callers and patients as Local/ channels"
        ),
        f"  offered load of the callers who stay (ring + talk, all answered): {offered_load(traffic):.2f} Erlang "
        f"of {p.admins}; greeting {greeting if greeting is not None else GREETING_S:.2f} s wall, not compressed "
        f"(= {s.real(greeting or GREETING_S):.0f} s real)",
    ]
    return lines


class ReportRows:
    """The table's rows: one column per policy run, the deadline one first, and a difference column."""

    def __init__(self, traffic: Traffic, runs: list[Figures]) -> None:
        self.scale = traffic.scale
        self.traffic = traffic
        by = {f.policy: f for f in runs}
        self.deadline, self.fifo = by.get("deadline"), by.get("fifo")
        self.order = [f for f in (self.deadline, self.fifo) if f is not None]
        self.rows: list[tuple[str, list[str], str]] = []

    @property
    def both(self) -> bool:
        return self.deadline is not None and self.fifo is not None

    def row(self, name: str, cell: object, diff: str = "") -> None:
        self.rows.append((name, [str(cell(f)) if callable(cell) else str(cell) for f in self.order], diff))

    def diff_share(self, num: str, den: str) -> str:
        d, b = self.deadline, self.fifo
        if d is None or b is None:
            return ""
        return pp((getattr(d, num), getattr(d, den)), (getattr(b, num), getattr(b, den)))


def call_rows(t: ReportRows) -> None:
    s, order = t.scale, t.order
    t.row("inbound calls (recorded)", lambda f: f.calls)
    t.row("answered", lambda f: share(f.answered, f.calls), t.diff_share("answered", "calls"))
    t.row("missed", lambda f: share(f.missed, f.calls), t.diff_share("missed", "calls"))
    for reason in sorted({r for f in order for r in f.missed_by_reason}):
        t.row(f"  {reason}", lambda f, r=reason: f.missed_by_reason.get(r, 0))
    t.row(
        "queue wait of answered calls, p50 / p95",
        lambda f: f"{s.real(f.queue_wait_p50):.0f} / {s.real(f.queue_wait_p95):.0f} s real",
    )
    t.row("callback tasks", lambda f: f.tasks)
    t.row(
        "FIRST CALLBACK WITHIN THE DEADLINE",
        lambda f: share(f.first_in_deadline, f.tasks),
        t.diff_share("first_in_deadline", "tasks"),
    )
    t.row("  breaches (no first attempt by the deadline)", lambda f: f.tasks - f.first_in_deadline)
    t.row(
        "  replay: same slots, oldest deadline first",
        lambda f: (
            share(f.slots_oldest_first[0], f.tasks) + f", p95 {s.real(f.slots_oldest_first[1]) / 60:.1f} min"
        ),
    )
    t.row(
        "  replay: same slots, in-time tasks first",
        lambda f: (
            share(f.slots_in_time_first[0], f.tasks)
            + f", p95 {s.real(f.slots_in_time_first[1]) / 60:.1f} min"
        ),
    )


def contact_rows(t: ReportRows) -> None:
    t.row(
        "CONTACTED (callback answered)",
        lambda f: share(f.contacted, f.tasks),
        t.diff_share("contacted", "tasks"),
    )
    t.row(
        "  contacted within the deadline",
        lambda f: share(f.contacted_in_deadline, f.tasks),
        t.diff_share("contacted_in_deadline", "tasks"),
    )
    t.row("  not reached (2 attempts, then SMS)", lambda f: f.not_reached)
    t.row("  still open when the run ended", lambda f: f.still_open)


def first_attempt_rows(t: ReportRows) -> None:
    s, order, both = t.scale, t.order, t.both
    target = s.wall(180.0)
    p50 = [f.tfa_quantile(0.5) for f in order]
    p95 = [f.tfa_quantile(0.95) for f in order]
    t.row(
        "TIME TO FIRST ATTEMPT, median",
        lambda f: minutes(f.tfa_quantile(0.5), s),
        ratio(p50[0], p50[1]) if both else "",
    )
    t.row(
        "TIME TO FIRST ATTEMPT, p95",
        lambda f: minutes(f.tfa_quantile(0.95), s),
        ratio(p95[0], p95[1]) if both else "",
    )
    t.row("  max", lambda f: minutes(f.tfa_quantile(1.0), s))
    t.row(
        f"  target p95 < 3 min real (< {target:.1f} s wall)",
        lambda f: "met" if f.tfa_quantile(0.95) < target else "MISSED",
    )
    t.row(
        "  time with a first callback waiting",
        lambda f: f"{s.real(f.starvation.waiting_s) / 60:.1f} min real",
    )
    t.row(
        "    of it with a caller in the queue (no callback)",
        lambda f: f"{100 * f.starvation.queue_busy_share:.0f}%",
    )
    t.row(
        "    admin idle meanwhile (admin-min real)", lambda f: f"{s.real(f.starvation.idle_admin_s) / 60:.1f}"
    )
    t.row(
        "    of it with a caller in the queue",
        lambda f: f"{s.real(f.starvation.idle_admin_queue_s) / 60:.1f}",
    )


def occupancy_rows(t: ReportRows) -> None:
    s, d, b, traffic = t.scale, t.deadline, t.fifo, t.traffic
    t.row("share of the hour with a caller in the queue", lambda f: f"{100 * f.queue_busy_hour:.0f}%")
    t.row(
        "  admin idle (not even ringing) meanwhile",
        lambda f: f"{s.real(f.idle_queued_hour) / 60:.1f} admin-min real",
    )
    t.row("attempts placed, by number", lambda f: " ".join(f"n{n}:{c}" for n, c in f.attempts_by_n.items()))
    t.row("  repeats placed while a first attempt waited", lambda f: f.repeats_ahead)
    t.row(
        "ADMINISTRATOR OCCUPANCY, the hour (talk)",
        lambda f: f"{100 * f.occupancy.hour:.1f}%",
        f"{100 * (d.occupancy.hour - b.occupancy.hour):+.1f} pp" if d is not None and b is not None else "",
    )
    t.row("  of which callbacks", lambda f: f"{100 * f.occupancy.hour_callbacks:.1f}%")
    t.row("  ringing or talking, the hour", lambda f: f"{100 * f.occupancy.busy_hour:.1f}%")
    hour = traffic.profile.admins * traffic.span
    t.row(
        "  ringing for queue callers: answered / lost to another",
        lambda f: (
            f"{100 * f.queue_rings.answered / hour:.1f}% / {100 * f.queue_rings.lost_to_another / hour:.1f}%"
        ),
    )
    t.row(
        "  ringing for callers who then left (rounds)",
        lambda f: f"{100 * f.queue_rings.caller_gone / hour:.1f}% ({f.queue_rings.rounds_lost})",
    )
    t.row("  until the last administrator hung up", lambda f: f"{100 * f.occupancy.run:.1f}%")
    t.row(
        "  double booking: calls / seconds", lambda f: f"{f.occupancy.overlaps} / {f.occupancy.overlap:.1f} s"
    )


def check_rows(t: ReportRows) -> None:
    t.row(
        "check: AMI vs service time to 1st attempt",
        lambda f: f"max {f.ami_tfa_gap * 1000:.0f} ms ({f.ami_tfa_matched} tasks)",
    )
    t.row(
        "check: talk time kept, |error| p50 / p95",
        lambda f: f"{f.talk_error[0]:.2f} / {f.talk_error[1]:.2f} s wall",
    )
    t.row(
        "check: SIM_TALK set for queue/callback/unknown",
        lambda f: "/".join(str(f.talk_set.get(k, 0)) for k in ("queue", "callback", "unknown")),
    )
    t.row(
        "check: patience over: hung up/answered/lost",
        lambda f: "/".join(str(f.hung_up.get(k, 0)) for k in ("patience", "answered first", "no channel")),
    )
    t.row("check: foreign events (other sandbox users)", lambda f: f.foreign_events)
    t.row(
        "check: worst caller lateness, ERROR lines",
        lambda f: f"{f.late_originate * 1000:.0f} ms, {f.service_errors}",
    )


def table(traffic: Traffic, runs: list[Figures]) -> list[str]:
    """The figures of each run side by side, with the deadline run's difference from the baseline."""
    t = ReportRows(traffic, runs)
    for section in (call_rows, contact_rows, first_attempt_rows, occupancy_rows, check_rows):
        section(t)
    rows, order, both = t.rows, t.order, t.both
    width = max(len(r[0]) for r in rows) + 2
    cols = [max(len(r[1][i]) for r in rows) + 2 for i in range(len(order))]
    names = [f.policy + (" (baseline)" if f.policy == "fifo" else "") for f in order]
    cols = [max(c, len(n) + 2) for c, n in zip(cols, names, strict=True)]
    out = [
        "".ljust(width)
        + "".join(n.ljust(c) for n, c in zip(names, cols, strict=True))
        + ("deadline vs fifo" if both else "")
    ]
    for name, cells, diff in rows:
        out.append(name.ljust(width) + "".join(v.ljust(c) for v, c in zip(cells, cols, strict=True)) + diff)
    return out
