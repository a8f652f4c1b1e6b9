"""Where time comes from, and the only way the service waits for it.

Pure code takes `now` as a parameter. Everything that reads the time or waits for it asks a `Clock`:
production runs on `SystemClock`; the demonstration and the tests run on a `RehearsalClock` set to a working
morning in the clinic's own zone, whatever the host's hour; unit tests drive a `FakeClock` by hand, so a whole
calling day or a 15-minute deadline plays in milliseconds.

This is the one module of the core that imports asyncio: waiting is what a clock is for.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

# How often a long wait for an instant looks at the wall clock again: the host's clock may be stepped.
SLEEP_UNTIL_RECHECK = 60.0


class Waitable(Protocol):
    """Something a task can wait on, such as an `asyncio.Event`."""

    async def wait(self) -> Any: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for measuring intervals."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a zero or negative span only yields to the other tasks)."""
        ...

    async def sleep_until(self, instant: datetime) -> None:
        """Wait until `now()` has reached `instant`."""
        ...

    async def wait_for(self, event: Waitable, timeout: float) -> bool:
        """Wait for `event` or `timeout` seconds, whichever comes first; True when the event came."""
        ...

    def outside(self, instant: datetime) -> datetime:
        """`instant` as the world outside the service stamps it (an SMS gateway's message times): the same
        instant, except on a rehearsal's moved clock."""
        ...


class SystemClock:
    """The host's clock: production."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def outside(self, instant: datetime) -> datetime:
        return instant

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, instant: datetime) -> None:
        while (left := (instant - self.now()).total_seconds()) > 0:  # noqa: ASYNC110 - no event marks an instant
            await asyncio.sleep(min(left, SLEEP_UNTIL_RECHECK))

    async def wait_for(self, event: Waitable, timeout: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        return True


class RehearsalClock(SystemClock):
    """The host's clock moved to a chosen instant, then running in real seconds.

    For the demonstration and the tests only: they play "11:00 on a working day in the clinic" whatever the
    host's hour and zone. The shift is fixed, so every process given the same setting shares one time line.
    """

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    @classmethod
    def reading(cls, instant: datetime, at_host_time: datetime | None = None) -> RehearsalClock:
        """A clock that reads `instant` when the host's clock reads `at_host_time` (default: now)."""
        host = at_host_time or datetime.now(UTC)
        return cls(utc(instant) - utc(host))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def outside(self, instant: datetime) -> datetime:
        # The gateways keep the real time: a message sent at the rehearsal's 11:00 bears the host's hour.
        return instant - self.offset


@dataclass(order=True)
class _Sleeper:
    wake_at: float
    seq: int
    future: asyncio.Future[None] = field(compare=False)


class FakeClock:
    """A clock that moves only when told to.

    `advance()` moves time at once and wakes the sleepers that are due (they run when the caller next
    yields); `await run_for()` moves time step by step from one sleeper's deadline to the next, letting the
    woken tasks run at each step, as time would pass in production.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start
        self._mono = 0.0
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def outside(self, instant: datetime) -> datetime:
        return instant

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, _Sleeper(self._mono + seconds, next(self._seq), future))
        await future

    async def sleep_until(self, instant: datetime) -> None:
        await self.sleep((instant - self._now).total_seconds())

    async def wait_for(self, event: Waitable, timeout: float) -> bool:
        waiter = asyncio.ensure_future(event.wait())
        timer = asyncio.ensure_future(self.sleep(timeout))
        try:
            await asyncio.wait({waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, timer):
                if not task.done():
                    task.cancel()
        return waiter.done() and not waiter.cancelled()

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting on this clock."""
        return sum(1 for s in self._sleepers if not s.future.done())

    def next_wake(self) -> float | None:
        """Seconds until the earliest sleeper is due, or None when nobody sleeps."""
        self._drop_cancelled()
        return max(0.0, self._sleepers[0].wake_at - self._mono) if self._sleepers else None

    def advance(self, delta: timedelta | float) -> None:
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("time does not go back")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds
        self._wake_due()

    async def settle(self, turns: int = 50) -> None:
        """Let every task that can run, run (in-memory work needs a few loop turns per await chain).

        Stops as soon as nothing else is ready to run, at most after `turns` turns: `run_for` settles at every
        sleeper's deadline, so a calling day with a 5-second poller is thousands of settles, and fifty empty turns
        each made such a day cost seconds. Readiness is read from CPython's run queue; a loop without one (uvloop)
        gets the full `turns`.
        """
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        for _ in range(turns):
            await asyncio.sleep(0)
            if ready is not None and not ready:
                return

    async def run_for(self, delta: timedelta | float, *, turns: int = 50) -> None:
        """Let `delta` pass, waking each sleeper at its own deadline and letting the tasks run in between."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        end = self._mono + seconds
        await self.settle(turns)
        while (step := self.next_wake()) is not None and self._mono + step <= end:
            self.advance(step)
            await self.settle(turns)
        self.advance(end - self._mono)
        await self.settle(turns)

    async def run_until(self, instant: datetime, *, turns: int = 50) -> None:
        await self.run_for(max(0.0, (instant - self._now).total_seconds()), turns=turns)

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0].future.done():
            heapq.heappop(self._sleepers)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0].wake_at <= self._mono:
            sleeper = heapq.heappop(self._sleepers)
            if not sleeper.future.done():
                sleeper.future.set_result(None)


def utc(dt: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive datetimes are a programming error."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: every instant in dialer carries its zone")
    return dt.astimezone(UTC)
