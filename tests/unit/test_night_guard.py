"""The planner never places a call outside the clinic's calling hours, whatever its windows say.

Windows made at run time (the demonstration's compressed ones, a waiting-list offer, a clinic whose hours
changed) are not checked at start, so the planner guards the night itself: a dial time is moved into the
allowed hours of its local day, or to the next allowed moment of the window, or there is no call at all.
The property holds in every Russian zone and in zones whose clocks jump, some of them at midnight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.plan import Window, window_rule
from dialer.campaigns.planner import Dial, Step, Target, Wait, next_step
from dialer.core.calendar import RUSSIAN_ZONES
from dialer.core.clock import FakeClock
from dialer.core.hours import CallingHours
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptRecord, DueTask, Settled, TargetState, TaskKind
from dialer.core.worklists import TargetRow
from dialer.engine.ivr import IvrFlow
from dialer.engine.pacer import PacerSlot, TrunkPacer
from dialer.engine.runner import FlowBasics
from dialer.settings import Settings, parse_settings

MSK = ZoneInfo("Europe/Moscow")
DAY = date(2026, 11, 25)  # a Wednesday
NIGHT_GUARD = CallingHours()  # 08:00-21:00
# Daylight saving in spring and autumn; Santiago, Beirut and Havana move their clocks at midnight, so a local
# midnight is skipped or comes twice; Lord Howe moves them by half an hour.
SWITCHING = (
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",
    "Asia/Beirut",
    "America/Havana",
    "Australia/Lord_Howe",
)


def msk(hh: int, mm: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hh, mm), MSK)


def window(start: datetime, end: datetime, attempts: int = 1, gap: timedelta = timedelta(0)) -> Window:
    return Window(start, end, attempts, gap)


def target(*windows: Window, hours: CallingHours = NIGHT_GUARD, zone: tzinfo = MSK) -> Target:
    return Target(
        windows=windows, may_call=True, may_sms=True, sms_done=False, zone=zone, calling_hours=hours
    )


# The planner, by example ------------------------------------------------------------------------------------


def test_the_incident_windows_at_22_20_moscow_place_no_call() -> None:
    """The demo-compressed windows at 22:20 Moscow time: no reminder call at 22:22-22:25, the SMS instead,
    in the morning."""
    late = target(window(msk(22, 19), msk(22, 21), 2), window(msk(22, 21), msk(22, 26), 1))
    step = next_step(late, [], msk(22, 20))
    assert not isinstance(step, Dial), step


def test_a_window_opening_before_the_hours_calls_at_eight() -> None:
    assert next_step(target(window(msk(6), msk(12))), [], msk(6, 30)) == Dial(msk(8), 1)


def test_a_window_reaching_into_the_night_calls_until_nine_then_moves_on() -> None:
    evening = window(msk(20), msk(23), 2, timedelta(minutes=30))
    tomorrow = window(msk(11, day=DAY + timedelta(days=1)), msk(12, day=DAY + timedelta(days=1)), 1)
    t = target(evening, tomorrow)
    assert next_step(t, [], msk(20, 15)) == Dial(msk(20, 15), 1)
    history = [AttemptRecord(1, msk(20, 40), CallResult.NO_ANSWER)]
    # The gap would put the second call at 21:10: not tonight, so the next window's first moment.
    assert next_step(t, history, msk(20, 41)) == Dial(tomorrow.start, 2)


def test_a_window_spanning_the_night_skips_to_the_morning_inside_it() -> None:
    overnight = window(msk(20, 30), msk(10, day=DAY + timedelta(days=1)), 2)
    t = target(overnight)
    history = [AttemptRecord(1, msk(20, 45), CallResult.BUSY)]
    assert next_step(t, history, msk(23, 0)) == Dial(msk(8, day=DAY + timedelta(days=1)), 2)


def test_the_clinics_own_hours_in_its_own_zone() -> None:
    omsk = ZoneInfo("Asia/Omsk")
    day_window = window(datetime.combine(DAY, time(7), omsk), datetime.combine(DAY, time(20), omsk))
    # Windows may come back from storage in UTC: the hours are still the clinic's.
    stored = window(day_window.start.astimezone(UTC), day_window.end.astimezone(UTC))
    t = target(stored, hours=CallingHours(time(9), time(19)), zone=omsk)
    step = next_step(t, [], datetime.combine(DAY, time(6), omsk).astimezone(UTC))
    assert step == Dial(datetime.combine(DAY, time(9), omsk), 1)


def test_never_before_now_in_the_hour_the_clocks_go_back() -> None:
    """Berlin, 25 October 2026: 03:00 summer time becomes 02:00 again. Two instants of one zone compare by the
    wall clock in Python, so 02:50 of the first pass looks later than 02:10 of the second, which it is not."""
    berlin = ZoneInfo("Europe/Berlin")
    day = date(2026, 10, 25)
    opens = datetime.combine(day, time(2, 50), berlin)  # 00:50 UTC, the first pass
    now = datetime.combine(day, time(2, 10, fold=1), berlin)  # 01:10 UTC, the second pass
    t = target(
        window(opens, datetime.combine(day, time(5), berlin)),
        hours=CallingHours(time(0), time(23)),
        zone=berlin,
    )
    step = next_step(t, [], now)
    assert isinstance(step, Dial)
    assert step.at.astimezone(UTC) == now.astimezone(UTC)


def test_a_target_built_without_hours_still_keeps_the_night() -> None:
    bare = Target(windows=(window(msk(21, 30), msk(23)),), may_call=True, may_sms=False, sms_done=True)
    assert not isinstance(next_step(bare, [], msk(21, 30)), Dial)


# The property -----------------------------------------------------------------------------------------------


@cache
def switch_days(zone_name: str) -> tuple[date, ...]:
    """The local days, 2010-2030, on which the zone's UTC offset changed (daylight saving, or a new offset)."""
    tz = ZoneInfo(zone_name)
    days = []
    day = date(2010, 1, 1)
    offset = datetime.combine(day, time(12), tz).utcoffset()
    while day < date(2031, 1, 1):
        day += timedelta(days=1)
        new = datetime.combine(day, time(12), tz).utcoffset()
        if new != offset:
            days.append(day)
        offset = new
    return tuple(days)


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def calling_hours(draw: st.DrawFn) -> CallingHours:
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.integers(start + 1, 24 * 60))
    custom = CallingHours.parse(f"{hhmm(start)}-{hhmm(end)}")
    return draw(
        st.sampled_from([NIGHT_GUARD, NIGHT_GUARD, NIGHT_GUARD, CallingHours(time(9), time(20)), custom])
    )


def local(day: date, minute: int, tz: ZoneInfo, fold: int) -> datetime:
    """That wall time on that day, as an instant (a skipped wall time reads as one just past the jump)."""
    return datetime.combine(day, time(minute // 60, minute % 60, fold=fold), tz)


def as_stored(instant: datetime, tz: ZoneInfo, in_utc: bool) -> datetime:
    """Callers give instants in the clinic's zone (windows resolved from rules) or in UTC (storage, the clock)."""
    return instant.astimezone(UTC) if in_utc else instant.astimezone(tz)


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.one_of(st.sampled_from(RUSSIAN_ZONES), st.sampled_from(SWITCHING)))
    tz = ZoneInfo(name)
    switches = switch_days(name)
    any_day = st.dates(min_value=date(2010, 1, 2), max_value=date(2030, 12, 30))
    near_switch = st.sampled_from(switches) if switches else any_day
    base = draw(st.one_of(near_switch, near_switch, any_day)) + timedelta(days=draw(st.integers(-1, 1)))
    hours = draw(calling_hours())
    # Window edges are drawn near the hours' own edges as often as anywhere: the guard's corners.
    edges = [h.hour * 60 + h.minute for h in (hours.start, hours.end)]
    minute = st.one_of(
        st.integers(0, 24 * 60 - 1),
        st.sampled_from(edges).flatmap(lambda m: st.integers(max(0, m - 2), min(24 * 60 - 1, m + 1))),
    )
    windows = []
    for _ in range(draw(st.integers(1, 3))):
        start = local(
            base + timedelta(days=draw(st.integers(-1, 1))), draw(minute), tz, draw(st.integers(0, 1))
        )
        # Up to a day and more: windows into the night, across midnight and across the clocks' jump.
        length = timedelta(minutes=draw(st.integers(1, 27 * 60)))
        end = start.astimezone(UTC) + length
        in_utc = draw(st.booleans())
        windows.append(
            Window(
                as_stored(start, tz, in_utc),
                as_stored(end, tz, in_utc),
                draw(st.sampled_from([1, 2, 3, 0])),
                timedelta(minutes=draw(st.sampled_from([0, 0, 5, 30, 120, 600]))),
                reconfirm=draw(st.booleans()),
            )
        )
    midnight = local(base, 0, tz, 0).astimezone(UTC)
    instants = st.integers(-36 * 3600, 60 * 3600).map(lambda s: midnight + timedelta(seconds=s))
    history = []
    for n in range(1, draw(st.sampled_from([0, 0, 0, 1, 2, 3])) + 1):
        result = draw(st.sampled_from(list(CallResult)))
        settled = draw(st.sampled_from(list(Settled))) if result is CallResult.ANSWERED else Settled.OPEN
        history.append(AttemptRecord(n, as_stored(draw(instants), tz, draw(st.booleans())), result, settled))
    edge_instants = [w.start for w in windows] + [w.end for w in windows]
    for day in (base - timedelta(days=1), base, base + timedelta(days=1)):
        edge_instants += [
            datetime.combine(day, t, tz).replace(fold=f) for t in (hours.start, hours.end) for f in (0, 1)
        ]
    snapped = st.tuples(st.sampled_from(edge_instants), st.sampled_from([-1, 0, 0, 1])).map(
        lambda p: p[0] + timedelta(seconds=p[1])
    )
    now = draw(st.one_of(instants, snapped, snapped))
    return {
        "tz": tz,
        "hours": hours,
        "windows": tuple(windows),
        "history": history,
        "now": as_stored(now, tz, draw(st.booleans())),
        "retry": draw(st.booleans()),
    }


def in_hours(instant: datetime, hours: CallingHours, tz: tzinfo) -> bool:
    return hours.start <= instant.astimezone(tz).time() < hours.end


@given(case=scenarios(), data=st.data())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_dial_is_within_the_calling_hours_and_never_before_now(
    case: dict[str, Any], data: st.DataObject
) -> None:
    tz: ZoneInfo = case["tz"]
    hours: CallingHours = case["hours"]
    windows: tuple[Window, ...] = case["windows"]
    history: list[AttemptRecord] = list(case["history"])
    now: datetime = case["now"]
    t = Target(
        windows=windows,
        may_call=True,
        may_sms=data.draw(st.booleans(), label="may_sms"),
        sms_done=False,
        retry_when_no_digit=case["retry"],
        zone=tz,
        calling_hours=hours,
    )
    step: Step = Wait()
    for _ in range(sum(w.attempts for w in windows) + 2):
        step = next_step(t, history, now)
        if not isinstance(step, Dial):
            break
        local_at = step.at.astimezone(tz)
        assert in_hours(step.at, hours, tz), f"{local_at} ({tz.key}) is outside {hours}"
        # In UTC: two instants of one zone compare by the wall clock, wrong when the clocks go back.
        assert step.at.astimezone(UTC) >= now.astimezone(UTC), (step.at, now)
        assert any(
            w.start.astimezone(UTC) <= step.at.astimezone(UTC) < w.end.astimezone(UTC) for w in windows
        )
        # The call goes out then or a little later, and ends without a decision, mostly.
        delay = data.draw(st.sampled_from([0, 0, 1, 59, 3600]), label="delay")
        started = step.at.astimezone(UTC) + timedelta(seconds=delay)
        result = data.draw(
            st.sampled_from([CallResult.NO_ANSWER, CallResult.BUSY, *CallResult]), label="result"
        )
        history.append(AttemptRecord(step.n, started, result))
        now = started + timedelta(seconds=data.draw(st.integers(1, 900), label="duration"))
    else:
        raise AssertionError(f"the plan never stopped: {step}")
    dials = len(history) - len(case["history"])
    event(f"{'switching' if tz.key in SWITCHING else 'russian'} zone: {'some' if dials else 'no'} dials")


def test_the_property_draws_days_when_the_clocks_jump() -> None:
    assert len(switch_days("Europe/Berlin")) == 42  # two a year, 2010-2030
    assert datetime(2025, 9, 7, tzinfo=UTC).date() in switch_days("America/Santiago")
    # Summer time until 2011, then "permanent summer time", then back to UTC+3 in 2014.
    assert switch_days("Europe/Moscow") == (
        date(2010, 3, 28),
        date(2010, 10, 31),
        date(2011, 3, 27),
        date(2014, 10, 26),
    )


# The IVR flow decides again at dial time ---------------------------------------------------------------------


class _Due:
    def __init__(self) -> None:
        self.done: list[tuple[str, bool]] = []
        self.later: list[tuple[str, datetime]] = []
        self.scheduled: list[DueTask] = []

    async def finish(self, task_id: str, *, cancelled: bool = False) -> None:
        self.done.append((task_id, cancelled))

    async def retry_later(self, task_id: str, due_at: datetime) -> None:
        self.later.append((task_id, due_at))

    async def schedule(self, task: DueTask) -> None:
        self.scheduled.append(task)


def ivr_flow(settings: Settings, now: datetime, created_at: datetime) -> tuple[IvrFlow, _Due, list[Any]]:
    row = TargetRow(
        7, "center", CampaignKind.FOLLOWUP, "A-1", "P-1", "+79161234567", TargetState.ACTIVE, created_at
    )
    closed: list[Any] = []
    placed: list[Any] = []

    async def target(target_id: int) -> TargetRow:
        return row

    async def history(target_id: int) -> list[Any]:
        return []

    async def get(attempt_id: str) -> None:
        return None

    async def close_target(target_id: int, reason: str, at: datetime) -> None:
        closed.append(reason)

    async def place(attempt: Any, request: Any, slot: PacerSlot) -> bool:
        placed.append(request)
        slot.take().release()  # the call, ended at once
        return True

    due = _Due()
    clock = FakeClock(now)
    flow = IvrFlow(
        basics=FlowBasics(
            settings=settings,
            attempts=SimpleNamespace(history=history, get=get),
            due=due,  # type: ignore[arg-type]
            desk=SimpleNamespace(pacers={"main": TrunkPacer("main", 1, 1.0, clock)}, place=place),  # type: ignore[arg-type]
            clock=clock,
            wake=lambda: None,  # no due-task worker in this test
        ),
        store=SimpleNamespace(target=target, close_target=close_target),
        alerts=None,  # type: ignore[arg-type]
        sms=None,  # type: ignore[arg-type]
    )
    return flow, due, [placed, closed]


def followup_settings(windows: Sequence[dict[str, object]] | None = None) -> Settings:
    s = parse_settings({"clinics": [{"id": "center", "timezone": "Europe/Moscow"}]})
    if windows is None:
        return s
    # Windows made at run time are not checked at start: the flow must hold the night by itself.
    rules = tuple(window_rule(w, "test") for w in windows)
    return replace(s, followup=replace(s.followup, plan=replace(s.followup.plan, windows=rules)))


async def test_an_ivr_call_due_at_night_waits_for_the_morning() -> None:
    settings = followup_settings([{"start": "06:00", "end": "12:00", "attempts": 1}])
    task = DueTask(
        AttemptId(CampaignKind.FOLLOWUP, 7, 1).due_task_id,
        "center",
        TaskKind.DIAL,
        CampaignKind.FOLLOWUP,
        7,
        msk(6),
    )
    flow, due, (placed, _) = ivr_flow(settings, msk(6, 30), msk(5))
    await flow.run_dial(task)
    assert placed == []
    assert due.later == [(task.task_id, msk(8))]
    assert flow.desk.pacers["main"].in_use == 0


async def test_an_ivr_call_due_after_its_window_and_the_hours_ends_the_plan() -> None:
    settings = followup_settings()
    task = DueTask(
        AttemptId(CampaignKind.FOLLOWUP, 7, 1).due_task_id,
        "center",
        TaskKind.DIAL,
        CampaignKind.FOLLOWUP,
        7,
        msk(18, 50),
    )
    flow, due, (placed, closed) = ivr_flow(settings, msk(22, 10), msk(9))  # the service was down till 22:10
    await flow.run_dial(task)
    assert placed == [] and due.done == [(task.task_id, True)] and closed == ["not_reached"]


async def test_an_ivr_call_inside_the_hours_goes_out() -> None:
    settings = followup_settings()
    task = DueTask(
        AttemptId(CampaignKind.FOLLOWUP, 7, 1).due_task_id,
        "center",
        TaskKind.DIAL,
        CampaignKind.FOLLOWUP,
        7,
        msk(11),
    )
    flow, due, (placed, _) = ivr_flow(settings, msk(11), msk(9))
    await flow.run_dial(task)
    assert len(placed) == 1 and due.done == [(task.task_id, False)]


async def test_the_ivr_plan_keeps_runtime_windows_out_of_the_night() -> None:
    settings = followup_settings([{"start": "21:30", "end": "23:00", "attempts": 1}])
    flow, due, (_, closed) = ivr_flow(settings, msk(21, 40), msk(9))
    await flow.plan(CampaignKind.FOLLOWUP, 7)
    assert due.scheduled == [] and closed == ["not_reached"]
