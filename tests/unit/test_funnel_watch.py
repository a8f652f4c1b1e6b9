"""The board's reminder funnel counted beside the board: when a count starts, what a board shows meanwhile."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime

import pytest

from dialer.core.clock import FakeClock
from dialer.core.records import DaySummary
from dialer.engine.funnel_watch import FunnelWatch

TOMORROW = date(2026, 12, 3)


class Counter:
    """The database's side: each count returns how many counts there have been, and takes `takes` seconds."""

    def __init__(self, clock: FakeClock, takes: float = 0.0) -> None:
        self.clock = clock
        self.takes = takes
        self.counts: list[tuple[str, date]] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, clinic_id: str, day: date) -> DaySummary:
        self.counts.append((clinic_id, day))
        if self.gate is not None:
            await self.gate.wait()
        self.clock.advance(self.takes)
        if self.fail:
            raise ConnectionError("the database went away")
        return DaySummary(statuses={"confirmed": len(self.counts)}, attempts={}, sms={}, active_targets=0)


def confirmed(summary: DaySummary) -> int:
    return summary.statuses["confirmed"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))


async def test_the_first_board_waits_for_its_count_and_the_next_within_a_second_reads_none(
    clock: FakeClock,
) -> None:
    counter = Counter(clock)
    watch = FunnelWatch(counter, clock)
    assert confirmed(await watch.summary("c1", TOMORROW)) == 1
    clock.advance(0.5)
    assert confirmed(await watch.summary("c1", TOMORROW)) == 1
    await clock.settle()
    assert counter.counts == [("c1", TOMORROW)]


async def test_a_due_count_runs_in_the_background_and_the_board_shows_the_last_one_meanwhile(
    clock: FakeClock,
) -> None:
    counter = Counter(clock)
    watch = FunnelWatch(counter, clock)
    await watch.summary("c1", TOMORROW)
    clock.advance(1.0)
    counter.gate = asyncio.Event()
    assert confirmed(await watch.summary("c1", TOMORROW)) == 1  # not waiting for the count it started
    assert confirmed(await watch.summary("c1", TOMORROW)) == 1
    await clock.settle()
    assert len(counter.counts) == 2  # one count running, not one per board
    counter.gate.set()
    await clock.settle()
    assert confirmed(await watch.summary("c1", TOMORROW)) == 2


async def test_a_slow_count_is_repeated_only_after_ten_times_its_duration(clock: FakeClock) -> None:
    counter = Counter(clock, takes=0.5)
    watch = FunnelWatch(counter, clock)
    await watch.summary("c1", TOMORROW)  # began at 0, took 0.5 s: the next is due at 5 s
    clock.advance(4.0)
    await watch.summary("c1", TOMORROW)
    await clock.settle()
    assert len(counter.counts) == 1
    clock.advance(0.5)
    await watch.summary("c1", TOMORROW)
    await clock.settle()
    assert len(counter.counts) == 2


async def test_a_failed_count_leaves_the_last_one_on_the_board_and_is_tried_again(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    counter = Counter(clock)
    watch = FunnelWatch(counter, clock)
    await watch.summary("c1", TOMORROW)
    clock.advance(1.0)
    counter.fail = True
    with caplog.at_level(logging.ERROR, logger="dialer.board"):
        assert confirmed(await watch.summary("c1", TOMORROW)) == 1
        await clock.settle()
    assert "the reminder funnel of c1 could not be counted" in caplog.text
    counter.fail = False
    assert confirmed(await watch.summary("c1", TOMORROW)) == 1  # the failed count set no new time
    await clock.settle()
    assert confirmed(await watch.summary("c1", TOMORROW)) == 3


async def test_a_new_visit_day_waits_for_its_own_count_and_clinics_are_counted_apart(
    clock: FakeClock,
) -> None:
    counter = Counter(clock)
    watch = FunnelWatch(counter, clock)
    await watch.summary("c1", TOMORROW)
    after = date(2026, 12, 4)
    assert confirmed(await watch.summary("c1", after)) == 2
    assert confirmed(await watch.summary("c2", after)) == 3
    assert counter.counts == [("c1", TOMORROW), ("c1", after), ("c2", after)]


async def test_boards_opened_at_once_share_the_first_count(clock: FakeClock) -> None:
    counter = Counter(clock)
    counter.gate = asyncio.Event()
    watch = FunnelWatch(counter, clock)
    first = asyncio.ensure_future(watch.summary("c1", TOMORROW))
    second = asyncio.ensure_future(watch.summary("c1", TOMORROW))
    await clock.settle()
    counter.gate.set()
    assert [confirmed(s) for s in await asyncio.gather(first, second)] == [1, 1]
    assert len(counter.counts) == 1


async def test_close_stops_a_running_count(clock: FakeClock) -> None:
    counter = Counter(clock)
    watch = FunnelWatch(counter, clock)
    await watch.summary("c1", TOMORROW)
    clock.advance(1.0)
    counter.gate = asyncio.Event()
    await watch.summary("c1", TOMORROW)
    await clock.settle()
    await watch.close()
    counter.gate.set()
    await clock.settle()
    assert confirmed(await watch.summary("c1", TOMORROW)) == 1
