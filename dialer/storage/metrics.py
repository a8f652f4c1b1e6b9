"""The aggregate reads behind /metrics and /ready: one grouped count per series, on indexed columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.metrics import Tally
from dialer.core.records import TaskState
from dialer.storage.schema import attempts, callback_tasks, leases, sms_messages, targets
from dialer.storage.types import UtcDateTime


class SqlMetricsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def attempts_by_result(self, since: datetime) -> list[Tally]:
        query = (
            select(targets.c.campaign, attempts.c.result, func.count())
            .select_from(attempts.join(targets, attempts.c.target_id == targets.c.target_id))
            .where(attempts.c.created_at >= since, attempts.c.result.is_not(None))
            .group_by(targets.c.campaign, attempts.c.result)
        )
        return await self._tallies(query)

    async def sms_by_state(self, since: datetime) -> list[Tally]:
        if self.engine.dialect.name == "sqlite":
            # Without statistics SQLite would rather walk the whole table in the (provider, id) index's order
            # for the GROUP BY (0.7 s on 170,000 messages) than read the day's range of created_at.
            query = text(
                "SELECT provider, status, count(*) FROM sms_messages INDEXED BY ix_sms_messages_created "
                "WHERE created_at >= :since GROUP BY provider, status"
            ).bindparams(bindparam("since", since, type_=UtcDateTime()))
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            return [Tally(str(a), str(b), int(n)) for a, b, n in rows]
        return await self._tallies(
            select(sms_messages.c.provider, sms_messages.c.status, func.count())
            .where(sms_messages.c.created_at >= since)
            .group_by(sms_messages.c.provider, sms_messages.c.status)
        )

    async def callbacks_by_state(self) -> list[Tally]:
        query = select(callback_tasks.c.clinic_id, callback_tasks.c.state, func.count()).group_by(
            callback_tasks.c.clinic_id, callback_tasks.c.state
        )
        return await self._tallies(query)

    async def nearest_open_deadlines(self) -> dict[str, datetime]:
        query = (
            select(callback_tasks.c.clinic_id, func.min(callback_tasks.c.deadline_at))
            .where(callback_tasks.c.state == TaskState.OPEN.value)
            .group_by(callback_tasks.c.clinic_id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()  # min() keeps the column's type: aware UTC instants
        return {str(clinic): deadline for clinic, deadline in rows if deadline is not None}

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        query = select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at >= now)
        async with self.engine.connect() as conn:
            holder = await conn.scalar(query)
        return None if holder is None else str(holder)

    async def _tallies(self, query: Select[Any]) -> list[Tally]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Tally(str(a), str(b), int(n)) for a, b, n in rows]
