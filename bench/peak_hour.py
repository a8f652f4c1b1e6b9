"""A simulated peak hour of missed calls on the real Asterisk: callbacks by deadline vs in the order missed.

    .venv/bin/python -m bench.peak_hour                           # 300 calls, 1 h compressed x6, seed 1
    .venv/bin/python -m bench.peak_hour --calls 45 --talk 300:420  # the Omsk seed's 5-7 min talk times
    .venv/bin/python -m bench.peak_hour --save run.json.gz         # keep the raw runs; --analyze reprints

The same seeded traffic (Poisson arrivals, each caller's patience, number and talk time) is played twice
against the real `dialer run` service on the sandbox, each time with a fresh data dir: first with
`[campaigns.callbacks] priority = "deadline"`, then with `priority = "fifo"` (the baseline: callbacks in the
order the calls were missed). Every real duration (the hour, talk times, patience, queue timeout, the
deadline, the minimum gap, ring timeouts) is divided by the compression factor; the inbound greeting (real
audio, 4.4 s), the simulated administrators' 1 s ring and Asterisk's queue timings (whole seconds: the test
queue's 1 s retry and 3 s ring round) are not. They cost 1 s x the factor in real terms, so the factor is 6
(a 6 s pick-up, an 18 s ring round close to the shipped 20 s) and not 12, at which the queue's own timings
left the administrators idle for ~25% of the hour while callers waited. See bench/README.md, "Benchmark 3".
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

from bench.lib.paths import REPO
from bench.peak_measure import Figures, figures
from bench.peak_run import Driver, RunData
from bench.peak_traffic import GREETING_S, Profile, Scale, Traffic, generate, offered_load
from bench.record_stream import BENCH_PORT, bench_sandbox
from dialer.sandbox import Sandbox
from dialer.sandbox.sandbox import AmiCredentials

POLICIES = ("deadline", "fifo")


def parse_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    a, b = float(low), float(high or low)
    if not 0 < a <= b:
        raise argparse.ArgumentTypeError(f"want LOW:HIGH seconds, e.g. 30:50, not {text!r}")
    return a, b


def profile_of(args: argparse.Namespace) -> Profile:
    return Profile(
        calls=args.calls,
        hour_real=args.hour * 60.0,
        admins=args.admins,
        abandon_share=args.abandon,
        talk_real=args.talk,
        no_answer_share=args.no_answer,
    )


# -- printing -------------------------------------------------------------------------------------------


def pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100.0 * part / whole:.1f}%)" if whole else "-"


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


def ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b) or b == 0:
        return ""
    return f"x{a / b:.2f}"


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
        f"(Dial takes whole seconds); callback patients: {100 * (1 - p.no_answer_share):.0f}% answer (…1), "
        f"{100 * p.no_answer_share:.0f}% ring out (…3)",
        f"  offered load of the callers who stay (ring + talk, all answered): {offered_load(traffic):.2f} Erlang "
        f"of {p.admins}; greeting {greeting if greeting is not None else GREETING_S:.2f} s wall, not compressed "
        f"(= {s.real(greeting or GREETING_S):.0f} s real)",
    ]
    return lines


def table(traffic: Traffic, runs: list[Figures]) -> list[str]:
    s = traffic.scale
    by = {f.policy: f for f in runs}
    d, b = by.get("deadline"), by.get("fifo")
    order = [f for f in (d, b) if f is not None]
    target = s.wall(180.0)
    rows: list[tuple[str, list[str], str]] = []

    def row(name: str, cell: object, diff: str = "") -> None:
        rows.append((name, [str(cell(f)) if callable(cell) else str(cell) for f in order], diff))

    both = d is not None and b is not None

    def diff_pct(num: str, den: str) -> str:
        if d is None or b is None:
            return ""
        return pp((getattr(d, num), getattr(d, den)), (getattr(b, num), getattr(b, den)))

    row("inbound calls (recorded)", lambda f: f.calls)
    row("answered", lambda f: pct(f.answered, f.calls), diff_pct("answered", "calls"))
    row("missed", lambda f: pct(f.missed, f.calls), diff_pct("missed", "calls"))
    for reason in sorted({r for f in order for r in f.missed_by_reason}):
        row(f"  {reason}", lambda f, r=reason: f.missed_by_reason.get(r, 0))
    row(
        "queue wait of answered calls, p50 / p95",
        lambda f: f"{s.real(f.queue_wait_p50):.0f} / {s.real(f.queue_wait_p95):.0f} s real",
    )
    row("callback tasks", lambda f: f.tasks)
    row(
        "FIRST CALLBACK WITHIN THE DEADLINE",
        lambda f: pct(f.first_in_deadline, f.tasks),
        diff_pct("first_in_deadline", "tasks"),
    )
    row("  breaches (no first attempt by the deadline)", lambda f: f.tasks - f.first_in_deadline)
    row(
        "  replay: same slots, oldest deadline first",
        lambda f: (
            pct(f.slots_oldest_first[0], f.tasks) + f", p95 {s.real(f.slots_oldest_first[1]) / 60:.1f} min"
        ),
    )
    row(
        "  replay: same slots, in-time tasks first",
        lambda f: (
            pct(f.slots_in_time_first[0], f.tasks) + f", p95 {s.real(f.slots_in_time_first[1]) / 60:.1f} min"
        ),
    )
    row("CONTACTED (callback answered)", lambda f: pct(f.contacted, f.tasks), diff_pct("contacted", "tasks"))
    row(
        "  contacted within the deadline",
        lambda f: pct(f.contacted_in_deadline, f.tasks),
        diff_pct("contacted_in_deadline", "tasks"),
    )
    row("  not reached (2 attempts, then SMS)", lambda f: f.not_reached)
    row("  still open when the run ended", lambda f: f.still_open)
    p50 = [f.tfa_quantile(0.5) for f in order]
    p95 = [f.tfa_quantile(0.95) for f in order]
    row(
        "TIME TO FIRST ATTEMPT, median",
        lambda f: minutes(f.tfa_quantile(0.5), s),
        ratio(p50[0], p50[1]) if both else "",
    )
    row(
        "TIME TO FIRST ATTEMPT, p95",
        lambda f: minutes(f.tfa_quantile(0.95), s),
        ratio(p95[0], p95[1]) if both else "",
    )
    row("  max", lambda f: minutes(f.tfa_quantile(1.0), s))
    row(
        f"  target p95 < 3 min real (< {target:.1f} s wall)",
        lambda f: "met" if f.tfa_quantile(0.95) < target else "MISSED",
    )
    row(
        "  time with a first callback waiting",
        lambda f: f"{s.real(f.starvation.waiting_s) / 60:.1f} min real",
    )
    row(
        "    of it with a caller in the queue (no callback)",
        lambda f: f"{100 * f.starvation.queue_busy_share:.0f}%",
    )
    row(
        "    admin idle meanwhile (admin-min real)", lambda f: f"{s.real(f.starvation.idle_admin_s) / 60:.1f}"
    )
    row(
        "    of it with a caller in the queue",
        lambda f: f"{s.real(f.starvation.idle_admin_queue_s) / 60:.1f}",
    )
    row("share of the hour with a caller in the queue", lambda f: f"{100 * f.queue_busy_hour:.0f}%")
    row(
        "  admin idle (not even ringing) meanwhile",
        lambda f: f"{s.real(f.idle_queued_hour) / 60:.1f} admin-min real",
    )
    row("attempts placed, by number", lambda f: " ".join(f"n{n}:{c}" for n, c in f.attempts_by_n.items()))
    row("  repeats placed while a first attempt waited", lambda f: f.repeats_ahead)
    row(
        "ADMINISTRATOR OCCUPANCY, the hour (talk)",
        lambda f: f"{100 * f.occupancy.hour:.1f}%",
        f"{100 * (d.occupancy.hour - b.occupancy.hour):+.1f} pp" if d is not None and b is not None else "",
    )
    row("  of which callbacks", lambda f: f"{100 * f.occupancy.hour_callbacks:.1f}%")
    row("  ringing or talking, the hour", lambda f: f"{100 * f.occupancy.busy_hour:.1f}%")
    hour = traffic.profile.admins * traffic.span
    row(
        "  ringing for queue callers: answered / lost to another",
        lambda f: (
            f"{100 * f.queue_rings.answered / hour:.1f}% / {100 * f.queue_rings.lost_to_another / hour:.1f}%"
        ),
    )
    row(
        "  ringing for callers who then left (rounds)",
        lambda f: f"{100 * f.queue_rings.caller_gone / hour:.1f}% ({f.queue_rings.rounds_lost})",
    )
    row("  until the last administrator hung up", lambda f: f"{100 * f.occupancy.run:.1f}%")
    row(
        "  double booking: calls / seconds", lambda f: f"{f.occupancy.overlaps} / {f.occupancy.overlap:.1f} s"
    )
    row(
        "check: AMI vs service time to 1st attempt",
        lambda f: f"max {f.ami_tfa_gap * 1000:.0f} ms ({f.ami_tfa_matched} tasks)",
    )
    row(
        "check: talk time kept, |error| p50 / p95",
        lambda f: f"{f.talk_error[0]:.2f} / {f.talk_error[1]:.2f} s wall",
    )
    row(
        "check: SIM_TALK set for queue/callback/unknown",
        lambda f: "/".join(str(f.talk_set.get(k, 0)) for k in ("queue", "callback", "unknown")),
    )
    row(
        "check: patience over: hung up/answered/lost",
        lambda f: "/".join(str(f.hung_up.get(k, 0)) for k in ("patience", "answered first", "no channel")),
    )
    row("check: foreign events (other sandbox users)", lambda f: f.foreign_events)
    row(
        "check: worst caller lateness, ERROR lines",
        lambda f: f"{f.late_originate * 1000:.0f} ms, {f.service_errors}",
    )
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


# -- running ------------------------------------------------------------------------------------------------


def busy_elsewhere() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def greeting_seconds(box: Sandbox) -> float | None:
    path = box.layout.prompts_dir / "inbound-greeting.wav"
    try:
        with wave.open(str(path)) as w:
            return float(w.getnframes() / w.getframerate())
    except (OSError, wave.Error):
        return None


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def snapshot(into: Path) -> str:
    """The committed `dialer` package (git archive HEAD), so that edits in progress in the shared working tree
    neither break nor change the service under measurement. Returns the commit."""
    data = subprocess.run(
        ["git", "archive", "HEAD", "dialer"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return git("rev-parse", "--short", "HEAD")


async def run_all(args: argparse.Namespace, traffic: Traffic) -> tuple[list[RunData], float | None, str]:
    if args.sandbox == "own":
        # bench.record_stream's own sandbox (~/.cache/dialer/bench-sandbox, AMI port 5139): the integration
        # tests of other sessions add and remove the same simulated administrators on the shared one.
        box = bench_sandbox(args.port)
        started_box = not box.is_running()
        creds = box.up(sys.stderr)
    else:
        box, started_box = Sandbox(), False
        # A running sandbox is used as it is (no reload: that would load the working tree's config of the moment).
        creds = box.credentials() if box.is_running() else box.up(sys.stderr)
    try:
        return await run_policies(args, traffic, box, creds)
    finally:
        if started_box:
            box.down(sys.stderr)


async def run_policies(
    args: argparse.Namespace, traffic: Traffic, box: Sandbox, creds: AmiCredentials
) -> tuple[list[RunData], float | None, str]:
    greeting = greeting_seconds(box)
    if greeting is not None and abs(greeting - GREETING_S) > 0.3:
        log(f"warning: the greeting lasts {greeting:.2f} s, the traffic assumes {GREETING_S} s")
    runs = []
    with tempfile.TemporaryDirectory(prefix="peak-hour-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        source: Path | None = None
        code = "working tree" + (" (dirty)" if git("status", "--porcelain", "dialer") else "")
        if args.source == "head":
            source = Path(tmp) / "src"
            code = f"commit {snapshot(source)}"
        for policy in args.policies:
            started = time.time()
            driver = Driver(traffic, creds, box, base / policy, policy, source)
            log(
                f"{policy}: a fresh data dir ({base / policy}); the service runs {await driver.imported_from()}"
            )
            runs.append(await driver.run(log=log))
            log(f"{policy}: done in {time.time() - started:.0f} s")
    return runs, greeting, code


def save(
    path: Path, args: argparse.Namespace, runs: list[RunData], greeting: float | None, code: str
) -> None:
    payload = {
        "args": {k: v for k, v in vars(args).items() if k not in ("save", "analyze")},
        "greeting": greeting,
        "code": code,
        "runs": [dataclasses.asdict(r) for r in runs],
    }
    with gzip.open(path, "wt", encoding="utf-8") as out:
        json.dump(payload, out)


def load(path: Path) -> tuple[argparse.Namespace, list[RunData], float | None, str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        payload = json.load(f)
    args = argparse.Namespace(**payload["args"])
    args.talk = tuple(args.talk)
    runs = []
    for raw in payload["runs"]:
        raw["events"] = [(t, frame) for t, frame in raw["events"]]
        runs.append(RunData(**raw))
    return args, runs, payload["greeting"], str(payload.get("code", "?"))


def report(args: argparse.Namespace, runs: list[RunData], greeting: float | None, code: str) -> None:
    traffic = generate(profile_of(args), Scale(args.compression), args.seed)
    print("\n".join(header(traffic, greeting)))
    when = [f"{r.policy} {datetime.fromtimestamp(r.t0, UTC):%Y-%m-%d %H:%M:%S} UTC" for r in runs]
    print(f"  runs: {', '.join(when)}; service code: {code}; {os.cpu_count()} cores")
    print()
    print("\n".join(table(traffic, [figures(r, traffic) for r in runs])))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.peak_hour", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=300, help="inbound calls in the hour (300)")
    p.add_argument("--compression", type=float, default=6.0, help="real seconds per wall second (6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--admins", type=int, default=5, choices=range(1, 10), metavar="1..9")
    p.add_argument("--hour", type=float, default=60.0, help="real minutes the calls are spread over (60)")
    p.add_argument(
        "--talk", type=parse_range, default=(30.0, 50.0), help="real talk seconds LOW:HIGH (30:50)"
    )
    p.add_argument("--abandon", type=float, default=0.15, help="share of callers who give up at once (0.15)")
    p.add_argument("--no-answer", type=float, default=0.2, help="share of numbers that ring out (0.2)")
    p.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    p.add_argument(
        "--sandbox",
        choices=("own", "shared"),
        default="own",
        help="a sandbox of the benchmark's own (default, started and stopped here) or the shared one",
    )
    p.add_argument("--port", type=int, default=BENCH_PORT, help="AMI port of the own sandbox (5139)")
    p.add_argument(
        "--source",
        choices=("head", "worktree"),
        default="head",
        help="run the service from a snapshot of HEAD (default) or from the working tree as it is",
    )
    p.add_argument("--keep", help="keep each run's home folder (config, SQLite, service.log) under this path")
    p.add_argument("--save", help="write the raw runs (events and rows) to this .json.gz")
    p.add_argument("--analyze", help="reprint the figures from a --save file; nothing is dialled")
    p.add_argument("--force", action="store_true", help="run even though pytest is running")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.analyze:
        saved, runs, greeting, code = load(Path(args.analyze))
        report(saved, runs, greeting, code)
        return
    others = busy_elsewhere()
    if others and not args.force:
        sys.exit("pytest is running (" + "; ".join(others)[:200] + "): the figures would be skewed; --force")
    traffic = generate(profile_of(args), Scale(args.compression), args.seed)
    runs, greeting, code = asyncio.run(run_all(args, traffic))
    if args.save:
        save(Path(args.save), args, runs, greeting, code)
    report(args, runs, greeting, code)


if __name__ == "__main__":
    main()
