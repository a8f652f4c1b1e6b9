"""The peak hour's figures, from the service's own rows and, independently, from the raw AMI events. Pure."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.lib.rawami import Frame
from bench.lib.report import quantile
from bench.peak.config import QUEUE, callback_attempt
from bench.peak.occupancy import (
    Occupancy,
    QueueRings,
    Starvation,
    Talk,
    admin_legs,
    admin_talks,
    clip,
    event_time,
    idle_while_queued,
    merged,
    occupancy,
    queue_rings,
    queue_spans,
    stamp,
    starvation,
)
from bench.peak.run import RunData
from bench.peak.traffic import GREETING_S, Traffic

FOREIGN_MEMBER_EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause")


OUR_CHANNELS = ("@sandbox-agents-", "@clinic-inbound-", "@patients-", "PJSIP/trunk-")


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
    first_leg: dict[tuple[int, int], float] = {}  # (target, n) of a callback attempt -> its first Newchannel
    for arrived, frame in data.events:
        name = frame.get("Event")
        if name == "Hangup":
            last_hangup[frame.get("Linkedid", "")] = event_time(arrived, frame)
        elif name == "Newchannel" and (attempt := callback_attempt(frame.get("Uniqueid", ""))) is not None:
            first_leg.setdefault((attempt.target, attempt.n), event_time(arrived, frame))
    gaps = []
    for task in data.tasks:
        attempt_at, missed_at = stamp(task["first_attempt_at"]), stamp(task["first_missed_at"])
        hangup = last_hangup.get(task["first_call_id"])
        leg = first_leg.get((int(task["target_id"]), 1))
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
        drawn = caller.talk + (traffic.patient_ring_s if talk.callback else 0.0)
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
