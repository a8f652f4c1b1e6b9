"""The one planner: given a policy's windows, the history of a target and now, what happens next.

Reminders, recalls, callbacks and follow-ups are configurations of this function, not class hierarchies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum

from dialer.campaigns.plan import Window
from dialer.core.hours import DEFAULT_CALLING_HOURS, CallingHours
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptRecord, Settled

SMS_DAY_STARTS = time(9, 0)
SMS_NIGHT_STARTS = time(21, 0)

# The next call after these results comes sooner or later than the window's min_gap: a busy line is a person on
# the phone now, a congested network clears in a minute, a phone that is off stays off for a while.
RETRY_SOONER = {CallResult.BUSY: timedelta(minutes=5), CallResult.CONGESTION: timedelta(minutes=1)}
RETRY_LATER = {CallResult.UNAVAILABLE: timedelta(hours=1)}
# Calls the network failed (congestion) do not use up the patient's attempts, up to this many.
FREE_CONGESTION_RETRIES = 2


@dataclass(frozen=True)
class Target:
    windows: tuple[Window, ...]
    may_call: bool
    may_sms: bool
    sms_done: bool
    retry_when_no_digit: bool = True
    sms_when_not_reached: bool = True
    zone: tzinfo | None = None  # the clinic's; the night rules for calls and SMS are in its local time
    # No call outside these, whatever the windows say: windows made at run time are not checked at start.
    calling_hours: CallingHours = DEFAULT_CALLING_HOURS


@dataclass(frozen=True)
class Dial:
    at: datetime
    n: int


@dataclass(frozen=True)
class SendSms:
    at: datetime


@dataclass(frozen=True)
class Wait:
    """A call is in flight: decide again when it ends."""


class StopReason(StrEnum):
    SETTLED = "settled"  # the patient answered with a decision
    REACHED = "reached"  # answered without a decision, and the plan does not retry that
    NOT_REACHED = "not_reached"  # every window is spent
    NOT_ALLOWED = "not_allowed"  # do-not-call and no SMS consent
    INVALID_NUMBER = "invalid_number"  # the network says the number does not exist: no point calling again


@dataclass(frozen=True)
class Stop:
    reason: StopReason


Step = Dial | SendSms | Wait | Stop


def next_step(target: Target, history: Sequence[AttemptRecord], now: datetime) -> Step:
    settled = _settled_by_calls(target, history)
    if settled is not None:
        return settled
    if target.may_call:
        dial = _next_dial(target, history, now)
        if dial is not None:
            return dial
    return _after_calls(target, history, now)


def _settled_by_calls(target: Target, history: Sequence[AttemptRecord]) -> Wait | Stop | None:
    """What the calls so far decide before any new call: wait for the one in flight, or stop for good."""
    if any(a.result is None for a in history):
        return Wait()
    if any(a.settled is Settled.FINAL for a in history):
        return Stop(StopReason.SETTLED)
    if history and history[-1].result is CallResult.INVALID_NUMBER:
        return Stop(StopReason.INVALID_NUMBER)
    if _reached(history) and not target.retry_when_no_digit and not _has_confirmation(history):
        return Stop(StopReason.REACHED)
    return None


def _after_calls(target: Target, history: Sequence[AttemptRecord], now: datetime) -> SendSms | Stop:
    """No call left to make: why the calls ended, or the SMS for a patient they never reached."""
    if _has_confirmation(history):
        return Stop(StopReason.SETTLED)
    if _reached(history):
        return Stop(StopReason.REACHED)
    if target.sms_when_not_reached and target.may_sms and not target.sms_done:
        return SendSms(_within_hours(target, now))
    return Stop(StopReason.NOT_REACHED if target.may_call else StopReason.NOT_ALLOWED)


def _reached(history: Sequence[AttemptRecord]) -> bool:
    return any(a.result is CallResult.ANSWERED for a in history)


def _within_hours(target: Target, now: datetime) -> datetime:
    """When a message may go out: not before the first calling window, and never at night (21:00-09:00 in the
    clinic's zone), so a restart late in the evening does not text a patient in their sleep."""
    if not target.windows:
        return now
    first = min(w.start for w in target.windows)
    at = max(now, first)
    local = at.astimezone(target.zone or first.tzinfo)
    if local.time() >= SMS_NIGHT_STARTS:
        local = datetime.combine(local.date() + timedelta(days=1), SMS_DAY_STARTS, local.tzinfo)
    elif local.time() < SMS_DAY_STARTS:
        local = datetime.combine(local.date(), SMS_DAY_STARTS, local.tzinfo)
    return max(at, local)


def _has_confirmation(history: Sequence[AttemptRecord]) -> bool:
    return any(a.settled is Settled.CONFIRMED for a in history)


def _counted(history: Sequence[AttemptRecord]) -> list[AttemptRecord]:
    """The attempts that use up the plan: all but the first few the network itself failed."""
    free = 0
    counted = []
    for attempt in history:
        if attempt.result is CallResult.CONGESTION and free < FREE_CONGESTION_RETRIES:
            free += 1
            continue
        counted.append(attempt)
    return counted


def _gap_after(last: AttemptRecord | None, window: Window) -> timedelta:
    result = last.result if last is not None else None
    if result in RETRY_SOONER:
        return min(window.min_gap, RETRY_SOONER[result])
    if result in RETRY_LATER:
        return max(window.min_gap, RETRY_LATER[result])
    return window.min_gap


def _next_dial(target: Target, history: Sequence[AttemptRecord], now: datetime) -> Dial | None:
    counted = _counted(history)
    if len(counted) >= sum(w.attempts for w in target.windows):
        return None
    # Instants compare in UTC: two of one zone compare by the wall clock, wrong in the hour the clocks go back.
    now = now.astimezone(UTC)
    starts = [a.started_at.astimezone(UTC) for a in counted]
    confirmed_at = max(
        (a.started_at.astimezone(UTC) for a in history if a.settled is Settled.CONFIRMED), default=None
    )
    last = max(history, key=lambda a: a.started_at.astimezone(UTC), default=None)
    for window in target.windows:
        if not _window_open(window, now, starts, confirmed_at):
            continue
        earliest = max(now, window.start.astimezone(UTC))
        if last is not None:
            earliest = max(earliest, last.started_at.astimezone(UTC) + _gap_after(last, window))
        # Not at night: the first moment of the window, from `earliest`, inside the clinic's calling hours.
        at = target.calling_hours.first_allowed(earliest, window.end.astimezone(UTC), _zone(target, window))
        if at is not None:
            return Dial(at, len(history) + 1)
    return None


def _window_open(
    window: Window, now: datetime, starts: Sequence[datetime], confirmed_at: datetime | None
) -> bool:
    """Not over yet, not spent, and (once the patient confirmed) a window that asks again after that."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    if now >= end:
        return False
    if confirmed_at is not None and not (window.reconfirm and start > confirmed_at):
        return False
    return sum(1 for s in starts if start <= s < end) < window.attempts


def _zone(target: Target, window: Window) -> tzinfo:
    return target.zone or window.start.tzinfo or UTC
