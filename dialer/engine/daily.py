"""Jobs that run once a day at a clinic's local time, on the service's Clock.

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

log = logging.getLogger("dialer.daily")


@dataclass(frozen=True)
class DailyJob:
    name: str
    at: time  # local time in `zone`
    zone: ZoneInfo
    run: Callable[[], Awaitable[object]]


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
