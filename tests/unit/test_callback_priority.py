"""Which callback goes ahead of the queue's callers: a first callback inside its margin before the deadline,
the nearest deadline first, only while the clinic may call; and never the last member left in a queue."""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from dialer.core.callback_priority import (
    AheadLog,
    AheadOfQueue,
    WaitingCallback,
    jumps_queue,
    next_ahead_of_queue,
    queue_stays_staffed,
)
from dialer.core.errors import ConfigError
from dialer.core.queues import AdminState
from dialer.settings import parse_settings

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
MARGIN = timedelta(minutes=5)


def waiting(
    key: str, left: timedelta, *, first: bool = True, open_now: bool = True, clinic: str = "c1"
) -> WaitingCallback:
    return WaitingCallback(key, clinic, NOW + left, first_attempt=first, open_now=open_now)


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (timedelta(minutes=10), False),  # plenty of time: the queue's callers first
        (timedelta(minutes=5, seconds=1), False),
        (timedelta(minutes=5), True),  # the margin's first moment
        (timedelta(minutes=1), True),
        (timedelta(seconds=1), True),
        (timedelta(0), False),  # the deadline has come: late anyway, the live caller keeps their turn
        (timedelta(minutes=-3), False),
    ],
)
def test_a_first_callback_goes_ahead_only_inside_its_margin(left: timedelta, expected: bool) -> None:
    assert jumps_queue(waiting("a", left), NOW, MARGIN) is expected


def test_a_repeat_a_closed_clinic_or_a_zero_margin_never_goes_ahead() -> None:
    near = timedelta(minutes=2)
    assert not jumps_queue(waiting("a", near, first=False), NOW, MARGIN)
    assert not jumps_queue(waiting("a", near, open_now=False), NOW, MARGIN)
    assert not jumps_queue(waiting("a", near), NOW, timedelta(0))
    assert jumps_queue(waiting("a", near), NOW, MARGIN)


def test_the_nearest_deadline_goes_first_among_those_inside_the_margin() -> None:
    callbacks = [
        waiting("far", timedelta(minutes=12)),
        waiting("near", timedelta(minutes=2)),
        waiting("nearer-repeat", timedelta(minutes=1), first=False),
        waiting("middle", timedelta(minutes=4)),
        waiting("late", timedelta(minutes=-1)),
    ]
    choice = next_ahead_of_queue(callbacks, NOW, MARGIN)
    assert choice is not None and choice.key == "near"
    assert next_ahead_of_queue([c for c in callbacks if c.key != "near"], NOW, MARGIN) == callbacks[3]
    assert next_ahead_of_queue([callbacks[0], callbacks[2], callbacks[4]], NOW, MARGIN) is None
    assert next_ahead_of_queue([], NOW, MARGIN) is None


def test_the_choice_does_not_depend_on_the_order_it_is_given_in() -> None:
    rng = random.Random(7)
    callbacks = [
        waiting(f"k{n}", timedelta(seconds=rng.randrange(-120, 900)), first=rng.random() < 0.8)
        for n in range(40)
    ]
    callbacks.append(waiting("tie-b", timedelta(seconds=30)))
    callbacks.append(waiting("tie-a", timedelta(seconds=30)))
    expected = next_ahead_of_queue(callbacks, NOW, MARGIN)
    for _ in range(20):
        rng.shuffle(callbacks)
        assert next_ahead_of_queue(callbacks, NOW, MARGIN) == expected
    urgent = [c for c in callbacks if jumps_queue(c, NOW, MARGIN)]
    assert expected is not None and expected.deadline == min(c.deadline for c in urgent)


def test_a_queue_is_never_left_with_only_paused_or_offline_members() -> None:
    states = {"A": AdminState.FREE, "B": AdminState.TALKING}
    assert queue_stays_staffed(states, "A")  # B is on a call: callers still wait for them
    assert queue_stays_staffed({"A": AdminState.FREE, "B": AdminState.WRAP_UP}, "A")
    assert not queue_stays_staffed({"A": AdminState.FREE}, "A")
    assert not queue_stays_staffed({"A": AdminState.FREE, "B": AdminState.PAUSED}, "A")
    assert not queue_stays_staffed({"A": AdminState.FREE, "B": AdminState.OFFLINE}, "A")


def test_the_board_counts_todays_callbacks_ahead_of_the_queue_per_clinic() -> None:
    log = AheadLog(keep=3)
    for minutes in (1, 2, 3, 4):
        log.add(AheadOfQueue(NOW + timedelta(minutes=minutes), "c1", minutes, "PJSIP/101"))
    log.add(AheadOfQueue(NOW, "c2", 9, "PJSIP/201"))
    assert [e.task_id for e in log.since("c1", NOW)] == [2, 3, 4]  # the oldest dropped
    assert [e.task_id for e in log.since("c1", NOW + timedelta(minutes=3))] == [3, 4]
    assert [e.task_id for e in log.since("c2", NOW)] == [9]
    assert log.since("c3", NOW) == []


def test_the_margin_is_read_from_the_settings_and_a_bad_one_is_refused() -> None:
    def parse(text: str) -> timedelta:
        return parse_settings(tomllib.loads(f"[campaigns.callbacks]\n{text}\n")).callbacks.priority_margin

    assert parse("") == timedelta(minutes=13)
    assert parse('priority_margin = "2m30s"') == timedelta(minutes=2, seconds=30)
    assert parse("priority_margin = 0") == timedelta(0)
    with pytest.raises(ConfigError, match="priority_margin"):
        parse('priority_margin = "скоро"')
    with pytest.raises(ConfigError, match="priority_margin"):
        parse("priority_margin = -60")
