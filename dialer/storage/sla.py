"""The rows behind the service-level figures: one clinic's calls and callbacks between two instants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.sla import CallStat, TaskStat
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
            tasks = await conn.execute(
                select(
                    callback_tasks.c.starts_at,
                    callback_tasks.c.deadline_at,
                    callback_tasks.c.first_attempt_at,
                    callback_tasks.c.contacted_at,
                ).where(_in_period(callback_tasks, "starts_at", clinic_id, start, end))
            )
            task_stats = [
                TaskStat(r.starts_at, r.deadline_at, r.first_attempt_at, r.contacted_at) for r in tasks
            ]
        return call_stats, task_stats

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


def _in_period(
    table: Table, column: str, clinic_id: str, start: datetime, end: datetime
) -> ColumnElement[bool]:
    """The clinic's rows whose `column` is in [start, end)."""
    return and_(table.c.clinic_id == clinic_id, table.c[column] >= start, table.c[column] < end)
