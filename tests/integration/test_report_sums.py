"""The day's and the week's report: its service level added up by the database gives the same figures as the
period's rows read into Python, on SQLite and PostgreSQL alike: in a half-hour zone, across a night the clocks
go back, and on the edges of the 15-minute callback deadline."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from dialer.core.records import TaskState
from dialer.core.sla import ANSWER_TARGET_SECONDS, figures
from dialer.core.sla_sums import CallSums
from dialer.engine.reports import period_service_level
from dialer.settings import ClinicSettings
from dialer.storage.repository import Storage
from dialer.storage.schema import callback_tasks, inbound_calls
from dialer.web.period_report import Period
from tests.integration.test_sla_sums import _calls, _tasks


def _deadline_edges(clinic: str, at: datetime) -> list[dict[str, object]]:
    """Callbacks first called (and reached) exactly at their deadline, a second after it, and not called yet:
    the first count as in time, the second is a breach, the last a breach only once its deadline has passed."""
    deadline = at + timedelta(minutes=15)
    moments: list[tuple[datetime | None, datetime | None]] = [
        (deadline, deadline),
        (deadline + timedelta(seconds=1), deadline + timedelta(seconds=1)),
        (None, None),
    ]
    return [
        {
            "clinic_id": clinic,
            "phone": f"+7926{i:07d}",
            "state": TaskState.OPEN.value,
            "reason": "abandoned",
            "first_call_id": f"{clinic}-edge{at:%d%H%M}-{i}",
            "first_missed_at": at,
            "last_missed_at": at,
            "starts_at": at,
            "deadline_at": deadline,
            "first_attempt_at": first,
            "contacted_at": contact,
        }
        for i, (first, contact) in enumerate(moments)
    ]


@pytest.mark.parametrize(
    ("zone", "day", "period"),
    [
        ("Asia/Kolkata", date(2026, 12, 3), Period.DAY),  # local hours start on the half hour
        ("Europe/Berlin", date(2026, 10, 25), Period.DAY),  # 25 hours: the clocks go back
        ("Europe/Berlin", date(2026, 10, 21), Period.WEEK),  # Monday 19th to Sunday 25th
    ],
)
async def test_the_summed_report_equals_the_period_read_row_by_row(
    database_url: str, zone: str, day: date, period: Period
) -> None:
    tz = ZoneInfo(zone)
    clinic = ClinicSettings(id="c1", name="Клиника", timezone=tz)
    start, end = period.bounds(clinic, day)
    rng = random.Random(f"{zone}{day}")
    storage = await Storage.open(database_url)
    try:
        async with storage.engine.begin() as conn:
            for name, n in (("c1", 1500), ("c2", 300)):  # c2's calls must not count into c1's report
                for first in range(period.days):
                    opening = start + timedelta(days=first)
                    call_rows = _calls(rng, name, opening, n // period.days)
                    for row in call_rows:
                        row["call_id"] = f"{row['call_id']}-{first}"
                    await conn.execute(insert(inbound_calls), call_rows)
                    task_rows = _tasks(rng, name, opening, n // 10 // period.days)
                    for row in task_rows:
                        row["first_call_id"] = f"{row['first_call_id']}-{first}"
                    await conn.execute(insert(callback_tasks), task_rows)
            # The night the clocks go back: 02:30 comes twice, and the second is an hour after the first.
            last = period.first_day(day) + timedelta(days=period.days - 1)
            twice = datetime.combine(last, time(2, 30), tz)
            for at in (twice, twice.replace(fold=1), end - timedelta(minutes=10)):
                await conn.execute(insert(callback_tasks), _deadline_edges("c1", at))
        store = storage.sla
        calls, tasks = await store.rows("c1", start, end)
        assert len(calls) > 1000 and len(tasks) > 100
        # Before the last edges' deadline (their open one not breached yet) and after it (breached).
        for now in (end - timedelta(minutes=5), end + timedelta(hours=1)):
            expected = figures(calls, tasks, now.astimezone(UTC))
            summed = await period_service_level(store, "c1", start, end, now)
            assert summed == expected
        assert expected.breaches > figures(calls, tasks, end - timedelta(minutes=5)).breaches
    finally:
        await storage.close()


async def test_a_period_without_calls_adds_up_to_nothing(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        start = datetime(2026, 12, 3, tzinfo=UTC)
        sums = await storage.sla.period_sums("c1", start, start + timedelta(days=1), ANSWER_TARGET_SECONDS)
        assert sums == CallSums()
        now = start + timedelta(days=2)
        assert await period_service_level(
            storage.sla, "c1", start, start + timedelta(days=1), now
        ) == figures([], [], now)
    finally:
        await storage.close()
