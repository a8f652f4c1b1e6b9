"""Handing free administrators to waiting callbacks, most urgent first.

A callback waits here until an administrator of its clinic is free: not on a call, not ringing, not paused,
not in wrap-up, not already being rung by the dialer, and with nobody waiting in their queue (a live caller
comes before a callback). An administrator who let a callback ring out rests for a minute.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.core.clock import Clock
from dialer.core.queues import QueueState
from dialer.engine.loops import forever

log = logging.getLogger("dialer.dispatch")

REST_AFTER_NO_ANSWER = timedelta(minutes=1)
TICK_SECONDS = 1.0


# The rank of a waiting callback at a given moment: the smallest is served first. A moment, because a callback's
# urgency changes while it waits (its deadline passes).
Rank = Callable[[datetime], tuple[float, float]]


@dataclass
class _Waiter:
    rank: Rank
    seq: int
    queues: tuple[str, ...]
    future: asyncio.Future[str]


async def granted(future: asyncio.Future[str], give_back: Callable[[str], None]) -> str:
    """The administrator handed to a waiting callback; one handed to it just as it is cancelled is given back."""
    try:
        return await future
    except asyncio.CancelledError:
        if future.done() and not future.cancelled():
            give_back(future.result())
        raise


class AdminDispatcher:
    def __init__(self, queues: QueueState, clock: Clock, changed: asyncio.Event) -> None:
        self.queues = queues
        self.clock = clock
        self.changed = changed
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._resting: dict[str, datetime] = {}  # by seat (QueueState.seat)

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiting if not w.future.done())

    def free(self, queues: Sequence[str]) -> list[str]:
        now = self.clock.now()
        if self.queues.waiting_count(queues):
            return []
        return [
            i
            for i in self.queues.free(queues, now)
            if self._resting.get(self.queues.seat(i, queues), now) <= now
        ]

    async def acquire(self, queues: Sequence[str], rank: Rank) -> str:
        """Wait for a free administrator of these queues; they are reserved until `release`."""
        waiter = _Waiter(rank, next(self._seq), tuple(queues), asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        self._assign()
        return await granted(waiter.future, lambda interface: self.release(interface, queues))

    def release(self, interface: str, queues: Sequence[str], *, answered: bool = True) -> None:
        """Give back the administrator `acquire` gave for these queues."""
        seat = self.queues.seat(interface, queues)
        self.queues.reserved.discard(seat)
        if not answered:
            self._resting[seat] = self.clock.now() + REST_AFTER_NO_ANSWER
            log.info("administrator %s did not pick up a callback; resting a minute", interface)
        self._assign()

    def _assign(self) -> None:
        now = self.clock.now()
        live = sorted((w for w in self._waiting if not w.future.done()), key=lambda w: (w.rank(now), w.seq))
        self._waiting = []
        for waiter in live:
            free = self.free(waiter.queues)
            if free:
                self.queues.reserved.add(self.queues.seat(free[0], waiter.queues))
                waiter.future.set_result(free[0])
            else:
                self._waiting.append(waiter)

    async def run(self) -> None:
        """Re-assign whenever the queues change, and every second (wrap-up and rest periods end silently)."""

        async def turn() -> None:
            await self.clock.wait_for(self.changed, TICK_SECONDS)
            self.changed.clear()
            self._assign()

        await forever("dispatcher", turn, self.clock)
