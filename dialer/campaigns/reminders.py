"""The reminder campaign: the day-before calls of the customer's plan, and what each IVR answer means."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from dialer.campaigns.plan import AttemptPlan, Window, reminder_call_day, resolve_day_windows
from dialer.campaigns.planner import StopReason
from dialer.core.calendar import WorkCalendar
from dialer.core.outcomes import CallResult
from dialer.core.records import ReminderStatus, Settled


class Digit(StrEnum):
    CONFIRM = "1"
    CANCEL = "2"
    ADMIN = "3"


@dataclass(frozen=True)
class DigitMeaning:
    status: ReminderStatus
    settled: Settled


def digit_meaning(digit: str | None) -> DigitMeaning | None:
    """What a pressed key means; None for no key or a key outside the menu."""
    if digit == Digit.CONFIRM:
        return DigitMeaning(ReminderStatus.CONFIRMED, Settled.CONFIRMED)
    if digit == Digit.CANCEL:
        return DigitMeaning(ReminderStatus.CANCELLED, Settled.FINAL)
    if digit == Digit.ADMIN:
        return DigitMeaning(ReminderStatus.TO_ADMIN, Settled.FINAL)
    return None


def status_after_stop(
    reason: StopReason, last_result: CallResult | None, settled_digit: str | None
) -> ReminderStatus:
    """The appointment's status once the plan stops. A settled plan takes it from the deciding digit, so
    the status is right even when the digit's own status write was lost in a crash."""
    if reason is StopReason.SETTLED:
        meaning = digit_meaning(settled_digit)
        return meaning.status if meaning is not None else ReminderStatus.REACHED
    if reason is StopReason.REACHED:
        return ReminderStatus.REACHED
    if reason is StopReason.NOT_ALLOWED:
        return ReminderStatus.DO_NOT_CALL
    if reason is StopReason.INVALID_NUMBER or last_result is CallResult.INVALID_NUMBER:
        return ReminderStatus.INVALID_NUMBER
    return ReminderStatus.NOT_REACHED


def reminder_windows(
    plan: AttemptPlan,
    same_day: AttemptPlan | None,
    visit_at: datetime,
    tz: ZoneInfo,
    calendar: WorkCalendar,
    high_value: bool,
) -> tuple[Window, ...]:
    """The concrete windows for one appointment: the day before (moved past days off), and for a
    high-value visit one more confirmation call on the morning of the visit, ending before it starts."""
    visit_day: date = visit_at.astimezone(tz).date()
    windows: list[Window] = []
    call_day = reminder_call_day(visit_day, calendar)
    if call_day is not None:
        windows.extend(resolve_day_windows(plan.windows, call_day, tz))
    if high_value and same_day is not None:
        for window in resolve_day_windows(same_day.windows, visit_day, tz):
            end = min(window.end, visit_at)
            if end > window.start:
                windows.append(Window(window.start, end, window.attempts, window.min_gap, reconfirm=True))
    return tuple(windows)


def clinic_prompt(clinic_name: str) -> str:
    """The sound file that says the clinic's name, as `dialer prompts build` names it (a machine hears it)."""
    digest = hashlib.sha1(clinic_name.strip().lower().encode("utf-8")).hexdigest()[:12]
    return f"dialer/clinic-{digest}"


def doctor_prompt(doctor: str) -> str:
    """The sound file (without extension) that says "к врачу <name>", as `dialer prompts build` names it."""
    digest = hashlib.sha1(doctor.strip().lower().encode("utf-8")).hexdigest()[:12]
    return f"dialer/doctor-{digest}"
