"""The reminder funnel on the live board: counted beside the board, never in its way.

The funnel counts a visit day's reminders: every visit of the day with its calls and its messages. On a chain's
busiest clinic (some 38,000 visits tomorrow) that is over half a second on PostgreSQL, ten times what the rest
of a board reads, and the board is built every second. The funnel moves a call at a time, so each board shows
the latest count, and the next count starts in the background once the last one is older than ten times what
it took (and at least a second): on a clinic of ordinary size the funnel is a second behind the calls, as it
always was; on the busiest about seven seconds, and its counting takes a tenth of one database connection.
Only the first board of a clinic's day waits for its count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

from dialer.core.clock import Clock
from dialer.core.privacy import describe_error
from dialer.core.records import DaySummary

log = logging.getLogger("dialer.board")

SPACING = 10.0  # a count waits this many times its own duration after the last one
AT_LEAST_SECONDS = 1.0

CountFunnel = Callable[[str, date], Awaitable[DaySummary]]


@dataclass(frozen=True)
class _Count:
    summary: DaySummary
    started: float  # the clock's monotonic seconds when the count began: what it shows is as of then
    took: float

    def due(self, now: float) -> bool:
        return now - self.started >= max(AT_LEAST_SECONDS, SPACING * self.took)


@dataclass
class FunnelWatch:
    count: CountFunnel  # a clinic's funnel of one visit day, read from the database
    clock: Clock
    _latest: dict[str, tuple[date, _Count]] = field(default_factory=dict)
    _counting: dict[tuple[str, date], asyncio.Task[DaySummary]] = field(default_factory=dict)

    async def summary(self, clinic_id: str, day: date) -> DaySummary:
        """The latest count of the clinic's funnel for `day`, with a fresh count started when it is due."""
        latest = self._latest.get(clinic_id)
        if latest is None or latest[0] != day:
            return await asyncio.shield(self._start(clinic_id, day))
        count = latest[1]
        if count.due(self.clock.monotonic()):
            self._start(clinic_id, day)
        return count.summary

    def _start(self, clinic_id: str, day: date) -> asyncio.Task[DaySummary]:
        key = (clinic_id, day)
        running = self._counting.get(key)
        if running is None:
            running = asyncio.create_task(self._recount(clinic_id, day), name=f"funnel-{clinic_id}")
            self._counting[key] = running
            running.add_done_callback(lambda task: self._ended(key, task))
        return running

    async def _recount(self, clinic_id: str, day: date) -> DaySummary:
        started = self.clock.monotonic()
        summary = await self.count(clinic_id, day)
        count = _Count(summary, started, self.clock.monotonic() - started)
        latest = self._latest.get(clinic_id)
        if latest is None or latest[0] <= day:  # a count of yesterday's visits ending late does not step back
            self._latest[clinic_id] = (day, count)
        return summary

    def _ended(self, key: tuple[str, date], task: asyncio.Task[DaySummary]) -> None:
        self._counting.pop(key, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:  # the board goes on with the last count; the next build tries again
            log.error("the reminder funnel of %s could not be counted: %s", key[0], describe_error(error))

    async def close(self) -> None:
        """Stop the counts still running: the service is stopping and its database goes with it."""
        running = list(self._counting.values())
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
