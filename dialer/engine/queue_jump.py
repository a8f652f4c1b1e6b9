"""Holding the next free administrator for a callback close to its deadline, ahead of the queue's callers.

A callback normally waits while anyone waits in its clinic's queue (dialer/engine/dispatch.py). Close to its
deadline (`[campaigns.callbacks] priority_margin`) a first callback no longer does: the moment an administrator
of the clinic is free, they are paused in the queue with the reason «перезвон», before Asterisk offers them the
next caller, and the callback rings them. The pause is lifted when the callback ends, however it ends; one left
over from a lost link or an earlier run is lifted at the next link-up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from datetime import timedelta

from dialer.core.callback_priority import (
    PAUSE_REASON,
    AheadLog,
    AheadOfQueue,
    WaitingCallback,
    next_ahead_of_queue,
    queue_stays_staffed,
)
from dialer.core.clock import Clock
from dialer.core.ports import TelephonyUnavailable
from dialer.core.queue_pauses import QueuePauses
from dialer.core.queues import QueueState
from dialer.engine.dispatch import granted
from dialer.engine.loops import forever

log = logging.getLogger("dialer.queue_jump")

TICK_SECONDS = 0.5  # a callback enters its margin without any queue event


@dataclass
class _Waiter:
    callback: WaitingCallback
    task_id: int
    queues: tuple[str, ...]
    future: asyncio.Future[str]


class QueueJump:
    def __init__(
        self,
        *,
        queues: QueueState,
        pauses: QueuePauses,
        clock: Clock,
        margin: timedelta,
        changed: asyncio.Event,
        ahead: AheadLog,
    ) -> None:
        """`changed` is set at each change of the queues' state."""
        self.queues = queues
        self.pauses = pauses
        self.clock = clock
        self.margin = margin
        self.changed = changed
        self.ahead = ahead
        self._waiting: dict[str, _Waiter] = {}
        self._seq = itertools.count()
        # Seats (QueueState.seat), as the pauses name them.
        self._held: set[str] = set()  # paused by us for a callback that is still on
        self._to_unpause: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.margin > timedelta(0)

    async def take(self, callback: WaitingCallback, task_id: int, queues: tuple[str, ...]) -> str:
        """Wait until this callback may go ahead of the queue and an administrator is free for it; they are
        paused in the queue until `release`."""
        key = f"{callback.key}#{next(self._seq)}"
        waiter = _Waiter(callback, task_id, queues, asyncio.get_running_loop().create_future())
        self._waiting[key] = waiter
        self.changed.set()
        try:
            return await granted(waiter.future, lambda interface: self.release(interface, queues))
        finally:
            self._waiting.pop(key, None)

    def release(self, interface: str, queues: tuple[str, ...]) -> None:
        """The callback on this administrator of these queues is over (or never placed): lift our pause."""
        seat = self.queues.seat(interface, queues)
        if seat in self._held:
            self._held.discard(seat)
            # Still paused: nobody takes them before the unpause.
            self.queues.reserved.discard(seat)
            self._to_unpause.add(seat)
            self.changed.set()

    async def link_up(self) -> None:
        """Lift the pauses we are not holding any more: left by a run that ended, or by a lost link."""
        try:
            ours = await self.pauses.paused_with(PAUSE_REASON)
        except TelephonyUnavailable as err:
            log.warning("paused administrators not checked: %s", err)
            return
        self._to_unpause |= ours - self._held
        await self._unpause_all()

    async def run(self) -> None:
        async def turn() -> None:
            await self.clock.wait_for(self.changed, TICK_SECONDS)
            self.changed.clear()
            await self._unpause_all()
            for waiter, interface in self._assign():
                await self._grant(waiter, interface)

        await forever("queue jump", turn, self.clock)

    def _assign(self) -> list[tuple[_Waiter, str]]:
        now = self.clock.now()
        candidates = {w.callback.key: w for w in self._waiting.values() if not w.future.done()}
        granted: list[tuple[_Waiter, str]] = []
        while choice := next_ahead_of_queue([w.callback for w in candidates.values()], now, self.margin):
            waiter = candidates.pop(choice.key)
            if not self.queues.waiting_count(waiter.queues):
                continue  # nobody to go ahead of: the ordinary hand-out serves it
            states = self.queues.admins(waiter.queues, now)
            ours = self._held | self._to_unpause
            free = [
                i
                for i in self.queues.free(waiter.queues, now)
                if self.queues.seat(i, waiter.queues) not in ours and queue_stays_staffed(states, i)
            ]
            if free:
                seat = self.queues.seat(free[0], waiter.queues)
                self.queues.reserved.add(seat)
                self._held.add(seat)
                granted.append((waiter, free[0]))
        return granted

    async def _grant(self, waiter: _Waiter, interface: str) -> None:
        seat = self.queues.seat(interface, waiter.queues)
        try:
            await self.pauses.pause(seat, PAUSE_REASON)
        except TelephonyUnavailable as err:
            log.warning("administrator %s not paused for a callback: %s", seat, err)
            self._held.discard(seat)
            self.queues.reserved.discard(seat)
            return
        if waiter.future.done():  # served meanwhile by a free administrator the ordinary way
            self.release(interface, waiter.queues)
            return
        self.ahead.add(AheadOfQueue(self.clock.now(), waiter.callback.clinic_id, waiter.task_id, interface))
        log.info("callback %s goes ahead of the queue to %s", waiter.task_id, interface)
        waiter.future.set_result(interface)

    async def _unpause_all(self) -> None:
        for seat in sorted(self._to_unpause - self._held):
            try:
                await self.pauses.unpause(seat)
            except TelephonyUnavailable as err:
                log.warning("administrator %s still paused for a callback: %s", seat, err)
                return  # tried again at the next turn or link-up
            self._to_unpause.discard(seat)
