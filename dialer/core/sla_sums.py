"""Service-level figures from per-hour sums of the day's calls: the database adds the calls up, so that a busy
clinic's day is not read row by row every time the board is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from dialer.core.sla import Figures, TaskStat, _pct, figures

QUARTER = timedelta(minutes=15)


@dataclass(frozen=True)
class CallSums:
    """One local hour's inbound calls, added up."""

    calls: int = 0
    answered: int = 0
    in_target: int = 0  # answered within the target wait
    waited: float = 0.0  # seconds, the sum over every call
    hidden: int = 0

    def __add__(self, other: CallSums) -> CallSums:
        return CallSums(
            self.calls + other.calls,
            self.answered + other.answered,
            self.in_target + other.in_target,
            self.waited + other.waited,
            self.hidden + other.hidden,
        )


@dataclass(frozen=True)
class HourStart:
    """The instant a local hour of the clinic's day begins, and that hour on the clinic's clock."""

    at: datetime
    hour: int


def hour_starts(day: date, tz: ZoneInfo) -> list[HourStart]:
    """Where each local hour of `day` begins, in order: on the half hour in zones half an hour off UTC; 23 hours
    on a day the clocks go forward, and the repeated hour counted as one on a day they go back."""
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    starts: list[HourStart] = []
    at = start
    while at < end:  # every zone's offset is a whole number of quarter hours
        hour = at.astimezone(tz).hour
        if not starts or starts[-1].hour != hour:
            starts.append(HourStart(at, hour))
        at += QUARTER
    return starts


class PeriodSums(Protocol):
    """A store that adds up a clinic's calls of a whole period itself (SQL), and gives the callback tasks."""

    async def period_sums_and_tasks(
        self, clinic_id: str, start: datetime, end: datetime, target: float
    ) -> tuple[CallSums, list[TaskStat]]:
        """Sums of the clinic's calls started in [start, end), and the callback tasks that start in it."""
        ...


def summed_figures(calls: CallSums, tasks: Sequence[TaskStat], now: datetime) -> Figures:
    """The same figures `figures` gives for the rows these sums were made of."""
    tasks_only = figures([], tasks, now)
    return Figures(
        calls=calls.calls,
        answered=calls.answered,
        missed=calls.calls - calls.answered,
        missed_pct=_pct(calls.calls - calls.answered, calls.calls),
        answered_in_target_pct=_pct(calls.in_target, calls.calls),
        avg_wait=round(calls.waited / calls.calls, 1) if calls.calls else 0.0,
        hidden=calls.hidden,
        callbacks=tasks_only.callbacks,
        first_attempt_in_deadline_pct=tasks_only.first_attempt_in_deadline_pct,
        contacted_in_deadline_pct=tasks_only.contacted_in_deadline_pct,
        breaches=tasks_only.breaches,
        median_first_attempt=tasks_only.median_first_attempt,
        p95_first_attempt=tasks_only.p95_first_attempt,
        median_contact=tasks_only.median_contact,
    )


def summed_day(
    sums: dict[int, CallSums], tasks: Sequence[TaskStat], tz: ZoneInfo, now: datetime
) -> tuple[Figures, dict[int, Figures]]:
    """The whole day and each hour that had a call or a callback, as `figures` and `by_hour` give them."""
    whole = sum(sums.values(), CallSums())
    by_task_hour: dict[int, list[TaskStat]] = {}
    for t in tasks:
        by_task_hour.setdefault(t.starts_at.astimezone(tz).hour, []).append(t)
    hours = sorted(set(sums) | set(by_task_hour))
    return summed_figures(whole, tasks, now), {
        h: summed_figures(sums.get(h, CallSums()), by_task_hour.get(h, []), now) for h in hours
    }
