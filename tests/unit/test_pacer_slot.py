"""A trunk channel is given back exactly once, whoever ends the call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from dialer.core.clock import FakeClock
from dialer.engine.pacer import TrunkPacer


def pacer(channels: int = 1) -> TrunkPacer:
    return TrunkPacer("sim", channels, 10.0, FakeClock(datetime(2026, 3, 2, 9, tzinfo=UTC)))


async def test_a_slot_released_twice_frees_one_channel() -> None:
    trunk = pacer(2)
    first, second = await trunk.acquire(), await trunk.acquire()
    first.release()
    first.release()
    assert trunk.in_use == 1 and second.held


async def test_a_slot_taken_over_is_freed_by_its_new_holder_only() -> None:
    trunk = pacer()
    async with trunk.slot() as slot:
        desk_slot = slot.take()
    assert trunk.in_use == 1  # the body's end did not free the channel the desk holds
    desk_slot.release()
    assert trunk.in_use == 0
    with pytest.raises(RuntimeError):
        slot.take()


async def test_a_slot_left_without_a_call_wakes_the_next_waiter() -> None:
    trunk = pacer()
    async with trunk.slot():
        waiting = asyncio.create_task(trunk.acquire())
        await asyncio.sleep(0)
        assert not waiting.done()
    (await waiting).release()
    assert trunk.in_use == 0 and trunk.peak == 1


def test_a_call_found_alive_takes_a_free_channel_only() -> None:
    trunk = pacer()
    found = trunk.occupy()
    assert found is not None and trunk.occupy() is None
    found.release()
    assert trunk.free == 1
