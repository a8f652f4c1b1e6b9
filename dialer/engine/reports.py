"""The service-level report of one clinic's day: the whole day and each hour, in the clinic's own time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol

from dialer.core.sla import ANSWER_TARGET_SECONDS, CallStat, Figures, TaskStat, by_hour, figures
from dialer.core.sla_sums import PeriodSums, summed_figures
from dialer.core.supervision import SlaDayView
from dialer.settings import ClinicSettings


class SlaRows(Protocol):
    async def rows(
        self, clinic_id: str, start: datetime, end: datetime
    ) -> tuple[list[CallStat], list[TaskStat]]: ...


@dataclass(frozen=True)
class SlaReport:
    clinic: ClinicSettings
    day: date
    whole_day: Figures
    hours: dict[int, Figures]

    def as_dict(self) -> SlaDayView:
        return {
            "clinic": self.clinic.id,
            "date": self.day.isoformat(),
            "timezone": self.clinic.timezone.key,
            "day": self.whole_day.as_dict(),
            "hours": [f.of_hour(h) for h, f in self.hours.items()],
        }


async def sla_report(store: SlaRows, clinic: ClinicSettings, day: date, now: datetime) -> SlaReport:
    start = datetime.combine(day, time(0), clinic.timezone)
    calls, tasks = await store.rows(clinic.id, start, start + timedelta(days=1))
    return SlaReport(clinic, day, figures(calls, tasks, now), by_hour(calls, tasks, clinic.timezone, now))


async def period_service_level(
    store: PeriodSums, clinic_id: str, start: datetime, end: datetime, now: datetime
) -> Figures:
    """The service level of [start, end) as a whole, the calls added up by the database."""
    sums, tasks = await store.period_sums_and_tasks(clinic_id, start, end, ANSWER_TARGET_SECONDS)
    return summed_figures(sums, tasks, now)
