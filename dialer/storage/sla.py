"""The rows behind the service-level figures: one clinic's calls and callbacks between two instants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise

from sqlalchemy import ColumnElement, Table, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.sla import CallStat, TaskStat
from dialer.core.sla_sums import CallSums, HourStart
from dialer.storage.schema import callback_tasks, inbound_calls


class SqlSlaStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def rows(
        self, clinic_id: str, start: datetime, end: datetime
    ) -> tuple[list[CallStat], list[TaskStat]]:
        async with self.engine.connect() as conn:
            calls = await conn.execute(
                select(
                    inbound_calls.c.started_at,
                    inbound_calls.c.answered_at,
                    inbound_calls.c.waited,
                    inbound_calls.c.hidden,
                ).where(_in_period(inbound_calls, "started_at", clinic_id, start, end))
            )
            call_stats = [
                CallStat(r.started_at, r.answered_at is not None, float(r.waited), bool(r.hidden))
                for r in calls
            ]
            tasks = await task_stats(conn, clinic_id, start, end)
        return call_stats, tasks

    async def period_sums(self, clinic_id: str, start: datetime, end: datetime, target: float) -> CallSums:
        """The clinic's calls of [start, end) added up in one row: a day or a week of the report, whatever the
        hours or the clock changes in between."""
        async with self.engine.connect() as conn:
            return await period_sums(conn, clinic_id, start, end, target)

    async def period_sums_and_tasks(
        self, clinic_id: str, start: datetime, end: datetime, target: float
    ) -> tuple[CallSums, list[TaskStat]]:
        """`period_sums` and `task_rows` of the same period on one connection."""
        async with self.engine.connect() as conn:
            sums = await period_sums(conn, clinic_id, start, end, target)
            return sums, await task_stats(conn, clinic_id, start, end)

    async def task_rows(self, clinic_id: str, start: datetime, end: datetime) -> list[TaskStat]:
        async with self.engine.connect() as conn:
            return await task_stats(conn, clinic_id, start, end)

    async def recent(self, clinic_id: str, since: datetime) -> tuple[int, int]:
        """Calls and misses since an instant (the overload alert's last 15 minutes)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.count(inbound_calls.c.miss_reason)).where(
                        and_(inbound_calls.c.clinic_id == clinic_id, inbound_calls.c.ended_at >= since)
                    )
                )
            ).one()
        return int(row[0]), int(row[1])


async def period_sums(
    conn: AsyncConnection, clinic_id: str, start: datetime, end: datetime, target: float
) -> CallSums:
    """`SqlSlaStore.period_sums` on a connection the caller holds."""
    answered = inbound_calls.c.answered_at.is_not(None)
    query = select(
        func.count(),
        func.count().filter(answered),
        func.count().filter(and_(answered, inbound_calls.c.waited <= target)),
        func.coalesce(func.sum(inbound_calls.c.waited), 0.0),
        func.count().filter(inbound_calls.c.hidden),
    ).where(_in_period(inbound_calls, "started_at", clinic_id, start, end))
    row = (await conn.execute(query)).one()
    return CallSums(int(row[0]), int(row[1]), int(row[2]), float(row[3]), int(row[4]))


async def call_sums(
    conn: AsyncConnection, clinic_id: str, hours: Sequence[HourStart], end: datetime, target: float
) -> dict[int, CallSums]:
    """`SqlSlaStore.call_sums` on a connection the caller holds."""
    if not hours:
        return {}
    started = inbound_calls.c.started_at
    hour = case(
        *[(started < later.at, earlier.hour) for earlier, later in pairwise(hours)],
        else_=hours[-1].hour,
    )
    answered = inbound_calls.c.answered_at.is_not(None)
    calls = (
        select(
            hour.label("hour"),
            case((answered, 1), else_=0).label("answered"),
            case((and_(answered, inbound_calls.c.waited <= target), 1), else_=0).label("in_target"),
            inbound_calls.c.waited,
            case((inbound_calls.c.hidden, 1), else_=0).label("hidden"),
        )
        .where(_in_period(inbound_calls, "started_at", clinic_id, hours[0].at, end))
        .subquery()
    )
    query = select(
        calls.c.hour,
        func.count(),
        func.sum(calls.c.answered),
        func.sum(calls.c.in_target),
        func.sum(calls.c.waited),
        func.sum(calls.c.hidden),
    ).group_by(calls.c.hour)
    return {
        int(r[0]): CallSums(int(r[1]), int(r[2]), int(r[3]), float(r[4]), int(r[5]))
        for r in await conn.execute(query)
    }


async def task_stats(conn: AsyncConnection, clinic_id: str, start: datetime, end: datetime) -> list[TaskStat]:
    """The clinic's callback tasks that start in [start, end)."""
    tasks = await conn.execute(
        select(
            callback_tasks.c.starts_at,
            callback_tasks.c.deadline_at,
            callback_tasks.c.first_attempt_at,
            callback_tasks.c.contacted_at,
        ).where(_in_period(callback_tasks, "starts_at", clinic_id, start, end))
    )
    return [TaskStat(r.starts_at, r.deadline_at, r.first_attempt_at, r.contacted_at) for r in tasks]


def _in_period(
    table: Table, column: str, clinic_id: str, start: datetime, end: datetime
) -> ColumnElement[bool]:
    """The clinic's rows whose `column` is in [start, end)."""
    return and_(table.c.clinic_id == clinic_id, table.c[column] >= start, table.c[column] < end)
