"""Missed-call callbacks: the deadline, the attempt plan, the order in which waiting callbacks are served.

The customer's rule: every missed call is called back within 15 minutes, with at least two attempts and a
message. A call missed after hours is called back from opening time, and told so by SMS at once. Opening hours
count only within the clinic's calling hours: a call missed at night, even to a clinic open round the clock,
is called back in the morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from dialer.campaigns.messages import SmsTemplate
from dialer.campaigns.plan import Window
from dialer.core.hours import DEFAULT_CALLING_HOURS, CallingHours, OpeningHours
from dialer.core.outcomes import UNALLOCATED, CallResult
from dialer.core.records import Settled

DEFAULT_NOT_REACHED_SMS = "{clinic}: не дозвонились до вас после вашего звонка. Перезвоните: {phone}"
DEFAULT_AFTER_HOURS_SMS = "{clinic}: вы звонили в нерабочее время. Перезвоним {date} после {time}"


class Priority(StrEnum):
    DEADLINE = "deadline"  # first attempts before repeats, each by its deadline
    FIFO = "fifo"  # in the order the calls were missed, as people do it by hand


@dataclass(frozen=True)
class CallbackPolicy:
    deadline: timedelta = timedelta(minutes=15)
    attempts: int = 2
    min_gap: timedelta = timedelta(minutes=3)
    # How long a callback is still worked after its start, at most until closing time.
    work_for: timedelta = timedelta(hours=4)
    priority: Priority = Priority.DEADLINE
    ring_timeout: timedelta = timedelta(seconds=30)  # the patient's phone
    admin_ring: timedelta = timedelta(seconds=20)  # the administrator's phone, before the patient's
    # From this long before its deadline a first callback goes ahead of the queue's callers (0: never). With the
    # 15-minute deadline: once it has waited 2 minutes. At a peak hour first callbacks wait at most 4-5 minutes
    # behind the queue, so a margin of 10 minutes or less would never act there.
    priority_margin: timedelta = timedelta(minutes=13)
    not_reached_sms: SmsTemplate = SmsTemplate(DEFAULT_NOT_REACHED_SMS)
    after_hours_sms: SmsTemplate = SmsTemplate(DEFAULT_AFTER_HOURS_SMS)


@dataclass(frozen=True)
class Timing:
    starts_at: datetime  # when calling back may begin: the miss, or the next opening
    deadline: datetime
    after_hours: bool


def timing(
    missed_at: datetime,
    policy: CallbackPolicy,
    hours: OpeningHours,
    tz: ZoneInfo,
    deadline: timedelta | None = None,
    allowed: CallingHours = DEFAULT_CALLING_HOURS,
) -> Timing:
    """The deadline starts at the miss, or at opening time for a call missed after hours (or at night)."""
    span = deadline or policy.deadline
    open_hours = hours.within(allowed)
    if open_hours.is_open(missed_at, tz):
        return Timing(missed_at, missed_at + span, after_hours=False)
    opens = open_hours.next_opening(missed_at, tz)
    return Timing(opens, opens + span, after_hours=True)


def windows(
    t: Timing,
    policy: CallbackPolicy,
    hours: OpeningHours,
    tz: ZoneInfo,
    allowed: CallingHours = DEFAULT_CALLING_HOURS,
) -> tuple[Window, ...]:
    end = t.starts_at + policy.work_for
    closing = hours.within(allowed).closing(t.starts_at, tz)
    if closing is not None:
        end = min(end, closing)
    end = max(end, t.deadline)  # a deadline just before closing is still honoured
    return (Window(t.starts_at, end, policy.attempts, policy.min_gap),)


def patient_leg_result(dial_status: str) -> tuple[CallResult, Settled]:
    """What the patient's leg of a callback did (Asterisk's DIALSTATUS). An answer is contact: the task ends."""
    status = dial_status.upper()
    if status == "ANSWER":
        return CallResult.ANSWERED, Settled.FINAL
    if status == "BUSY":
        return CallResult.BUSY, Settled.OPEN
    if status in ("CONGESTION", "CHANUNAVAIL"):
        return CallResult.CONGESTION, Settled.OPEN
    if status in ("NOANSWER", "CANCEL"):
        return CallResult.NO_ANSWER, Settled.OPEN
    if status == UNALLOCATED:
        return CallResult.INVALID_NUMBER, Settled.OPEN
    return CallResult.FAILED, Settled.OPEN


def priority_key(
    policy: CallbackPolicy,
    *,
    missed_at: datetime,
    deadline: datetime,
    due_at: datetime,
    attempt_n: int,
    now: datetime,
) -> tuple[float, float]:
    """Smaller is served first when an administrator frees up; asked again at every hand-out."""
    if policy.priority is Priority.FIFO:
        return (due_at.timestamp(), missed_at.timestamp())
    # First attempts before any repeat, the nearest deadline first; but a first attempt that can still make its
    # deadline goes before one already late: when the line is overloaded, serving the lost cause first only
    # makes the next one late too.
    if attempt_n > 1:
        return (2.0, deadline.timestamp())
    return (float(now >= deadline), deadline.timestamp())
