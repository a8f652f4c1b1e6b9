"""Handing a free administrator to the waiting callbacks: the most urgent at the moment of hand-out, so a
callback whose deadline passes while it waits gives way to one that can still be in time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dialer.campaigns.callbacks import CallbackPolicy, priority_key
from dialer.core.clock import FakeClock
from dialer.core.pbx_links import queue_key
from dialer.core.queues import AdminState, QueueState
from dialer.engine.dispatch import AdminDispatcher, Rank

QUEUE, ANNA = "reception", "Local/admin1@agents"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def first_attempt(deadline: datetime) -> Rank:
    return lambda now: priority_key(
        CallbackPolicy(), missed_at=deadline - 15 * MIN, deadline=deadline, due_at=T0, attempt_n=1, now=now
    )


def anna_is(queues: QueueState, status: str) -> None:
    queues.feed(
        {"Event": "QueueMember", "Queue": QUEUE, "Interface": ANNA, "StateInterface": ANNA, "Status": status},
        T0,
    )


async def test_the_callback_still_in_time_gets_the_administrator_when_the_other_deadline_has_passed() -> None:
    clock = FakeClock(T0)
    queues = QueueState()
    anna_is(queues, "2")  # on a call
    dispatcher = AdminDispatcher(queues, clock, asyncio.Event())
    soon = asyncio.create_task(dispatcher.acquire([QUEUE], first_attempt(T0 + 2 * MIN)))
    later = asyncio.create_task(dispatcher.acquire([QUEUE], first_attempt(T0 + 6 * MIN)))
    await asyncio.sleep(0)
    assert dispatcher.waiting == 2

    clock.advance(3 * MIN)  # the first deadline passes while Anna talks
    anna_is(queues, "1")
    dispatcher.release("nobody", [QUEUE])  # any change makes the dispatcher hand out again
    await asyncio.sleep(0)
    assert later.done() and later.result() == ANNA and not soon.done()

    # Had Anna been free before the first deadline, the nearest deadline would have gone first.
    soon.cancel()
    queues.reserved.clear()
    early = AdminDispatcher(queues, FakeClock(T0), asyncio.Event())
    anna_is(queues, "2")
    a = asyncio.create_task(early.acquire([QUEUE], first_attempt(T0 + 6 * MIN)))
    b = asyncio.create_task(early.acquire([QUEUE], first_attempt(T0 + 2 * MIN)))
    await asyncio.sleep(0)
    anna_is(queues, "1")
    early.release("nobody", [QUEUE])
    await asyncio.sleep(0)
    assert b.done() and b.result() == ANNA and not a.done()
    a.cancel()


async def test_namesake_administrators_on_two_asterisks_are_reserved_and_rest_apart() -> None:
    """Both Asterisks have a queue «reception» with a «Local/admin1@agents» in it (two clinics' phones 101, as
    FreePBX names them): ringing west's for a callback, and her resting after letting it ring out, leave
    east's free for east's callbacks."""
    clock = FakeClock(T0)
    queues = QueueState()
    for pbx in ("west", "east"):
        queues.feed({"Event": "QueueMember", "Queue": QUEUE, "Interface": ANNA, "Status": "1"}, T0, pbx)
    west, east = (queue_key(QUEUE, "west"),), (queue_key(QUEUE, "east"),)
    dispatcher = AdminDispatcher(queues, clock, asyncio.Event())

    got = await asyncio.wait_for(dispatcher.acquire(west, first_attempt(T0 + 5 * MIN)), 1)
    assert got == ANNA
    assert queues.admins(west, T0) == {ANNA: AdminState.RINGING}  # the dialer rings her
    assert queues.admins(east, T0) == {ANNA: AdminState.FREE}
    assert dispatcher.free(east) == [ANNA]

    dispatcher.release(ANNA, west, answered=False)  # west's admin1 let the callback ring out: she rests
    assert dispatcher.free(west) == [] and dispatcher.free(east) == [ANNA]
    got = await asyncio.wait_for(dispatcher.acquire(east, first_attempt(T0 + 5 * MIN)), 1)
    assert got == ANNA and queues.admins(west, T0) == {ANNA: AdminState.FREE}
    clock.advance(2 * MIN)
    assert dispatcher.free(west) == [ANNA] and dispatcher.free(east) == []  # east's is still being rung
