"""Daily jobs at a clinic's local time, on the service's clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialer.core.clock import FakeClock
from dialer.engine.daily import DailyJob, next_run, run_daily

OMSK, BERLIN = ZoneInfo("Asia/Omsk"), ZoneInfo("Europe/Berlin")


def test_the_next_run_is_today_if_still_ahead_else_tomorrow() -> None:
    at = time(3, 30)
    before = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # 03:00 in Omsk on the 2nd
    assert next_run(at, OMSK, before) == datetime(2026, 12, 2, 3, 30, tzinfo=OMSK)
    exactly = datetime(2026, 12, 2, 3, 30, tzinfo=OMSK)
    assert next_run(at, OMSK, exactly) == datetime(2026, 12, 3, 3, 30, tzinfo=OMSK)


def test_a_time_the_clocks_skip_runs_once_that_day() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026: the job runs when the clock jumps past it.
    after = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    first = next_run(time(2, 30), BERLIN, after)
    assert first.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert next_run(time(2, 30), BERLIN, first).date() == datetime(2026, 3, 30).date()


async def test_a_failing_job_is_logged_and_runs_again_the_next_day() -> None:
    clock = FakeClock(datetime(2026, 12, 1, 20, 0, tzinfo=UTC))
    runs: list[datetime] = []

    async def flaky() -> None:
        runs.append(clock.now())
        if len(runs) == 1:
            raise RuntimeError("the database is locked")

    task = asyncio.create_task(run_daily([DailyJob("purge", time(3, 0), OMSK, flaky)], clock))
    await clock.run_for(timedelta(days=2))
    task.cancel()
    assert runs == [datetime(2026, 12, 2, 3, 0, tzinfo=OMSK), datetime(2026, 12, 3, 3, 0, tzinfo=OMSK)]
