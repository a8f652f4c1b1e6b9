"""Pacing per trunk: never more than `max_channels` calls at once, never faster than `calls_per_second`."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from dialer.core.clock import Clock
from dialer.settings import TrunkSettings


class PacerSlot:
    """One channel of a trunk, held from before an attempt is written until its call ends.

    It is given back exactly once, by whoever ends the call: the desk takes it over (`take`) when it
    places the call, and a slot that was taken over or released frees nothing more."""

    def __init__(self, pacer: TrunkPacer) -> None:
        self._pacer: TrunkPacer | None = pacer

    @property
    def held(self) -> bool:
        return self._pacer is not None

    def take(self) -> PacerSlot:
        """Move the channel to a new holder; this one is empty from now on."""
        pacer, self._pacer = self._pacer, None
        if pacer is None:
            raise RuntimeError("this pacer slot was already given back or handed over")
        return PacerSlot(pacer)

    async def start_token(self) -> None:
        if self._pacer is not None:
            await self._pacer.start_token()

    def release(self) -> None:
        pacer, self._pacer = self._pacer, None
        if pacer is not None:
            pacer._give_back()


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

    async def acquire(self) -> PacerSlot:
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
        return self._take()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[PacerSlot]:
        """A channel for the body: given back at its end unless the call desk took it over for a call."""
        held = await self.acquire()
        try:
            yield held
        finally:
            held.release()

    async def start_token(self) -> None:
        """Wait for the next start the call rate allows; taken right before the Originate is sent."""
        async with self._start_lock:
            wait = self._next_start - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            self._next_start = max(self._clock.monotonic(), self._next_start) + self._interval

    def occupy(self) -> PacerSlot | None:
        """A channel for a call found alive after a restart, if one is free right now."""
        if self.in_use >= self.max_channels:
            return None
        return self._take()

    def _give_back(self) -> None:
        self.in_use -= 1
        self._wake_next()

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _take(self) -> PacerSlot:
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)
        return PacerSlot(self)

    @property
    def free(self) -> int:
        return self.max_channels - self.in_use


def trunk_pacers(trunks: Mapping[str, TrunkSettings], clock: Clock) -> dict[str, TrunkPacer]:
    """One pacer for each trunk, by its name."""
    return {name: TrunkPacer(name, t.max_channels, t.calls_per_second, clock) for name, t in trunks.items()}
