"""The service's one scheduler for its day jobs, on the service's Clock: the day lists' sweep every minute
(engine/daylists.py), and the jobs that run once a day at a clinic's local time (the retention purge).

The Clock decides, not the host's wall clock: a demonstration or a test on a clinic's morning, and a host in
another zone, run the day's jobs when the clinic's day says so. A job that fails is logged by its type and
tried again the next day; it never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialer.core.clock import Clock
from dialer.core.privacy import describe_error
from dialer.engine.daylists import DayLists
from dialer.engine.loops import forever
from dialer.settings import Settings

log = logging.getLogger("dialer.daily")

SWEEP_EVERY = 60.0


@dataclass(frozen=True)
class DailyJob:
    name: str
    at: time  # local time in `zone`
    zone: ZoneInfo
    run: Callable[[], Awaitable[object]]


class DayJobs:
    """Builds the day lists whose time has come every minute, and runs each daily job at its time."""

    def __init__(self, *, lists: DayLists, daily: Sequence[DailyJob], clock: Clock) -> None:
        self.lists = lists
        self.daily = tuple(daily)
        self._clock = clock

    async def run(self) -> None:
        async def sweep() -> None:
            await self.lists.prepare_due_days()
            await self._clock.sleep(SWEEP_EVERY)

        async with asyncio.TaskGroup() as group:
            group.create_task(forever("list-builder", sweep, self._clock), name="list-builder")
            group.create_task(run_daily(self.daily, self._clock), name="daily-jobs")


def retention_purge(settings: Settings, purge: Callable[[], Awaitable[object]]) -> list[DailyJob]:
    """The purge of personal data, once a day at night in the (first) clinic's zone, unless turned off."""
    retention = settings.retention
    if not retention.enabled:
        return []
    zone = next((c.timezone for c in settings.clinics.values()), ZoneInfo("UTC"))
    return [DailyJob("retention-purge", retention.purge_time, zone, purge)]


def next_run(at: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first instant strictly after `after` when the local clock in `zone` shows `at`.

    On a day when `at` does not exist (a daylight-saving gap) it is the instant the clock jumps past it."""
    day = after.astimezone(zone).date()
    for offset in (0, 1, 2):
        candidate = datetime.combine(day + timedelta(days=offset), at, zone)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: two days ahead is always after")


async def run_daily(jobs: Sequence[DailyJob], clock: Clock) -> None:
    """Run each job every day at its time, for ever."""
    async with asyncio.TaskGroup() as group:
        for job in jobs:
            group.create_task(_every_day(job, clock), name=f"daily:{job.name}")


async def _every_day(job: DailyJob, clock: Clock) -> None:
    while True:
        await clock.sleep_until(next_run(job.at, job.zone, clock.now()))
        try:
            await job.run()
        except Exception as exc:
            log.error("daily job %s failed: %s; next try tomorrow", job.name, describe_error(exc))
