"""The board's service level added up by the database gives the same figures as the day's rows read into
Python, on SQLite and PostgreSQL alike, in a whole-hour zone and a half-hour one."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from dialer.core.records import TaskState
from dialer.core.sla import ANSWER_TARGET_SECONDS, by_hour, figures
from dialer.core.sla_sums import hour_starts, summed_day
from dialer.storage.repository import Storage
from dialer.storage.schema import callback_tasks, inbound_calls

DAY = date(2026, 12, 3)


def _calls(rng: random.Random, clinic: str, start: datetime, n: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(n):
        # The day's edges and hour edges exactly, and some minutes either side of the day.
        offset = (
            rng.choice([0, 3600, 86_399, 86_400, -1, 1800]) if i % 10 == 0 else rng.uniform(-3600, 90_000)
        )
        at = start + timedelta(seconds=offset)
        answered = rng.random() < 0.8
        waited = rng.choice([20.0, 19.9, 20.1, 0.0]) if i % 7 == 0 else round(rng.uniform(0, 90), 2)
        rows.append(
            {
                "call_id": f"{clinic}-{i}",
                "clinic_id": clinic,
                "started_at": at,
                "answered_at": at + timedelta(seconds=waited) if answered else None,
                "ended_at": at + timedelta(seconds=waited + 60),
                "waited": waited,
                "hidden": rng.random() < 0.1,
                "miss_reason": None if answered else "abandoned",
            }
        )
    return rows


def _tasks(rng: random.Random, clinic: str, start: datetime, n: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(n):
        at = start + timedelta(seconds=rng.uniform(-3600, 90_000))
        first = at + timedelta(seconds=rng.uniform(0, 1800)) if rng.random() < 0.8 else None
        contact = first + timedelta(seconds=rng.uniform(0, 900)) if first and rng.random() < 0.6 else None
        rows.append(
            {
                "clinic_id": clinic,
                "phone": f"+7916{i:07d}",
                "state": TaskState.OPEN.value,
                "reason": "abandoned",
                "first_call_id": f"{clinic}-t{i}",
                "first_missed_at": at,
                "last_missed_at": at,
                "starts_at": at,
                "deadline_at": at + timedelta(minutes=15),
                "first_attempt_at": first,
                "contacted_at": contact,
            }
        )
    return rows


@pytest.mark.parametrize("zone", ["Asia/Yekaterinburg", "Asia/Kolkata"])
async def test_the_summed_day_equals_the_day_read_row_by_row(database_url: str, zone: str) -> None:
    tz = ZoneInfo(zone)
    start = datetime.combine(DAY, time(0), tz)
    end = start + timedelta(days=1)
    now = datetime.combine(DAY, time(15, 30), tz).astimezone(UTC)
    rng = random.Random(zone)
    storage = await Storage.open(database_url)
    try:
        async with storage.engine.begin() as conn:
            for clinic, n in (("c1", 1500), ("c2", 300)):  # c2's calls must not count into c1's day
                await conn.execute(insert(inbound_calls), _calls(rng, clinic, start, n))
                await conn.execute(insert(callback_tasks), _tasks(rng, clinic, start, n // 10))
        calls, tasks = await storage.sla.rows("c1", start, end)
        assert len(calls) > 1000 and tasks
        hours = hour_starts(DAY, tz)
        board = await storage.board.board_rows("c1", hours, end, ANSWER_TARGET_SECONDS)
        assert board.tasks == tasks
        day, per_hour = summed_day(board.sums, board.tasks, tz, now)
        assert day == figures(calls, tasks, now)
        assert per_hour == by_hour(calls, tasks, tz, now)
        assert len(per_hour) == 24
    finally:
        await storage.close()
