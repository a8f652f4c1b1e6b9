"""Holding an administrator for a callback close to its deadline: paused with «перезвон» before the queue can
offer them its next caller, and always unpaused afterwards, also after a failed pause or a lost link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from dialer.core.callback_priority import PAUSE_REASON, AheadLog, WaitingCallback
from dialer.core.clock import FakeClock
from dialer.core.pbx_links import queue_key
from dialer.core.ports import TelephonyUnavailable
from dialer.core.queues import INUSE, NOT_INUSE, AdminState, QueueState
from dialer.engine.queue_jump import QueueJump

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
QUEUE = "400"
ANNA, BORIS = "PJSIP/101", "PJSIP/102"


class Pauses:
    """Asterisk's member pauses as the service sees them through the port."""

    def __init__(self) -> None:
        self.paused: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.down = False

    async def pause(self, interface: str, reason: str) -> None:
        self.calls.append(("pause", interface))
        if self.down:
            raise TelephonyUnavailable("no AMI link")
        self.paused[interface] = reason

    async def unpause(self, interface: str) -> None:
        self.calls.append(("unpause", interface))
        if self.down:
            raise TelephonyUnavailable("no AMI link")
        self.paused.pop(interface, None)

    async def paused_with(self, reason: str) -> set[str]:
        if self.down:
            raise TelephonyUnavailable("no AMI link")
        return {i for i, r in self.paused.items() if r == reason}


def member(interface: str, status: int) -> dict[str, str]:
    return {
        "Event": "QueueMember",
        "Queue": QUEUE,
        "Location": interface,
        "Status": str(status),
        "Paused": "0",
    }


@asynccontextmanager
async def running_jump(queues: QueueState) -> AsyncIterator[tuple[QueueJump, Pauses, FakeClock]]:
    """The queue jump over these queues, with a five-minute margin, running until the block ends."""
    clock, pauses = FakeClock(NOW), Pauses()
    jump = QueueJump(
        queues=queues,
        pauses=pauses,
        clock=clock,
        margin=timedelta(minutes=5),
        changed=asyncio.Event(),
        ahead=AheadLog(),
    )
    runner = asyncio.create_task(jump.run())
    try:
        yield jump, pauses, clock
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[QueueJump, Pauses, FakeClock, QueueState]]:
    queues = QueueState()
    queues.reset([member(ANNA, NOT_INUSE), member(BORIS, INUSE)], NOW)
    queues.feed({"Event": "QueueCallerJoin", "Queue": QUEUE, "Uniqueid": "caller-1"}, NOW)
    async with running_jump(queues) as (jump, pauses, clock):
        yield jump, pauses, clock, queues


def callback(left: timedelta) -> WaitingCallback:
    return WaitingCallback("cb:1:1", "c1", NOW + left, first_attempt=True, open_now=True)


async def test_a_callback_inside_its_margin_takes_the_free_administrator_ahead_of_the_caller(
    rig: tuple[QueueJump, Pauses, FakeClock, QueueState],
) -> None:
    jump, pauses, clock, queues = rig
    got = await asyncio.wait_for(jump.take(callback(timedelta(minutes=2)), 7, (QUEUE,)), 1)
    assert got == ANNA and pauses.paused == {ANNA: PAUSE_REASON}
    assert ANNA in queues.reserved
    (entry,) = jump.ahead.since("c1", NOW)
    assert (entry.task_id, entry.interface, entry.at) == (7, ANNA, NOW)
    jump.release(ANNA, (QUEUE,))
    assert ANNA not in queues.reserved
    await clock.settle()
    assert pauses.paused == {}
    assert pauses.calls == [("pause", ANNA), ("unpause", ANNA)]


async def test_a_callback_outside_its_margin_waits_and_goes_ahead_once_inside(
    rig: tuple[QueueJump, Pauses, FakeClock, QueueState],
) -> None:
    jump, pauses, clock, _ = rig
    taking = asyncio.create_task(jump.take(callback(timedelta(minutes=6)), 7, (QUEUE,)))
    await clock.settle()
    clock.advance(30)
    await clock.settle()
    assert not taking.done() and pauses.calls == []
    clock.advance(31)  # now 4 min 59 s before the deadline
    await clock.settle()
    assert taking.done() and taking.result() == ANNA


async def test_the_last_member_of_a_queue_is_never_paused(
    rig: tuple[QueueJump, Pauses, FakeClock, QueueState],
) -> None:
    jump, pauses, clock, queues = rig
    queues.feed({"Event": "QueueMemberRemoved", "Queue": QUEUE, "Interface": BORIS}, NOW)
    taking = asyncio.create_task(jump.take(callback(timedelta(minutes=2)), 7, (QUEUE,)))
    clock.advance(2)
    await clock.settle()
    assert not taking.done() and pauses.calls == []
    taking.cancel()
    await asyncio.gather(taking, return_exceptions=True)


async def test_a_failed_pause_holds_nobody_and_a_lost_unpause_is_made_at_link_up(
    rig: tuple[QueueJump, Pauses, FakeClock, QueueState],
) -> None:
    jump, pauses, clock, queues = rig
    pauses.down = True
    taking = asyncio.create_task(jump.take(callback(timedelta(minutes=2)), 7, (QUEUE,)))
    clock.advance(1)
    await clock.settle()
    assert not taking.done() and ANNA not in queues.reserved and pauses.paused == {}
    pauses.down = False
    clock.advance(1)
    await clock.settle()
    assert taking.result() == ANNA
    pauses.down = True
    jump.release(ANNA, (QUEUE,))
    clock.advance(1)
    await clock.settle()
    assert pauses.paused == {ANNA: PAUSE_REASON}  # the link is down: still paused
    pauses.down = False
    await jump.link_up()
    assert pauses.paused == {}


async def test_at_start_up_pauses_with_our_reason_are_lifted_and_others_are_kept() -> None:
    async with running_jump(QueueState()) as (jump, pauses, _):
        pauses.paused = {ANNA: PAUSE_REASON, BORIS: "обед"}
        await jump.link_up()
        assert pauses.paused == {BORIS: "обед"}


async def test_with_nobody_waiting_in_the_queue_nobody_is_paused(
    rig: tuple[QueueJump, Pauses, FakeClock, QueueState],
) -> None:
    jump, pauses, clock, queues = rig
    queues.feed({"Event": "QueueCallerLeave", "Queue": QUEUE, "Uniqueid": "caller-1"}, NOW)
    taking = asyncio.create_task(jump.take(callback(timedelta(minutes=2)), 7, (QUEUE,)))
    clock.advance(2)
    await clock.settle()
    assert not taking.done() and pauses.calls == [] and jump.ahead.since("c1", NOW) == []
    taking.cancel()
    await asyncio.gather(taking, return_exceptions=True)


async def test_a_namesake_on_another_asterisk_is_neither_paused_nor_unpaused_for_this_ones_callback() -> None:
    """West and east each have a queue «400» with a «PJSIP/101» and a «PJSIP/102» in it: a callback ahead of
    west's queue pauses west's 101 alone, and its end unpauses west's alone; east's 101 keeps taking east's
    callers."""
    queues = QueueState()
    for pbx in ("west", "east"):
        for interface, status in ((ANNA, NOT_INUSE), (BORIS, INUSE)):
            queues.feed({**member(interface, status), "Interface": interface}, NOW, pbx)
        queues.feed({"Event": "QueueCallerJoin", "Queue": QUEUE, "Uniqueid": f"{pbx}-caller"}, NOW, pbx)
    west, east = (queue_key(QUEUE, "west"),), (queue_key(QUEUE, "east"),)
    async with running_jump(queues) as (jump, pauses, clock):
        got = await asyncio.wait_for(jump.take(callback(timedelta(minutes=2)), 7, west), 1)
        assert got == ANNA and pauses.paused == {f"west/{ANNA}": PAUSE_REASON}
        assert queues.admins(east, NOW)[ANNA] is AdminState.FREE
        jump.release(ANNA, west)
        await clock.settle()
        assert pauses.calls == [("pause", f"west/{ANNA}"), ("unpause", f"west/{ANNA}")]
