"""The one planner with the customer's reminder plan, the reminder call day, and the property that no
call is ever planned outside a calling window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from dialer.campaigns.plan import (
    AttemptPlan,
    Window,
    WindowRule,
    reminder_call_day,
    resolve_day_windows,
    window_rule,
)
from dialer.campaigns.planner import (
    FREE_CONGESTION_RETRIES,
    Dial,
    SendSms,
    Step,
    Stop,
    StopReason,
    Target,
    Wait,
    next_step,
)
from dialer.campaigns.reminders import reminder_windows
from dialer.core.calendar import RUSSIAN_ZONES, WorkCalendar
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptRecord, Settled

MSK = ZoneInfo("Europe/Moscow")
CALL_DAY = date(2026, 11, 25)  # a Wednesday, not a holiday
PLAN = AttemptPlan(
    windows=(
        window_rule({"start": "11:00", "end": "16:00", "attempts": 2, "min_gap": "2h"}, "test"),
        window_rule({"start": "18:00", "end": "20:00", "attempts": 1}, "test"),
    )
)
SAME_DAY = AttemptPlan(windows=(window_rule({"start": "09:00", "end": "11:00", "attempts": 1}, "test"),))


def at(hh: int, mm: int = 0, day: date = CALL_DAY, tz: ZoneInfo = MSK) -> datetime:
    return datetime.combine(day, time(hh, mm), tz)


def target(
    windows: tuple[Window, ...] | None = None,
    *,
    may_call: bool = True,
    may_sms: bool = True,
    sms_done: bool = False,
) -> Target:
    return Target(
        windows=windows if windows is not None else tuple(resolve_day_windows(PLAN.windows, CALL_DAY, MSK)),
        may_call=may_call,
        may_sms=may_sms,
        sms_done=sms_done,
    )


def done(n: int, started: datetime, result: CallResult, settled: Settled = Settled.OPEN) -> AttemptRecord:
    return AttemptRecord(n=n, started_at=started, result=result, settled=settled)


# The customer's plan: 11:00-16:00 x2 at least 2 h apart, 18:00-20:00 x1, then SMS -------------------------


def test_fresh_target_before_the_first_window_dials_at_its_start() -> None:
    assert next_step(target(), [], at(9)) == Dial(at(11), 1)


def test_fresh_target_inside_the_first_window_dials_now() -> None:
    assert next_step(target(), [], at(12)) == Dial(at(12), 1)


def test_the_whole_plan_when_nobody_answers() -> None:
    t = target()
    history: list[AttemptRecord] = []
    now = at(9)
    planned = []
    for _ in range(10):
        step = next_step(t, history, now)
        if not isinstance(step, Dial):
            break
        planned.append(step.at)
        assert step.n == len(history) + 1
        history.append(done(step.n, step.at, CallResult.NO_ANSWER))
        now = step.at + timedelta(seconds=40)
    assert planned == [at(11), at(13), at(18)]
    assert step == SendSms(at(18) + timedelta(seconds=40))


def test_second_attempt_keeps_the_two_hour_gap() -> None:
    history = [done(1, at(12, 10), CallResult.NO_ANSWER)]
    assert next_step(target(), history, at(12, 11)) == Dial(at(14, 10), 2)


# What the network said decides when to call again ----------------------------------------------------------


def test_a_busy_line_is_called_again_soon() -> None:
    history = [done(1, at(12, 10), CallResult.BUSY)]
    assert next_step(target(), history, at(12, 11)) == Dial(at(12, 15), 2)


def test_a_switched_off_phone_is_called_again_later_than_the_gap() -> None:
    history = [done(1, at(12, 10), CallResult.UNAVAILABLE)]
    assert next_step(target(), history, at(12, 11)) == Dial(at(14, 10), 2)
    windows = (Window(at(11), at(16), 3, timedelta(minutes=10)),)
    assert next_step(target(windows), history, at(12, 11)) == Dial(at(13, 10), 2)


def test_a_switched_off_phone_after_the_last_call_gets_the_sms() -> None:
    history = [
        done(1, at(11), CallResult.UNAVAILABLE),
        done(2, at(13), CallResult.UNAVAILABLE),
        done(3, at(18), CallResult.UNAVAILABLE),
    ]
    assert next_step(target(), history, at(18, 1)) == SendSms(at(18, 1))


def test_an_unallocated_number_is_never_called_again_nor_texted() -> None:
    history = [done(1, at(11), CallResult.INVALID_NUMBER)]
    assert next_step(target(), history, at(11, 1)) == Stop(StopReason.INVALID_NUMBER)


def test_congestion_is_retried_soon_and_does_not_use_up_the_patients_calls() -> None:
    t = target()
    history = [done(1, at(11), CallResult.CONGESTION)]
    assert next_step(t, history, at(11, 0)) == Dial(at(11, 1), 2)
    history += [done(2, at(11, 1), CallResult.CONGESTION), done(3, at(11, 2), CallResult.NO_ANSWER)]
    # Two failures of the network cost nothing: the patient still has the second call of the window.
    assert next_step(t, history, at(11, 3)) == Dial(at(13, 2), 4)


def test_congestion_beyond_the_free_retries_counts() -> None:
    t = target()
    history = [done(n, at(11, n - 1), CallResult.CONGESTION) for n in (1, 2, 3, 4)]
    # The first two were free; the third and fourth spent the window's two calls.
    assert next_step(t, history, at(11, 5)) == Dial(at(18), 5)


def test_at_15_30_the_second_attempt_no_longer_fits_and_goes_to_the_evening() -> None:
    t = target()
    assert next_step(t, [], at(15, 30)) == Dial(at(15, 30), 1)
    history = [done(1, at(15, 30), CallResult.NO_ANSWER)]
    assert next_step(t, history, at(15, 31)) == Dial(at(18), 2)
    history.append(done(2, at(18), CallResult.BUSY))
    assert next_step(t, history, at(18, 1)) == SendSms(at(18, 1))


def test_a_window_ends_before_its_end_instant() -> None:
    assert next_step(target(), [], at(16)) == Dial(at(18), 1)
    last_second = at(16) - timedelta(seconds=1)
    assert next_step(target(), [], last_second) == Dial(last_second, 1)
    # A gap that lands exactly on the end does not fit either.
    history = [done(1, at(14), CallResult.NO_ANSWER)]
    assert next_step(target(), history, at(14, 1)) == Dial(at(18), 2)


def test_at_21_00_a_fresh_target_gets_an_sms_or_stops() -> None:
    # At 21:00 a message would wake people: it waits for 09:00 the next morning.
    assert next_step(target(), [], at(21)) == SendSms(at(9) + timedelta(days=1))
    assert next_step(target(may_sms=False), [], at(21)) == Stop(StopReason.NOT_REACHED)
    assert next_step(target(sms_done=True), [], at(21)) == Stop(StopReason.NOT_REACHED)
    no_sms = replace(target(), sms_when_not_reached=False)
    assert next_step(no_sms, [], at(21)) == Stop(StopReason.NOT_REACHED)


def test_a_call_in_flight_means_wait() -> None:
    history = [AttemptRecord(1, at(11), None)]
    assert next_step(target(), history, at(11, 1)) == Wait()
    assert next_step(target(may_call=False), history, at(23)) == Wait()


def test_a_final_digit_settles_the_target() -> None:
    history = [done(1, at(11), CallResult.ANSWERED, Settled.FINAL)]
    assert next_step(target(), history, at(11, 2)) == Stop(StopReason.SETTLED)


def test_a_confirmation_ends_the_day_before_calls() -> None:
    history = [done(1, at(11), CallResult.ANSWERED, Settled.CONFIRMED)]
    assert next_step(target(), history, at(11, 2)) == Stop(StopReason.SETTLED)


def test_a_confirmed_patient_is_still_called_in_a_reconfirm_window() -> None:
    visit = at(10, 30, day=CALL_DAY + timedelta(days=1))
    windows = reminder_windows(PLAN, SAME_DAY, visit, MSK, WorkCalendar(), high_value=True)
    history = [done(1, at(11), CallResult.ANSWERED, Settled.CONFIRMED)]
    step = next_step(target(windows), history, at(11, 2))
    assert step == Dial(at(9, day=CALL_DAY + timedelta(days=1)), 2)
    # Confirmed again on the morning: done.
    history.append(done(2, at(9, day=CALL_DAY + timedelta(days=1)), CallResult.ANSWERED, Settled.CONFIRMED))
    assert next_step(target(windows), history, at(9, 1, day=CALL_DAY + timedelta(days=1))) == Stop(
        StopReason.SETTLED
    )


def test_an_invalid_number_stops_at_once() -> None:
    history = [done(1, at(11), CallResult.INVALID_NUMBER)]
    assert next_step(target(), history, at(11, 1)) == Stop(StopReason.INVALID_NUMBER)


def test_do_not_call_gets_the_sms_at_the_first_window_start_not_at_night() -> None:
    assert next_step(target(may_call=False), [], at(3)) == SendSms(at(11))
    yesterday_night = at(23, 30, day=CALL_DAY - timedelta(days=1))
    assert next_step(target(may_call=False), [], yesterday_night) == SendSms(at(11))
    assert next_step(target(may_call=False, may_sms=False), [], at(3)) == Stop(StopReason.NOT_ALLOWED)
    assert next_step(target(may_call=False, sms_done=True), [], at(12)) == Stop(StopReason.NOT_ALLOWED)


def test_answered_without_a_digit_stops_when_the_plan_does_not_retry_that() -> None:
    history = [done(1, at(11), CallResult.ANSWERED)]
    t = replace(target(), retry_when_no_digit=False)
    assert next_step(t, history, at(11, 2)) == Stop(StopReason.REACHED)


def test_answered_without_a_digit_retries_then_stops_as_reached_without_sms() -> None:
    history = [done(1, at(11), CallResult.ANSWERED)]
    assert next_step(target(), history, at(11, 2)) == Dial(at(13), 2)
    history += [done(2, at(13), CallResult.NO_ANSWER), done(3, at(18), CallResult.NO_ANSWER)]
    assert next_step(target(), history, at(18, 2)) == Stop(StopReason.REACHED)


def test_no_windows_at_all() -> None:
    assert next_step(target(windows=()), [], at(12)) == SendSms(at(12))
    assert next_step(replace(target(windows=()), may_sms=False), [], at(12)) == Stop(StopReason.NOT_REACHED)


# The reminder call day and its windows ----------------------------------------------------------------


def test_the_call_day_is_the_day_before() -> None:
    assert reminder_call_day(date(2026, 11, 26), WorkCalendar()) == date(2026, 11, 25)
    assert reminder_call_day(date(2026, 11, 26), WorkCalendar(), days_before=2) == date(2026, 11, 24)


def test_the_call_day_moves_back_past_the_new_year_holidays() -> None:
    # 2027-01-01..08 are days off, and 2026-12-31 was made one too (moved from 2026-01-04).
    cal = WorkCalendar()
    assert reminder_call_day(date(2027, 1, 9), cal) == date(2026, 12, 30)
    assert reminder_call_day(date(2027, 1, 2), cal) == date(2026, 12, 30)
    assert reminder_call_day(date(2027, 1, 10), cal) == date(2027, 1, 9)  # Saturday, open by default


def test_the_call_day_moves_back_past_closed_weekdays_and_holidays() -> None:
    five_day = WorkCalendar(closed_weekdays=frozenset({6, 7}))
    assert reminder_call_day(date(2027, 1, 11), five_day) == date(2026, 12, 30)  # Monday after the holidays
    assert reminder_call_day(date(2027, 1, 12), five_day) == date(2027, 1, 11)
    assert reminder_call_day(date(2026, 11, 30), five_day) == date(2026, 11, 27)  # Monday -> Friday
    sundays_off = WorkCalendar(closed_weekdays=frozenset({7}))
    assert reminder_call_day(date(2026, 11, 30), sundays_off) == date(2026, 11, 28)


def test_the_call_day_ignores_holidays_when_the_clinic_works_them() -> None:
    cal = WorkCalendar(skip_holidays=False)
    assert reminder_call_day(date(2027, 1, 5), cal) == date(2027, 1, 4)


def test_the_call_day_respects_extra_days_off_and_gives_up_after_two_weeks() -> None:
    cal = WorkCalendar(extra_days_off=frozenset({date(2026, 11, 25)}))
    assert reminder_call_day(date(2026, 11, 26), cal) == date(2026, 11, 24)
    never = WorkCalendar(closed_weekdays=frozenset(range(1, 8)))
    assert reminder_call_day(date(2026, 11, 26), never) is None


def test_reminder_windows_for_an_ordinary_visit() -> None:
    visit = at(10, 30, day=date(2026, 11, 26)).astimezone(UTC)
    windows = reminder_windows(PLAN, SAME_DAY, visit, MSK, WorkCalendar(), high_value=False)
    assert [(w.start, w.end, w.attempts, w.reconfirm) for w in windows] == [
        (at(11), at(16), 2, False),
        (at(18), at(20), 1, False),
    ]
    assert windows[0].min_gap == timedelta(hours=2)


def test_reminder_windows_add_the_same_day_window_for_a_high_value_visit_cut_at_the_visit() -> None:
    visit_day = date(2026, 11, 26)
    visit = at(10, 0, day=visit_day).astimezone(UTC)
    windows = reminder_windows(PLAN, SAME_DAY, visit, MSK, WorkCalendar(), high_value=True)
    assert len(windows) == 3
    morning = windows[2]
    assert (morning.start, morning.end, morning.reconfirm) == (at(9, day=visit_day), visit, True)
    # A visit before the morning window opens leaves no same-day call; no same-day plan, none either.
    early = at(8, 30, day=visit_day)
    assert len(reminder_windows(PLAN, SAME_DAY, early, MSK, WorkCalendar(), high_value=True)) == 2
    assert len(reminder_windows(PLAN, None, visit, MSK, WorkCalendar(), high_value=True)) == 2
    # A visit after the window: the window is whole.
    late = at(15, 0, day=visit_day)
    assert reminder_windows(PLAN, SAME_DAY, late, MSK, WorkCalendar(), high_value=True)[2].end == at(
        11, day=visit_day
    )


def test_reminder_windows_use_the_clinics_local_day() -> None:
    vladivostok = ZoneInfo("Asia/Vladivostok")
    visit = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # 08:30 on the 26th in Vladivostok
    windows = reminder_windows(PLAN, SAME_DAY, visit, vladivostok, WorkCalendar(), high_value=False)
    assert windows[0].start == at(11, tz=vladivostok)
    assert windows[0].start == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


# THE property: never a call outside a window, never a call to a do-not-call patient -------------------------


@st.composite
def rules(draw: st.DrawFn, count: int) -> tuple[WindowRule, ...]:
    out = []
    # Whole hours and round lengths more often than not, so that a gap can land exactly on a window's end.
    hours = st.sampled_from([60, 120, 180])
    for i in range(count):
        start = draw(st.one_of(st.integers(0, 23).map(lambda h: h * 60), st.integers(0, 24 * 60 - 1)))
        length = draw(st.one_of(hours, st.integers(min_value=1, max_value=24 * 60)))
        end = min(start + length, 24 * 60)
        gap = draw(st.one_of(st.just(0), hours, st.integers(min_value=0, max_value=180)))
        raw = {
            "start": f"{start // 60:02d}:{start % 60:02d}",
            "end": f"{end // 60:02d}:{end % 60:02d}",
            "min_gap": f"{gap}m",
            "attempts": draw(st.sampled_from([1, 2, 3, 0])),
        }
        out.append(window_rule(raw, f"windows[{i}]"))
    return tuple(out)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    tz = ZoneInfo(draw(st.sampled_from(RUSSIAN_ZONES)))
    any_instant = st.datetimes(min_value=datetime(2009, 1, 1), max_value=datetime(2029, 12, 31))
    just_before_midnight = st.dates(min_value=date(2009, 1, 1), max_value=date(2029, 12, 31)).map(
        lambda d: datetime.combine(d, time(23, 59))
    )
    local_now = draw(st.one_of(any_instant, any_instant, any_instant, just_before_midnight))
    now = local_now.replace(tzinfo=tz)
    plan = AttemptPlan(
        windows=draw(rules(draw(st.integers(min_value=1, max_value=3)))),
        retry_when_no_digit=draw(st.booleans()),
        sms_when_not_reached=draw(st.booleans()),
    )
    same_day = draw(st.one_of(st.none(), rules(1).map(lambda w: AttemptPlan(windows=w))))
    visit_local = datetime.combine(
        # Mostly the visit is tomorrow or the day after, so today's or tomorrow's windows are live.
        local_now.date() + timedelta(days=draw(st.sampled_from([2, 1, 2, 1, 2, 0, -1, 3]))),
        time(draw(st.integers(min_value=0, max_value=23)), draw(st.sampled_from([0, 15, 30, 45]))),
    )
    closed = draw(st.sampled_from([(), (), (7,), (6, 7), (1, 2, 3, 4, 5, 6, 7)]))
    calendar = WorkCalendar(closed_weekdays=frozenset(closed), skip_holidays=draw(st.booleans()))
    return {
        "tz": tz,
        "now": now,
        "plan": plan,
        "same_day": same_day,
        "visit_at": visit_local.replace(tzinfo=tz),
        "calendar": calendar,
        "high_value": draw(st.booleans()),
        "may_call": draw(st.sampled_from([True, True, True, False])),
        "may_sms": draw(st.booleans()),
    }


# Mostly calls that leave the plan going, so that the later windows get used too.
OUTCOMES = st.sampled_from(
    [CallResult.NO_ANSWER, CallResult.BUSY, CallResult.NO_ANSWER, CallResult.BUSY, *CallResult]
)


def _in_some_span(local: time, rule_set: tuple[WindowRule, ...]) -> bool:
    return any(r.span.start <= local < r.span.end for r in rule_set)


@given(case=scenarios(), data=st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_dial_is_ever_planned_outside_a_window_or_to_a_do_not_call_patient(
    case: dict[str, object], data: st.DataObject
) -> None:
    tz = case["tz"]
    plan = case["plan"]
    same_day = case["same_day"]
    now = case["now"]
    assert isinstance(tz, ZoneInfo) and isinstance(plan, AttemptPlan) and isinstance(now, datetime)
    assert same_day is None or isinstance(same_day, AttemptPlan)
    visit_at = case["visit_at"]
    calendar = case["calendar"]
    assert isinstance(visit_at, datetime) and isinstance(calendar, WorkCalendar)
    windows = reminder_windows(plan, same_day, visit_at, tz, calendar, bool(case["high_value"]))
    assume(all(w.start.tzinfo is not None for w in windows))
    t = Target(
        windows=windows,
        may_call=bool(case["may_call"]),
        may_sms=bool(case["may_sms"]),
        sms_done=False,
        retry_when_no_digit=plan.retry_when_no_digit,
        sms_when_not_reached=plan.sms_when_not_reached,
    )
    all_rules = plan.windows + (same_day.windows if same_day is not None and case["high_value"] else ())
    total = plan.max_attempts + (same_day.max_attempts if same_day is not None and case["high_value"] else 0)
    first_start = min((w.start for w in windows), default=None)
    snap: bool = data.draw(st.booleans(), label="snap now to a window edge")
    if windows and snap:
        edge = data.draw(st.sampled_from([w.start for w in windows] + [w.end for w in windows]), label="edge")
        now = edge + timedelta(seconds=data.draw(st.sampled_from([0, 0, -1, 1]), label="off"))

    history: list[AttemptRecord] = []
    step: Step = Wait()
    for _ in range(total + FREE_CONGESTION_RETRIES + 3):
        step = next_step(t, history, now)
        assert not isinstance(step, Wait)
        if not isinstance(step, Dial):
            break
        assert t.may_call, "a Dial for a do-not-call patient"
        assert step.at.tzinfo is not None
        assert step.at >= now
        assert any(w.start <= step.at < w.end for w in windows), (step, windows)
        local = step.at.astimezone(tz)
        assert _in_some_span(local.time(), all_rules), (local, all_rules)
        assert step.n == len(history) + 1
        assert step.n - _free_congestions(history) <= total
        # The call goes out at the planned time or a little later; it is in flight, then ends.
        delay = data.draw(st.one_of(st.just(0), st.integers(min_value=0, max_value=900)), label="delay")
        now = step.at + timedelta(seconds=delay)
        in_flight = [*history, AttemptRecord(step.n, now, None)]
        assert next_step(t, in_flight, now + timedelta(seconds=5)) == Wait()
        result = data.draw(OUTCOMES, label="result")
        settled = (
            data.draw(st.sampled_from(list(Settled)), label="settled")
            if result is CallResult.ANSWERED
            else Settled.OPEN
        )
        history.append(AttemptRecord(step.n, now, result, settled))
        now += timedelta(seconds=data.draw(st.integers(min_value=1, max_value=600), label="duration"))
    else:
        raise AssertionError(f"the plan never stopped: {step}")

    assert len(history) - _free_congestions(history) <= total
    event(f"dials={len(history)}, then {type(step).__name__}")
    if isinstance(step, SendSms):
        assert t.may_sms and t.sms_when_not_reached
        assert step.at >= now
        if first_start is not None:
            assert step.at >= first_start
        # Once the message is out, the plan is over.
        after = next_step(replace(t, sms_done=True), history, step.at)
        assert isinstance(after, Stop), after
    else:
        assert isinstance(step, Stop)


def _free_congestions(history: list[AttemptRecord]) -> int:
    """The network's first congestions are free: they never use up the clinic's plan."""
    return min(FREE_CONGESTION_RETRIES, sum(a.result is CallResult.CONGESTION for a in history))


def test_an_sms_due_at_night_waits_for_the_morning() -> None:
    from dialer.campaigns.plan import Window
    from dialer.campaigns.planner import SendSms, Target, next_step

    tz = ZoneInfo("Asia/Omsk")
    day = datetime(2026, 11, 25, tzinfo=tz)
    window = Window(day.replace(hour=11), day.replace(hour=16), 1, timedelta(0))
    target = Target(windows=(window,), may_call=True, may_sms=True, sms_done=False)
    late = day.replace(hour=23, minute=30)
    history = [AttemptRecord(1, day.replace(hour=11, minute=5), CallResult.BUSY)]
    step = next_step(target, history, late)
    assert isinstance(step, SendSms)
    assert step.at == datetime(2026, 11, 26, 9, 0, tzinfo=tz)
    evening = day.replace(hour=18)
    assert next_step(target, history, evening) == SendSms(evening)
