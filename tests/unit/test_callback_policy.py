"""The callback deadline, its windows and order, and the planner working a callback with a fake clock.

The planner is driven the way dialer/engine/callbacks.py `_step` drives it: the task's timing comes back from
storage as UTC instants, the windows are built from it, and the Target says may_call, may_sms,
retry_when_no_digit and sms_when_not_reached are all true.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaigns.callbacks import (
    CallbackPolicy,
    Priority,
    Timing,
    patient_leg_result,
    priority_key,
    timing,
    windows,
)
from dialer.campaigns.plan import Window
from dialer.campaigns.planner import Dial, SendSms, Step, Stop, StopReason, Target, Wait, next_step
from dialer.core.clock import FakeClock
from dialer.core.hours import CallingHours, OpeningHours
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptRecord, Settled

MSK = ZoneInfo("Europe/Moscow")
HOURS = OpeningHours.parse(["пн-пт 08:00-20:00", "сб 09:00-15:00"])
POLICY = CallbackPolicy()
MIN = timedelta(minutes=1)


def msk(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment of the week of 2026-11-23 (Monday = 1), in Moscow, given as UTC like the tracker gives it."""
    return datetime(2026, 11, 22 + day, hour, minute, second, tzinfo=MSK).astimezone(UTC)


# timing ------------------------------------------------------------------------------------------------


def test_a_call_missed_while_open_is_due_15_minutes_after_the_miss() -> None:
    missed = msk(2, 10, 0)
    assert timing(missed, POLICY, HOURS, MSK) == Timing(missed, missed + 15 * MIN, after_hours=False)


def test_a_call_missed_after_hours_starts_at_the_next_opening() -> None:
    t = timing(msk(2, 22, 0), POLICY, HOURS, MSK)  # Tuesday night
    assert t.after_hours
    assert t.starts_at == msk(3, 8, 0)
    assert t.deadline == msk(3, 8, 15)


def test_a_call_missed_on_friday_night_starts_on_saturday_and_on_saturday_evening_on_monday() -> None:
    assert timing(msk(5, 20, 0), POLICY, HOURS, MSK).starts_at == msk(6, 9, 0)
    assert timing(msk(6, 16, 0), POLICY, HOURS, MSK).starts_at == msk(8, 8, 0)


def test_a_clinics_own_deadline_overrides_the_policy() -> None:
    missed = msk(2, 10, 0)
    t = timing(missed, POLICY, HOURS, MSK, deadline=timedelta(seconds=40))
    assert t.deadline == missed + timedelta(seconds=40)
    night = timing(msk(2, 23, 0), POLICY, HOURS, MSK, deadline=timedelta(minutes=5))
    assert night.deadline == msk(3, 8, 5)
    assert timing(missed, replace(POLICY, deadline=30 * MIN), HOURS, MSK).deadline == missed + 30 * MIN


def test_a_clinic_without_hours_is_open_all_through_the_calling_hours() -> None:
    missed = msk(7, 10, 0)  # Sunday morning
    assert timing(missed, POLICY, OpeningHours(), MSK) == Timing(missed, missed + 15 * MIN, False)


def test_a_call_missed_at_night_is_called_back_in_the_morning_even_by_a_clinic_without_hours() -> None:
    night = timing(msk(7, 3, 0), POLICY, OpeningHours(), MSK)
    assert night == Timing(msk(7, 8, 0), msk(7, 8, 15), after_hours=True)
    late = timing(msk(7, 3, 0), POLICY, OpeningHours(), MSK, allowed=CallingHours(time(9), time(20)))
    assert late.starts_at == msk(7, 9, 0)


def test_opening_hours_count_only_within_the_calling_hours() -> None:
    late_opener = OpeningHours.parse(["пн-вс 06:00-23:00"])  # refused at start; built here as if at run time
    t = timing(msk(2, 7, 0), POLICY, late_opener, MSK)
    assert t.after_hours and t.starts_at == msk(2, 8, 0)
    assert window_of(timing(msk(2, 20, 0), POLICY, late_opener, MSK), late_opener).end == msk(2, 21, 0)


# windows -----------------------------------------------------------------------------------------------


def window_of(t: Timing, hours: OpeningHours = HOURS, policy: CallbackPolicy = POLICY) -> Window:
    (window,) = windows(t, policy, hours, MSK)
    return window


def test_the_window_is_the_policys_working_time_from_the_start() -> None:
    w = window_of(timing(msk(2, 10, 0), POLICY, HOURS, MSK))
    assert (w.start, w.end, w.attempts, w.min_gap) == (msk(2, 10, 0), msk(2, 14, 0), 2, 3 * MIN)


def test_the_window_is_capped_at_closing_time() -> None:
    assert window_of(timing(msk(2, 17, 0), POLICY, HOURS, MSK)).end == msk(2, 20, 0)
    assert window_of(timing(msk(6, 13, 0), POLICY, HOURS, MSK)).end == msk(6, 15, 0)


def test_the_window_never_ends_before_the_deadline() -> None:
    late = timing(msk(2, 19, 50), POLICY, HOURS, MSK)
    assert window_of(late).end == late.deadline == msk(2, 20, 5)


def test_an_after_hours_window_runs_from_the_opening() -> None:
    w = window_of(timing(msk(2, 22, 0), POLICY, HOURS, MSK))
    assert (w.start, w.end) == (msk(3, 8, 0), msk(3, 12, 0))


def test_without_hours_the_window_is_the_working_time_until_the_calling_hours_end() -> None:
    t = timing(msk(7, 10, 0), POLICY, OpeningHours(), MSK)
    assert window_of(t, OpeningHours()).end == msk(7, 14, 0)
    evening = timing(msk(7, 19, 0), POLICY, OpeningHours(), MSK)
    assert window_of(evening, OpeningHours()).end == msk(7, 21, 0)


def test_the_window_carries_the_policys_attempts_and_gap() -> None:
    policy = replace(POLICY, attempts=3, min_gap=5 * MIN, work_for=timedelta(hours=1))
    w = window_of(timing(msk(2, 10, 0), policy, HOURS, MSK), policy=policy)
    assert (w.attempts, w.min_gap, w.end) == (3, 5 * MIN, msk(2, 11, 0))


# the patient's leg -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "result", "settled"),
    [
        ("ANSWER", CallResult.ANSWERED, Settled.FINAL),
        ("answer", CallResult.ANSWERED, Settled.FINAL),
        ("BUSY", CallResult.BUSY, Settled.OPEN),
        ("NOANSWER", CallResult.NO_ANSWER, Settled.OPEN),
        ("CANCEL", CallResult.NO_ANSWER, Settled.OPEN),
        ("CONGESTION", CallResult.CONGESTION, Settled.OPEN),
        ("CHANUNAVAIL", CallResult.CONGESTION, Settled.OPEN),
        ("UNALLOCATED", CallResult.INVALID_NUMBER, Settled.OPEN),
        ("DONTCALL", CallResult.FAILED, Settled.OPEN),
        ("TORTURE", CallResult.FAILED, Settled.OPEN),
        ("INVALIDARGS", CallResult.FAILED, Settled.OPEN),
        ("", CallResult.FAILED, Settled.OPEN),
        ("что-то", CallResult.FAILED, Settled.OPEN),
    ],
)
def test_patient_leg_result_for_every_dialstatus(status: str, result: CallResult, settled: Settled) -> None:
    assert patient_leg_result(status) == (result, settled)


# priority ----------------------------------------------------------------------------------------------


def key(
    policy: CallbackPolicy, missed: datetime, due: datetime, n: int, now: datetime | None = None
) -> tuple[float, float]:
    """The rank when an administrator frees up at `now` (by default when the attempt fell due)."""
    deadline = missed + 15 * MIN
    return priority_key(policy, missed_at=missed, deadline=deadline, due_at=due, attempt_n=n, now=now or due)


def test_deadline_priority_serves_first_attempts_before_repeats_then_the_nearest_deadline() -> None:
    t = msk(2, 10, 0)
    repeat_urgent = key(POLICY, t - 14 * MIN, t, 2)  # its deadline is a minute away, but it is a repeat
    first_late = key(POLICY, t - 1 * MIN, t, 1)
    first_urgent = key(POLICY, t - 10 * MIN, t + 5 * MIN, 1, now=t)
    order = sorted([repeat_urgent, first_late, first_urgent])
    assert order == [first_urgent, first_late, repeat_urgent]
    repeat_later = key(POLICY, t - 2 * MIN, t, 2)
    assert repeat_urgent < repeat_later


def test_under_overload_a_first_attempt_still_in_time_goes_before_one_already_late() -> None:
    t = msk(2, 10, 0)
    late = key(POLICY, t - 16 * MIN, t, 1)  # its deadline passed a minute ago
    in_time = key(POLICY, t - 12 * MIN, t, 1)  # three minutes left: serving it now keeps it in time
    repeat = key(POLICY, t - 5 * MIN, t, 2)
    assert sorted([repeat, late, in_time]) == [in_time, late, repeat]


def test_fifo_priority_serves_in_due_order() -> None:
    fifo = replace(POLICY, priority=Priority.FIFO)
    t = msk(2, 10, 0)
    a = key(fifo, t - 10 * MIN, t + 2 * MIN, 1)
    b = key(fifo, t - 1 * MIN, t + 1 * MIN, 2)  # due earlier: first, repeat or not
    c = key(fifo, t - 5 * MIN, t + 1 * MIN, 1)  # due at the same time, missed earlier: before b
    assert sorted([a, b, c]) == [c, b, a]


# the planner over a callback's window, with a fake clock -------------------------------------------------


class Callback:
    """The engine's view of one callback task: its stored timing, its attempts, whether its SMS went out."""

    def __init__(
        self, missed: datetime, hours: OpeningHours = HOURS, policy: CallbackPolicy = POLICY
    ) -> None:
        t = timing(missed, policy, hours, MSK)
        # Stored and read back: the instants come back in UTC.
        self.timing = Timing(t.starts_at.astimezone(UTC), t.deadline.astimezone(UTC), t.after_hours)
        self.hours = hours
        self.policy = policy
        self.history: list[AttemptRecord] = []
        self.sms_done = False

    def step(self, now: datetime) -> Step:
        target = Target(
            windows=windows(self.timing, self.policy, self.hours, MSK),
            may_call=True,
            may_sms=True,
            sms_done=self.sms_done,
            retry_when_no_digit=True,
            sms_when_not_reached=True,
            zone=MSK,  # as the engine gives it: the clinic's zone, not the windows' stored UTC
        )
        return next_step(target, self.history, now)

    def dial(self, clock: FakeClock, leg: str, ring: float = 35.0) -> None:
        n = len(self.history) + 1
        started = clock.now()
        self.history.append(AttemptRecord(n, started, None))
        assert isinstance(self.step(clock.now()), Wait)
        clock.advance(ring)
        result, settled = patient_leg_result(leg)
        self.history[-1] = AttemptRecord(n, started, result, settled)


def test_two_unanswered_attempts_then_an_sms_then_stop() -> None:
    missed = msk(2, 10, 0)
    clock = FakeClock(missed)
    cb = Callback(missed)
    first = cb.step(clock.now())
    assert first == Dial(missed, 1)  # at once
    cb.dial(clock, "NOANSWER")
    second = cb.step(clock.now())
    assert isinstance(second, Dial) and second.n == 2
    assert second.at == missed + POLICY.min_gap  # at least the gap after the first started
    assert second.at < cb.timing.deadline
    clock.advance(second.at - clock.now())
    cb.dial(clock, "BUSY")
    sms = cb.step(clock.now())
    assert isinstance(sms, SendSms)
    cb.sms_done = True
    assert cb.step(clock.now()) == Stop(StopReason.NOT_REACHED)


def test_the_not_reached_sms_goes_out_at_once_in_the_clinics_daytime() -> None:
    """Both attempts of a 10:00 Moscow miss have failed by 10:04 Moscow: broad daylight, so the message goes out
    now. The planner keeps messages out of the night (21:00-09:00 in the clinic's zone), and reads the zone off
    the window's start; the engine's windows start at the task's stored UTC instants."""
    missed = msk(2, 10, 0)
    clock = FakeClock(missed)
    cb = Callback(missed)
    cb.dial(clock, "NOANSWER")
    second = cb.step(clock.now())
    assert isinstance(second, Dial)
    clock.advance(second.at - clock.now())
    cb.dial(clock, "NOANSWER")
    sms = cb.step(clock.now())
    assert isinstance(sms, SendSms)
    assert sms.at == clock.now(), f"SMS held until {sms.at.astimezone(MSK):%H:%M} Moscow time"


def test_an_answered_callback_stops_the_plan() -> None:
    missed = msk(2, 10, 0)
    clock = FakeClock(missed)
    cb = Callback(missed)
    cb.dial(clock, "NOANSWER")
    second = cb.step(clock.now())
    assert isinstance(second, Dial)
    clock.advance(second.at - clock.now())
    cb.dial(clock, "ANSWER")
    assert cb.step(clock.now()) == Stop(StopReason.SETTLED)


def test_a_first_attempt_answered_stops_at_once() -> None:
    missed = msk(2, 10, 0)
    clock = FakeClock(missed)
    cb = Callback(missed)
    cb.dial(clock, "ANSWER")
    assert cb.step(clock.now()) == Stop(StopReason.SETTLED)


def test_an_after_hours_miss_is_dialled_at_the_opening() -> None:
    missed = msk(2, 22, 0)
    clock = FakeClock(missed)
    cb = Callback(missed)
    assert cb.step(clock.now()) == Dial(msk(3, 8, 0), 1)
    clock.advance(msk(3, 8, 0) - clock.now())
    assert cb.step(clock.now()) == Dial(msk(3, 8, 0), 1)
    cb.dial(clock, "NOANSWER")
    second = cb.step(clock.now())
    assert isinstance(second, Dial) and second.at == msk(3, 8, 3) and second.at < cb.timing.deadline


def test_a_second_attempt_never_goes_past_the_end_of_the_window() -> None:
    missed = msk(2, 19, 50)  # the window ends at the deadline, 20:05
    clock = FakeClock(missed)
    cb = Callback(missed)
    clock.advance(13 * MIN)  # nobody was free until 20:03
    assert cb.step(clock.now()) == Dial(clock.now(), 1)
    cb.dial(clock, "NOANSWER")
    step = cb.step(clock.now())  # 20:06 would be past the end: no second call, the SMS instead
    assert isinstance(step, SendSms)


def test_a_callback_whose_window_has_passed_goes_to_the_sms() -> None:
    missed = msk(2, 10, 0)
    clock = FakeClock(missed)
    cb = Callback(missed)
    clock.advance(timedelta(hours=5))  # e.g. after a long outage
    assert isinstance(cb.step(clock.now()), SendSms)


@given(
    missed_minute=st.integers(0, 7 * 24 * 60 - 1),
    ring=st.floats(1, 60),
    waits=st.lists(st.floats(0, 600), min_size=2, max_size=2),
    gap=st.integers(0, 10),
    attempts=st.integers(1, 3),
)
@settings(max_examples=200, deadline=None)
def test_the_plan_holds_its_promises(
    missed_minute: int, ring: float, waits: list[float], gap: int, attempts: int
) -> None:
    policy = replace(POLICY, min_gap=timedelta(minutes=gap), attempts=attempts)
    missed = msk(1, 0, 0) + timedelta(minutes=missed_minute)
    clock = FakeClock(missed)
    cb = Callback(missed, policy=policy)
    (window,) = windows(cb.timing, policy, HOURS, MSK)
    assert window.end >= cb.timing.deadline
    dials: list[datetime] = []
    for wait in [*waits, 0.0, 0.0]:
        step = cb.step(clock.now())
        if not isinstance(step, Dial):
            break
        assert step.n == len(dials) + 1
        assert step.at >= clock.now() and step.at >= window.start
        assert step.at < window.end
        if dials:
            assert step.at >= dials[-1] + policy.min_gap
        clock.advance(step.at - clock.now() + timedelta(seconds=wait))  # an administrator frees up later
        if clock.now() >= window.end:
            continue
        dials.append(clock.now())
        cb.dial(clock, "NOANSWER", ring)
    assert len(dials) <= attempts
    step = cb.step(clock.now())
    assert isinstance(step, SendSms)
    assert step.at >= clock.now()
    cb.sms_done = True
    assert cb.step(clock.now()) == Stop(StopReason.NOT_REACHED)
