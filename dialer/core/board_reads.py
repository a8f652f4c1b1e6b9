"""What one build of a clinic's live board reads from the database, as one read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from dialer.core.alerts import AlertRow
from dialer.core.records import CallbackTask, DaySummary
from dialer.core.sla import TaskStat
from dialer.core.sla_sums import CallSums, HourStart


@dataclass(frozen=True)
class BoardRows:
    """The clinic's rows behind one board: today's calls added up by hour and its callback tasks, the open
    callbacks, the alerts not cleared, and who sits at each phone."""

    sums: dict[int, CallSums]
    tasks: list[TaskStat]
    open_tasks: list[CallbackTask]
    alerts: list[AlertRow]
    names: dict[str, str]


class BoardReads(Protocol):
    async def board_rows(
        self, clinic_id: str, hours: Sequence[HourStart], end: datetime, target: float
    ) -> BoardRows:
        """Everything in `BoardRows` for the clinic, read together: the calls and tasks of [hours[0].at, end)
        with the target wait."""
        ...

    async def funnel(self, clinic_id: str, visit_day: date) -> DaySummary:
        """The reminder funnel of the clinic's visits of `visit_day`: read on its own, as it is counted apart
        from the board's other rows (dialer/engine/funnel_watch.py)."""
        ...
