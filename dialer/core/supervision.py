"""What the supervisor's day report and drill-down lists read from storage: a clinic's day in figures, its
missed calls with their callbacks, and the visits whose reminder never reached the patient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from dialer.core.sla import FiguresView, HourFiguresView


@dataclass(frozen=True)
class DayMetrics:
    """A clinic's day (or one operator's) from the contacts journal, the reminder calls and the visits."""

    contacts: int
    bookings: int
    conversion_pct: float
    confirmations: int
    visits_known: int
    no_show: int
    no_show_pct: float | None
    aht_seconds: float | None
    acw_seconds: float | None
    machines: int = 0  # the service's calls answered by a voicemail or a voice assistant (автоответчик)
    complaints_a: int = 0
    complaints_b: int = 0
    complaints_c: int = 0
    qa_average: float | None = None  # the mean scorecard total of the calls scored in the period
    qa_scored: int = 0


@dataclass(frozen=True)
class CallbackAttempt:
    """One call of a missed call's callback, in order."""

    target_id: int
    n: int
    created_at: datetime
    result: str | None
    leg_status: str | None


@dataclass(frozen=True)
class MissedCall:
    """A missed inbound call and its callback task, if it got one."""

    call_id: str
    started_at: datetime
    caller: str
    hidden: bool
    miss_reason: str
    waited: float
    queue: str
    task_id: int | None
    state: str | None
    close_reason: str | None
    deadline_at: datetime | None
    first_attempt_at: datetime | None
    contacted_at: datetime | None
    target_id: int | None
    attempts: tuple[CallbackAttempt, ...] = ()


@dataclass(frozen=True)
class UnreachedVisit:
    """A visit whose reminder ended without the patient's decision: an administrator calls by hand."""

    appointment_id: str
    visit_at: datetime
    doctor: str
    reminder_status: str
    attempts: int
    machines: int = 0  # of those calls, answered by a voicemail or a voice assistant


class SlaDayView(TypedDict):
    """A clinic's service level for a day, as GET /api/sla answers it. The figures are
    dialer.core.sla.Figures as a dict (its fields by name), the day's and each hour's."""

    clinic: str
    date: str
    timezone: str
    day: FiguresView
    hours: list[HourFiguresView]
