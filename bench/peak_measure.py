"""The peak hour's figures, from the service's own rows and, independently, from the raw AMI events. Pure."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.lib.rawami import Frame
from bench.peak_run import ADMIN_CHANNEL, QUEUE, RunData
from bench.peak_traffic import GREETING_S, PATIENT_RING_S, Traffic, quantile

CALLBACK_PREFIXES = ("callback:", "autocb:")


def stamp(value: Any) -> float | None:
    """A storage time (naive UTC text) as epoch seconds."""
    if value is None:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


def event_time(arrived: float, frame: Frame) -> float:
    """Asterisk's own Timestamp (timestampevents = yes), else when the frame arrived."""
    try:
        return float(frame["Timestamp"])
    except (KeyError, ValueError):
        return arrived


@dataclass(frozen=True)
class Talk:
    admin: str
    start: float  # the administrator's leg answered (Newstate Up)
    end: float  # ... hung up
    callback: bool
    number: str

    @property
    def length(self) -> float:
        return self.end - self.start


def admin_talks(events: list[tuple[float, Frame]]) -> list[Talk]:
    """Every answered leg of a simulated administrator (the `;2` half that runs [sim-admin])."""
    up: dict[str, float] = {}
    number: dict[str, str] = {}
    talks = []
    for arrived, frame in events:
        channel = frame.get("Channel", "")
        match = ADMIN_CHANNEL.match(channel)
        if match is None:
            continue
        if frame.get("CallerIDNum", "").isdigit():
            number[channel] = frame["CallerIDNum"]
        name = frame.get("Event")
        if name == "Newstate" and frame.get("ChannelStateDesc") == "Up":
            up.setdefault(channel, event_time(arrived, frame))
        elif name == "Hangup" and channel in up:
            callback = frame.get("Uniqueid", "").startswith(CALLBACK_PREFIXES)
            talks.append(
                Talk(
                    match.group(1),
                    up.pop(channel),
                    event_time(arrived, frame),
                    callback,
                    number.get(channel, ""),
                )
            )
    return talks


def admin_legs(events: list[tuple[float, Frame]]) -> dict[str, list[tuple[float, float]]]:
    """Every leg of a simulated administrator, ringing included: Newchannel -> Hangup, by administrator."""
    born: dict[str, float] = {}
    legs: dict[str, list[tuple[float, float]]] = {}
    for arrived, frame in events:
        channel = frame.get("Channel", "")
        match = ADMIN_CHANNEL.match(channel)
        if match is None:
            continue
        if frame.get("Event") == "Newchannel":
            born[channel] = event_time(arrived, frame)
        elif frame.get("Event") == "Hangup" and channel in born:
            legs.setdefault(match.group(1), []).append((born.pop(channel), event_time(arrived, frame)))
    return legs


def merged(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def clip(spans: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(max(a, lo), min(b, hi)) for a, b in spans if b > lo and a < hi]


@dataclass(frozen=True)
class Occupancy:
    hour: float  # talk time / (admins x the compressed hour), the hour's window only
    hour_callbacks: float  # the callbacks' part of it
    run: float  # the same from the start until the last administrator hung up
    overlap: float  # seconds an administrator spent in two conversations at once (double booking)
    conversations: int
    busy_hour: float  # ringing or talking (any leg up), the hour's window
    overlaps: int  # conversations that began while the same administrator was still in another one


def occupancy(
    talks: list[Talk], legs: dict[str, list[tuple[float, float]]], admins: int, t0: float, span: float
) -> Occupancy:
    by_admin: dict[str, list[Talk]] = {}
    for talk in talks:
        by_admin.setdefault(talk.admin, []).append(talk)
    end = max((t.end for t in talks), default=t0 + span)
    hour = run = cb = overlap = 0.0
    for items in by_admin.values():
        spans = [(t.start, t.end) for t in items]
        hour += merged(clip(spans, t0, t0 + span))
        run += merged(clip(spans, t0, end))
        cb += merged(clip([(t.start, t.end) for t in items if t.callback], t0, t0 + span))
        overlap += sum(b - a for a, b in spans) - merged(spans)
    busy = sum(merged(clip(spans, t0, t0 + span)) for spans in legs.values())
    overlaps = 0
    for items in by_admin.values():
        ordered = sorted(items, key=lambda t: t.start)
        overlaps += sum(1 for a, b in itertools.pairwise(ordered) if b.start < a.end - 0.01)
    return Occupancy(
        hour / (admins * span),
        cb / (admins * span),
        run / (admins * max(end - t0, span)),
        overlap,
        len(talks),
        busy / (admins * span),
        overlaps,
    )


def queue_spans(events: list[tuple[float, Frame]]) -> list[tuple[float, float]]:
    """When each caller waited in a queue: QueueCallerJoin -> QueueCallerLeave/Abandon."""
    joined: dict[str, float] = {}
    spans = []
    for arrived, frame in events:
        name, uid = frame.get("Event"), frame.get("Uniqueid", "")
        if name == "QueueCallerJoin":
            joined[uid] = event_time(arrived, frame)
        elif name in ("QueueCallerLeave", "QueueCallerAbandon") and uid in joined:
            spans.append((joined.pop(uid), event_time(arrived, frame)))
    return spans


@dataclass(frozen=True)
class Starvation:
    """What held the first callbacks back, on a 50 ms grid over the run."""

    waiting_s: float  # seconds during which at least one missed call waited for its first attempt
    # ... of which someone was waiting in the queue (the dispatcher's rule: then no callback)
    queue_busy_share: float
    idle_admin_s: float  # administrator-seconds with no leg at all while a first callback waited
    idle_admin_queue_s: float  # ... of which someone was waiting in the queue


def starvation(data: RunData, legs: dict[str, list[tuple[float, float]]], admins: int) -> Starvation:
    waits = []
    for t in data.tasks:
        missed = stamp(t["first_missed_at"]) or 0.0
        first = stamp(t["first_attempt_at"]) or data.stopped
        waits.append((missed, first))
    queue = queue_spans(data.events)
    if not waits:
        return Starvation(0.0, 0.0, 0.0, 0.0)
    step = 0.05
    lo, hi = min(a for a, _ in waits), max(b for _, b in waits)
    n = int((hi - lo) / step) + 1

    def mask(spans: list[tuple[float, float]]) -> list[int]:
        counts = [0] * (n + 1)
        for a, b in spans:
            i, j = max(0, int((a - lo) / step)), min(n, int((b - lo) / step))
            if j > i:
                counts[i] += 1
                counts[j] -= 1
        out, level = [], 0
        for k in range(n):
            level += counts[k]
            out.append(level)
        return out

    waiting, queued = mask(waits), mask(queue)
    per_admin = [mask(spans) for spans in legs.values()]
    idle = [admins - len(per_admin) + sum(1 for m in per_admin if m[k] == 0) for k in range(n)]
    w = [k for k in range(n) if waiting[k]]
    return Starvation(
        len(w) * step,
        (sum(1 for k in w if queued[k]) / len(w)) if w else 0.0,
        sum(idle[k] for k in w) * step,
        sum(idle[k] for k in w if queued[k]) * step,
    )


def idle_while_queued(
    legs: dict[str, list[tuple[float, float]]],
    queue: list[tuple[float, float]],
    admins: int,
    lo: float,
    hi: float,
) -> float:
    """Administrator-seconds with no leg at all (not even ringing) while a caller waited in the queue."""
    step = 0.05
    n = int((hi - lo) / step)
    busy = [set[str]() for _ in range(n)]
    for admin, spans in legs.items():
        for a, b in spans:
            for k in range(max(0, int((a - lo) / step)), min(n, int((b - lo) / step) + 1)):
                busy[k].add(admin)
    queued = [False] * n
    for a, b in queue:
        for k in range(max(0, int((a - lo) / step)), min(n, int((b - lo) / step))):
            queued[k] = True
    return sum(admins - len(busy[k]) for k in range(n) if queued[k]) * step


@dataclass(frozen=True)
class QueueRings:
    """Administrator-seconds of the hour spent ringing for queue callers (Asterisk's ringall rounds)."""

    answered: float  # the ring of the administrator who then took the call
    lost_to_another: float  # rung in the same round, another administrator answered first
    caller_gone: (
        float  # rung in a round that ended unanswered: the caller's queue timeout or patience ran out
    )
    rounds_lost: int  # such rounds (callers who left while administrators' phones were ringing for them)


def queue_rings(events: list[tuple[float, Frame]], lo: float, hi: float) -> QueueRings:
    """AgentCalled -> AgentConnect / AgentRingNoAnswer per (administrator, caller), clipped to [lo, hi]."""
    ringing: dict[tuple[str, str], float] = {}
    ends: list[tuple[str, float, float, bool]] = []  # caller, start, end, this administrator answered
    connected: dict[str, list[float]] = {}
    for arrived, frame in events:
        name = frame.get("Event")
        if name not in ("AgentCalled", "AgentConnect", "AgentRingNoAnswer"):
            continue
        key = (frame.get("Interface", ""), frame.get("CallerIDNum", ""))
        at = event_time(arrived, frame)
        if name == "AgentCalled":
            ringing[key] = at
            continue
        if name == "AgentConnect":
            connected.setdefault(key[1], []).append(at)
        start = ringing.pop(key, None)
        if start is not None:
            ends.append((key[1], start, at, name == "AgentConnect"))
    answered = lost = gone = 0.0
    rounds: set[tuple[str, float]] = set()
    for caller, start, end, won in ends:
        seconds = max(0.0, min(end, hi) - max(start, lo))
        if won:
            answered += seconds
        elif any(abs(at - end) < 0.2 for at in connected.get(caller, [])):
            lost += seconds
        else:
            gone += seconds
            rounds.add((caller, round(end, 1)))
    return QueueRings(answered, lost, gone, len(rounds))


FOREIGN_MEMBER_EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause")


OUR_CHANNELS = ("@sandbox-agents-", "@clinic-inbound-", "@patients-")


def is_foreign(frame: Frame, queue: str) -> bool:
    name = frame.get("Event", "")
    if name in FOREIGN_MEMBER_EVENTS:
        return True
    if name == "QueueCallerJoin":
        return frame.get("Queue") != queue
    return name == "Newchannel" and not any(part in frame.get("Channel", "") for part in OUR_CHANNELS)


def foreign(events: list[tuple[float, Frame]], queue: str) -> int:
    """Events that the run did not cause: someone else changing the queue, or calls of other contexts."""
    return sum(1 for _, frame in events if is_foreign(frame, queue))


def reassigned(data: RunData, in_time_first: bool) -> tuple[int, float]:
    """A counterfactual on the run's own capacity: the moments first attempts actually went out (the slots,
    set by when administrators were free and the queue empty) handed to the waiting tasks in another order.
    Oldest deadline first (what both orders do for first attempts when every deadline is miss + 15 min), or
    tasks still in time first, nearest deadline, overdue ones after. Returns first attempts within deadline and
    the p95 time to first attempt (wall s; a task left without a slot counts as never)."""
    slots = sorted(
        stamp(t["first_attempt_at"]) or 0.0 for t in data.tasks if t["first_attempt_at"] is not None
    )
    waiting = sorted((stamp(t["first_missed_at"]) or 0.0, stamp(t["deadline_at"]) or 0.0) for t in data.tasks)
    pending: list[tuple[float, float]] = []
    within = 0
    waits: list[float] = []
    i = 0
    for slot in slots:
        while i < len(waiting) and waiting[i][0] <= slot:
            pending.append(waiting[i])
            i += 1
        if not pending:
            continue
        live = [p for p in pending if p[1] >= slot] if in_time_first else []
        pick = min(live or pending, key=lambda p: p[1])
        pending.remove(pick)
        within += pick[1] >= slot
        waits.append(slot - pick[0])
    return within, quantile(waits + [math.inf] * (len(waiting) - len(waits)), 0.95)


@dataclass(frozen=True)
class Figures:
    policy: str
    calls: int
    answered: int
    missed_by_reason: dict[str, int]
    queue_wait_p50: float  # wall s, answered calls, from the end of the greeting
    queue_wait_p95: float
    tasks: int
    first_in_deadline: int
    attempted: int
    contacted: int
    contacted_in_deadline: int
    not_reached: int
    still_open: int
    tfa: list[float]  # wall s from the miss to the first attempt, attempted tasks
    tfa_censored: int  # tasks never attempted: counted as infinitely late in the quantiles
    attempts_by_n: dict[int, int]
    repeats_ahead: int  # repeat attempts placed while some missed call still waited for its first attempt
    occupancy: Occupancy
    ami_tfa_gap: float  # largest |AMI - service| difference in time to first attempt, s
    ami_tfa_matched: int
    talk_error: tuple[float, float]  # median and p95 |measured - drawn| conversation length, s
    late_originate: float  # worst lateness of a scheduled caller, s
    service_errors: int
    talk_set: dict[str, int]
    hung_up: dict[str, int]
    starvation: Starvation
    queue_busy_hour: float  # share of the hour with someone waiting in the queue
    idle_queued_hour: float  # admin-seconds idle (no leg) while a caller waited in the queue, the hour
    foreign_events: int  # events another user of the sandbox caused during the run (0 = undisturbed)
    slots_oldest_first: tuple[int, float]  # counterfactual: within deadline, p95 (see `reassigned`)
    slots_in_time_first: tuple[int, float]
    queue_rings: QueueRings

    @property
    def missed(self) -> int:
        return sum(self.missed_by_reason.values())

    def tfa_quantile(self, q: float) -> float:
        return quantile(self.tfa + [math.inf] * self.tfa_censored, q)


def inbound_figures(data: RunData) -> tuple[int, dict[str, int], list[float]]:
    answered = [c for c in data.calls if c["miss_reason"] is None]
    reasons = Counter(str(c["miss_reason"]) for c in data.calls if c["miss_reason"] is not None)
    waits = [max(0.0, float(c["waited"]) - GREETING_S) for c in answered]
    return len(answered), dict(reasons), waits


def task_figures(data: RunData) -> dict[str, Any]:
    tasks = data.tasks
    first = {t["task_id"]: stamp(t["first_attempt_at"]) for t in tasks}
    missed = {t["task_id"]: stamp(t["first_missed_at"]) or 0.0 for t in tasks}
    deadline = {t["task_id"]: stamp(t["deadline_at"]) or 0.0 for t in tasks}
    contacted = {t["task_id"]: stamp(t["contacted_at"]) for t in tasks}
    tfa = [f - missed[k] for k, f in first.items() if f is not None]
    repeats_ahead = 0
    for attempt in data.attempts:
        if attempt["n"] < 2 or attempt["state"] == "unplaced":
            continue
        at = stamp(attempt["created_at"]) or 0.0
        if any(missed[k] <= at and ((f := first[k]) is None or f > at) for k in missed):
            repeats_ahead += 1
    return {
        "first_in_deadline": sum(1 for k, f in first.items() if f is not None and f <= deadline[k]),
        "attempted": len(tfa),
        "contacted": sum(1 for t in tasks if t["state"] == "contacted"),
        "contacted_in_deadline": sum(1 for k, c in contacted.items() if c is not None and c <= deadline[k]),
        "not_reached": sum(1 for t in tasks if t["state"] == "not_reached"),
        "still_open": sum(1 for t in tasks if t["state"] == "open"),
        "tfa": tfa,
        "tfa_censored": sum(1 for f in first.values() if f is None),
        "attempts_by_n": dict(
            sorted(Counter(int(a["n"]) for a in data.attempts if a["state"] != "unplaced").items())
        ),
        "repeats_ahead": repeats_ahead,
    }


def ami_tfa_check(data: RunData) -> tuple[float, int]:
    """Time to first attempt again, from Asterisk alone: the missed call's last Hangup (by Linkedid) to the
    Newchannel of the task's first callback leg. Returns the largest difference from the service's figure."""
    last_hangup: dict[str, float] = {}
    first_leg: dict[str, float] = {}
    for arrived, frame in data.events:
        name = frame.get("Event")
        if name == "Hangup":
            last_hangup[frame.get("Linkedid", "")] = event_time(arrived, frame)
        elif name == "Newchannel" and frame.get("Uniqueid", "").startswith(CALLBACK_PREFIXES):
            first_leg.setdefault(frame["Uniqueid"], event_time(arrived, frame))
    gaps = []
    for task in data.tasks:
        attempt_at, missed_at = stamp(task["first_attempt_at"]), stamp(task["first_missed_at"])
        hangup = last_hangup.get(task["first_call_id"])
        leg = next(
            (
                first_leg[f"{p}{task['target_id']}:1"]
                for p in CALLBACK_PREFIXES
                if f"{p}{task['target_id']}:1" in first_leg
            ),
            None,
        )
        if attempt_at is None or missed_at is None or hangup is None or leg is None:
            continue
        gaps.append(abs((leg - hangup) - (attempt_at - missed_at)))
    return (max(gaps) if gaps else math.nan), len(gaps)


def talk_error(talks: list[Talk], traffic: Traffic) -> tuple[float, float]:
    """How closely the simulated administrators kept to the drawn talk times (answered legs only)."""
    callers = traffic.by_digits()
    errors = []
    for talk in talks:
        caller = callers.get(talk.number)
        if caller is None or talk.length < 0.3:
            continue  # a ringall loser answering in the same instant: not a conversation
        drawn = caller.talk + (PATIENT_RING_S if talk.callback else 0.0)
        if talk.callback and not caller.answers_callback:
            continue  # rings out: the administrator's leg ends with the patient's ring timeout
        errors.append(abs(talk.length - drawn))
    return statistics.median(errors) if errors else math.nan, quantile(errors, 0.95)


def figures(data: RunData, traffic: Traffic) -> Figures:
    answered, reasons, waits = inbound_figures(data)
    talks = admin_talks(data.events)
    legs = admin_legs(data.events)
    gap, matched = ami_tfa_check(data)
    late = max(
        (
            sent - (data.t0 + c.at)
            for c in traffic.callers
            if (sent := data.originated.get(c.digits)) is not None
        ),
        default=math.nan,
    )
    return Figures(
        policy=data.policy,
        calls=len(data.calls),
        answered=answered,
        missed_by_reason=reasons,
        queue_wait_p50=quantile(waits, 0.5),
        queue_wait_p95=quantile(waits, 0.95),
        tasks=len(data.tasks),
        **task_figures(data),
        occupancy=occupancy(talks, legs, traffic.profile.admins, data.t0, traffic.span),
        ami_tfa_gap=gap,
        ami_tfa_matched=matched,
        talk_error=talk_error(talks, traffic),
        late_originate=late,
        service_errors=len(data.service_errors),
        talk_set=data.talk_set,
        hung_up=data.hung_up,
        starvation=starvation(data, legs, traffic.profile.admins),
        queue_busy_hour=merged(clip(queue_spans(data.events), data.t0, data.t0 + traffic.span))
        / traffic.span,
        idle_queued_hour=idle_while_queued(
            legs, queue_spans(data.events), traffic.profile.admins, data.t0, data.t0 + traffic.span
        ),
        foreign_events=foreign(data.events, QUEUE),
        slots_oldest_first=reassigned(data, in_time_first=False),
        slots_in_time_first=reassigned(data, in_time_first=True),
        queue_rings=queue_rings(data.events, data.t0, data.t0 + traffic.span),
    )
