"""Pacing per trunk: never more than `max_channels` calls at once, never faster than `calls_per_second`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TrunkPacer:
    def __init__(
        self,
        name: str,
        max_channels: int,
        calls_per_second: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_channels = max_channels
        self._interval = 1.0 / calls_per_second
        self._monotonic = monotonic
        self._slots = asyncio.Semaphore(max_channels)
        self._start_lock = asyncio.Lock()
        self._next_start = 0.0
        self.in_use = 0
        self.peak = 0

    async def acquire(self) -> None:
        """Wait for a free channel. The call itself must still wait for `start_token` before it goes out."""
        await self._slots.acquire()
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)

    async def start_token(self) -> None:
        """Wait for the next start the call rate allows; taken right before the Originate is sent."""
        async with self._start_lock:
            wait = self._next_start - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_start = max(self._monotonic(), self._next_start) + self._interval

    def occupy(self) -> bool:
        """Count a call found alive after a restart, if a slot is free right now."""
        if self._slots.locked():
            return False
        self._slots._value -= 1
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
        return True

    def release(self) -> None:
        self.in_use -= 1
        self._slots.release()

    @property
    def free(self) -> int:
        return self.max_channels - self.in_use
