"""Finished inbound calls, and the gaps in what the service saw of Asterisk."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.records import InboundCallRow
from dialer.storage.schema import ami_gaps, inbound_calls, marks
from dialer.storage.upsert import insert_dialect, insert_ignore


async def record_call(conn: AsyncConnection, row: InboundCallRow) -> bool:
    """Store a finished inbound call once, in the caller's transaction; False if its id was stored before."""
    result = await conn.execute(
        insert_ignore(conn, inbound_calls, ["call_id"]).values(
            call_id=row.call_id,
            clinic_id=row.clinic_id,
            did=row.did,
            queue=row.queue,
            caller=row.caller,
            hidden=row.hidden,
            started_at=row.started_at,
            answered_at=row.answered_at,
            ended_at=row.ended_at,
            waited=row.waited,
            answered_by=row.answered_by,
            miss_reason=row.miss_reason,
            task_id=row.task_id,
            source=row.source,
            queue_channel=row.queue_channel,
        )
    )
    return bool(result.rowcount)


class SqlInboundStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, row: InboundCallRow) -> bool:
        async with self.engine.begin() as conn:
            return await record_call(conn, row)

    async def known(self, call_ids: Collection[str]) -> set[str]:
        if not call_ids:
            return set()
        ids = list(call_ids)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(inbound_calls.c.call_id, inbound_calls.c.queue_channel).where(
                    inbound_calls.c.call_id.in_(ids) | inbound_calls.c.queue_channel.in_(ids)
                )
            )
            return {value for row in rows for value in row if value in call_ids}

    async def open_gap(self, clinic_id: str, at: datetime, reason: str) -> int:
        async with self.engine.begin() as conn:
            return int(
                (
                    await conn.execute(
                        insert(ami_gaps)
                        .values(clinic_id=clinic_id, started_at=at, reason=reason)
                        .returning(ami_gaps.c.gap_id)
                    )
                ).scalar_one()
            )

    async def close_gaps(
        self, at: datetime, clinic_ids: Collection[str] | None = None
    ) -> list[tuple[int, datetime]]:
        if clinic_ids is not None and not clinic_ids:
            return []
        query = select(ami_gaps.c.gap_id, ami_gaps.c.started_at).where(ami_gaps.c.ended_at.is_(None))
        if clinic_ids is not None:
            query = query.where(ami_gaps.c.clinic_id.in_(list(clinic_ids)))
        async with self.engine.begin() as conn:
            rows = list(await conn.execute(query))
            if rows:
                closing = [r.gap_id for r in rows]  # those read, not any opened since
                await conn.execute(update(ami_gaps).where(ami_gaps.c.gap_id.in_(closing)).values(ended_at=at))
        return [(int(r.gap_id), r.started_at) for r in rows]

    async def mark(self, name: str, at: datetime) -> None:
        async with self.engine.begin() as conn:
            stmt = insert_dialect(conn, marks)
            await conn.execute(
                stmt.values(name=name, at=at).on_conflict_do_update(
                    index_elements=["name"], set_={"at": stmt.excluded.at}
                )
            )

    async def mark_of(self, name: str) -> datetime | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(marks.c.at).where(marks.c.name == name))).scalar()
