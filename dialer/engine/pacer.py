"""Pacing per trunk: never more than `max_channels` calls at once, never faster than `calls_per_second`."""

from __future__ import annotations

import asyncio
from collections import deque

from dialer.core.clock import Clock


class TrunkPacer:
    def __init__(self, name: str, max_channels: int, calls_per_second: float, clock: Clock) -> None:
        self.name = name
        self.max_channels = max_channels
        self._interval = 1.0 / calls_per_second
        self._clock = clock
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._start_lock = asyncio.Lock()
        self._next_start = 0.0
        self.in_use = 0
        self.peak = 0

    async def acquire(self) -> None:
        """Wait for a free channel. The call itself must still wait for `start_token` before it goes out."""
        while self.in_use >= self.max_channels:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_next()  # woken, then cancelled: the freed slot goes to the next in line
                raise
        self._take()

    async def start_token(self) -> None:
        """Wait for the next start the call rate allows; taken right before the Originate is sent."""
        async with self._start_lock:
            wait = self._next_start - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            self._next_start = max(self._clock.monotonic(), self._next_start) + self._interval

    def occupy(self) -> bool:
        """Count a call found alive after a restart, if a slot is free right now."""
        if self.in_use >= self.max_channels:
            return False
        self._take()
        return True

    def release(self) -> None:
        self.in_use -= 1
        self._wake_next()

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _take(self) -> None:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)

    @property
    def free(self) -> int:
        return self.max_channels - self.in_use
