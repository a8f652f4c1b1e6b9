"""What the supervisor's report reads for a period of one or more days: the figures of §14 of the checklist,
complaints and the QA average included."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from dialer.core.stores import ReportStore
from dialer.core.supervision import DayMetrics


class PeriodReportStore(ReportStore, Protocol):
    async def period_metrics(
        self,
        clinic_id: str,
        start: datetime,
        end: datetime,
        first_day: date,
        days: int,
        user_id: int | None = None,
    ) -> DayMetrics:
        """Contacts, complaints and scores between start and end; visits from first_day for `days` days."""
        ...
