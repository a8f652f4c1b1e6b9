"""Service-level figures for a clinic's day and hours, from finished inbound calls and callback tasks."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TypedDict, cast
from zoneinfo import ZoneInfo

ANSWER_TARGET_SECONDS = 20.0


@dataclass(frozen=True)
class CallStat:
    started_at: datetime
    answered: bool
    waited: float
    hidden: bool


@dataclass(frozen=True)
class TaskStat:
    starts_at: datetime  # the miss, or opening time for an after-hours miss
    deadline_at: datetime
    first_attempt_at: datetime | None
    contacted_at: datetime | None


class FiguresView(TypedDict):
    """`Figures` as JSON: the board's hours, GET /api/sla and the supervisor's pages read these keys."""

    calls: int
    answered: int
    missed: int
    missed_pct: float
    answered_in_target_pct: float
    avg_wait: float
    hidden: int
    callbacks: int
    first_attempt_in_deadline_pct: float
    contacted_in_deadline_pct: float
    breaches: int
    median_first_attempt: float | None
    p95_first_attempt: float | None
    median_contact: float | None


class HourFiguresView(FiguresView):
    hour: int


@dataclass(frozen=True)
class Figures:
    calls: int
    answered: int
    missed: int
    missed_pct: float
    answered_in_target_pct: float  # answered within 20 s, of all calls (abandoned ones included)
    avg_wait: float  # seconds, abandoned calls included
    hidden: int
    callbacks: int
    first_attempt_in_deadline_pct: float
    contacted_in_deadline_pct: float
    breaches: int  # no first attempt by the deadline
    median_first_attempt: float | None
    p95_first_attempt: float | None
    median_contact: float | None

    def as_dict(self) -> FiguresView:
        return cast(FiguresView, asdict(self))  # the view's keys are these fields, of the same types

    def of_hour(self, hour: int) -> HourFiguresView:
        return {"hour": hour, **self.as_dict()}


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _quantile(values: list[float], q: float) -> float | None:
    """The median halfway between the middle two; other quantiles by nearest rank."""
    if not values:
        return None
    if q == 0.5:
        return round(statistics.median(values), 1)
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1], 1)


def _delays(
    tasks: Sequence[TaskStat], moment: Callable[[TaskStat], datetime | None]
) -> tuple[list[float], int]:
    """Seconds from each task's start to its `moment` (where there is one), and how many came by the deadline."""
    delays: list[float] = []
    in_deadline = 0
    for t in tasks:
        at = moment(t)
        if at is not None:
            delays.append((at - t.starts_at).total_seconds())
            if at <= t.deadline_at:
                in_deadline += 1
    return delays, in_deadline


def _breached(t: TaskStat, now: datetime) -> bool:
    """First called after the deadline, or not called yet and the deadline has passed."""
    if t.first_attempt_at is None:
        return t.deadline_at < now
    return t.first_attempt_at > t.deadline_at


def figures(
    calls: Sequence[CallStat], tasks: Sequence[TaskStat], now: datetime, target: float = ANSWER_TARGET_SECONDS
) -> Figures:
    answered = sum(1 for c in calls if c.answered)
    in_target = sum(1 for c in calls if c.answered and c.waited <= target)
    first, first_in = _delays(tasks, lambda t: t.first_attempt_at)
    contact, contact_in = _delays(tasks, lambda t: t.contacted_at)
    breaches = sum(1 for t in tasks if _breached(t, now))
    return Figures(
        calls=len(calls),
        answered=answered,
        missed=len(calls) - answered,
        missed_pct=_pct(len(calls) - answered, len(calls)),
        answered_in_target_pct=_pct(in_target, len(calls)),
        avg_wait=round(statistics.fmean([c.waited for c in calls]), 1) if calls else 0.0,
        hidden=sum(1 for c in calls if c.hidden),
        callbacks=len(tasks),
        first_attempt_in_deadline_pct=_pct(first_in, len(tasks)),
        contacted_in_deadline_pct=_pct(contact_in, len(tasks)),
        breaches=breaches,
        median_first_attempt=_quantile(first, 0.5),
        p95_first_attempt=_quantile(first, 0.95),
        median_contact=_quantile(contact, 0.5),
    )


def by_hour(
    calls: Sequence[CallStat], tasks: Sequence[TaskStat], tz: ZoneInfo, now: datetime
) -> dict[int, Figures]:
    hours = sorted(
        {c.started_at.astimezone(tz).hour for c in calls} | {t.starts_at.astimezone(tz).hour for t in tasks}
    )
    return {
        h: figures(
            [c for c in calls if c.started_at.astimezone(tz).hour == h],
            [t for t in tasks if t.starts_at.astimezone(tz).hour == h],
            now,
        )
        for h in hours
    }
