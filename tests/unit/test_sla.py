"""Service-level figures on hand-made rows, worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.sla import CallStat, Figures, TaskStat, by_hour, figures

MSK = ZoneInfo("Europe/Moscow")
T0 = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 10:00 Moscow
NOW = T0 + timedelta(hours=3)
MIN = timedelta(minutes=1)


def call(minute: float, answered: bool, waited: float, hidden: bool = False) -> CallStat:
    return CallStat(T0 + timedelta(minutes=minute), answered, waited, hidden)


def task(minute: float, first: float | None, contact: float | None, deadline: float = 15) -> TaskStat:
    start = T0 + timedelta(minutes=minute)
    return TaskStat(
        starts_at=start,
        deadline_at=start + timedelta(minutes=deadline),
        first_attempt_at=None if first is None else start + timedelta(seconds=first),
        contacted_at=None if contact is None else start + timedelta(seconds=contact),
    )


CALLS = [
    call(0, True, 5),
    call(1, True, 20),  # 20 s exactly is within the target
    call(2, True, 21),
    call(3, True, 60),
    call(4, False, 30),  # abandoned
    call(5, False, 90, hidden=True),
    call(6, False, 0, hidden=True),  # IVR hang-up
    call(7, True, 14),
]


def test_call_figures() -> None:
    f = figures(CALLS, [], NOW)
    assert (f.calls, f.answered, f.missed, f.hidden) == (8, 5, 3, 2)
    assert f.missed_pct == 37.5
    assert f.answered_in_target_pct == 37.5  # 3 of all 8 calls, not of the 5 answered
    assert f.avg_wait == round((5 + 20 + 21 + 60 + 30 + 90 + 0 + 14) / 8, 1)  # abandoned calls count


def test_missed_pct_counts_hidden_numbers() -> None:
    f = figures([call(0, False, 10, hidden=True), call(1, True, 3)], [], NOW)
    assert (f.missed, f.missed_pct, f.hidden) == (1, 50.0, 1)


def test_percentages_are_rounded_to_a_tenth() -> None:
    f = figures([call(0, False, 1), call(1, True, 1), call(2, True, 1)], [], NOW)
    assert f.missed_pct == 33.3
    assert f.answered_in_target_pct == 66.7


TASKS = [
    task(0, first=30, contact=40),  # called within a minute, contact at once
    task(1, first=120, contact=500),  # contact after the second attempt, within 15 min
    task(2, first=300, contact=1200),  # first attempt in time, contact after the deadline
    task(3, first=1000, contact=1500),  # first attempt late: a breach
    task(4, first=None, contact=None),  # never tried and the deadline has passed: a breach
    task(170, first=None, contact=None),  # not tried yet, deadline (10 min after NOW) still ahead
    task(5, first=900, contact=900),  # first attempt exactly at the deadline: in time
]


def test_callback_figures() -> None:
    f = figures([], TASKS, NOW)
    assert f.callbacks == 7
    assert f.first_attempt_in_deadline_pct == round(100 * 4 / 7, 1)
    assert f.contacted_in_deadline_pct == round(100 * 3 / 7, 1)
    assert f.breaches == 2
    firsts = sorted([30, 120, 300, 1000, 900])
    assert f.median_first_attempt == 300.0 == firsts[2]
    assert f.p95_first_attempt == 1000.0
    assert f.median_contact == 900.0  # of 40, 500, 900, 1200, 1500
    assert (f.calls, f.missed_pct, f.avg_wait) == (0, 0.0, 0.0)


def test_p95_on_twenty_values() -> None:
    tasks = [task(i, first=float(i + 1), contact=None) for i in range(20)]
    f = figures([], tasks, T0 + timedelta(hours=1))
    assert f.p95_first_attempt == 19.0  # nearest rank: the 19th of 20
    assert f.breaches == 0


def test_the_median_of_an_even_count_is_halfway_between_the_middle_two() -> None:
    """With 2, 4, 6 … values the median is the mean of the middle two. Rounding the index with round() (which
    rounds halves to even) picks the lower middle for 2 and 6 values and the upper one for 4 and 8."""
    for firsts, median in (([10, 20], 15.0), ([40, 500, 900, 1200], 700.0), ([1, 2, 3, 4, 5, 6], 3.5)):
        tasks = [task(i, first=float(s), contact=float(s)) for i, s in enumerate(firsts)]
        f = figures([], tasks, NOW)
        assert (f.median_first_attempt, f.median_contact) == (median, median), firsts


def test_a_task_not_tried_before_its_deadline_is_a_breach_only_once_the_deadline_passed() -> None:
    t = task(0, first=None, contact=None)
    assert figures([], [t], t.deadline_at - timedelta(seconds=1)).breaches == 0
    assert figures([], [t], t.deadline_at).breaches == 0
    assert figures([], [t], t.deadline_at + timedelta(seconds=1)).breaches == 1


def test_empty_input_gives_zeros_and_nones() -> None:
    f = figures([], [], NOW)
    assert f == Figures(
        calls=0,
        answered=0,
        missed=0,
        missed_pct=0.0,
        answered_in_target_pct=0.0,
        avg_wait=0.0,
        hidden=0,
        callbacks=0,
        first_attempt_in_deadline_pct=0.0,
        contacted_in_deadline_pct=0.0,
        breaches=0,
        median_first_attempt=None,
        p95_first_attempt=None,
        median_contact=None,
    )
    assert f.as_dict()["median_contact"] is None
    assert by_hour([], [], MSK, NOW) == {}


def test_by_hour_in_the_clinics_zone() -> None:
    calls = [call(0, True, 5), call(30, False, 40), call(70, True, 25), call(200, False, 3, hidden=True)]
    tasks = [task(30, first=60, contact=60), task(125, first=None, contact=None)]
    hours = by_hour(calls, tasks, MSK, NOW)
    assert sorted(hours) == [10, 11, 12, 13]  # Moscow hours: 10:00, 10:30, 11:10, 12:05, 13:20
    assert (hours[10].calls, hours[10].missed, hours[10].callbacks) == (2, 1, 1)
    assert hours[10].missed_pct == 50.0
    assert hours[10].avg_wait == 22.5
    assert (hours[11].calls, hours[11].answered_in_target_pct) == (1, 0.0)
    assert (hours[12].calls, hours[12].callbacks, hours[12].breaches) == (0, 1, 1)
    assert (hours[13].calls, hours[13].hidden, hours[13].callbacks) == (1, 1, 0)
    assert sum(h.calls for h in hours.values()) == len(calls)


stats = st.builds(
    CallStat,
    started_at=st.integers(0, 86_399).map(lambda s: T0 + timedelta(seconds=s)),
    answered=st.booleans(),
    waited=st.floats(0, 3600),
    hidden=st.booleans(),
)


@given(calls=st.lists(stats, max_size=40))
@settings(max_examples=100, deadline=None)
def test_the_day_is_the_sum_of_its_hours(calls: list[CallStat]) -> None:
    day = figures(calls, [], NOW)
    hours = by_hour(calls, [], MSK, NOW)
    assert day.calls == sum(h.calls for h in hours.values())
    assert day.missed == sum(h.missed for h in hours.values())
    assert day.hidden == sum(h.hidden for h in hours.values())
    assert (
        0.0 <= day.missed_pct <= 100.0 and 0.0 <= day.answered_in_target_pct <= 100.0 - day.missed_pct + 0.1
    )
