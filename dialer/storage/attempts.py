"""Attempts and their append-only event log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.fencing import Fence
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptBatch, AttemptEnd, AttemptRow, AttemptState, EventRow, Settled
from dialer.storage.fastbatch import SqliteBatchWriter
from dialer.storage.leases import check_fence
from dialer.storage.pgbatch import PgBatchWriter
from dialer.storage.schema import attempt_events, attempts

_OPEN = (AttemptState.DIALING.value, AttemptState.ANSWERED.value)


# The columns an AttemptRow is made of: a row read for one is not made to carry (and convert) the rest.
ATTEMPT_ROW = select(*(attempts.c[f.name] for f in fields(AttemptRow)))


# A stored state read back by a dict lookup: the reminder flow reads hundreds of attempts a batch, and an enum's
# own call costs it ten times as much.
_STATES = {s.value: s for s in AttemptState}
_RESULTS = {r.value: r for r in CallResult}
_SETTLED = {s.value: s for s in Settled}


def attempt_from_row(r: Any) -> AttemptRow:
    return AttemptRow(
        attempt_id=r.attempt_id,
        clinic_id=r.clinic_id,
        target_id=r.target_id,
        n=r.n,
        phone=r.phone,
        trunk=r.trunk,
        state=_STATES[r.state],
        created_at=r.created_at,
        result=_RESULTS[r.result] if r.result else None,
        digit=r.digit,
        settled=_SETTLED[r.settled] if r.settled else Settled.OPEN,
        leg_status=r.leg_status,
    )


def new_attempt(row: AttemptRow) -> Insert:
    """The statement that writes `row` as a new, open attempt; run it only after the fence's check."""
    return insert(attempts).values(
        attempt_id=row.attempt_id,
        clinic_id=row.clinic_id,
        target_id=row.target_id,
        n=row.n,
        phone=row.phone,
        trunk=row.trunk,
        state=row.state.value,
        created_at=row.created_at,
        settled=Settled.OPEN.value,
    )


class SqlAttemptStore:
    def __init__(self, engine: AsyncEngine, batches: SqliteBatchWriter | PgBatchWriter | None = None) -> None:
        self.engine = engine
        # `apply` goes through `batches` (fastbatch.py on SQLite, pgbatch.py on PostgreSQL); without it, through
        # SQLAlchemy below.
        self.batches = batches
        # The leader's fencing token (dialer/lease.py): a new attempt is written only while it is current.
        self.fence: Fence | None = None

    async def close(self) -> None:
        if self.batches is not None:
            await self.batches.close()

    async def create(self, row: AttemptRow, log: Sequence[EventRow] = ()) -> None:
        async with self.engine.begin() as conn:
            await check_fence(conn, self.fence)
            await _insert_events(conn, log)
            await conn.execute(new_attempt(row))

    async def get(self, attempt_id: str) -> AttemptRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(ATTEMPT_ROW.where(attempts.c.attempt_id == attempt_id))).first()
        return attempt_from_row(row) if row else None

    async def history(self, target_id: int) -> list[AttemptRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                ATTEMPT_ROW.where(attempts.c.target_id == target_id).order_by(attempts.c.n)
            )
            return [attempt_from_row(r) for r in rows]

    async def open_attempts(self) -> list[AttemptRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(ATTEMPT_ROW.where(attempts.c.state.in_(_OPEN)))
            return [attempt_from_row(r) for r in rows]

    async def apply(self, batch: AttemptBatch, log: Sequence[EventRow] = ()) -> set[str]:
        if self.batches is not None:
            return await self.batches.apply(batch, log)
        ended: set[str] = set()
        async with self.engine.begin() as conn:
            if batch.answered:
                await conn.execute(
                    update(attempts)
                    .where(
                        attempts.c.attempt_id == bindparam("b_id"),
                        attempts.c.state == AttemptState.DIALING.value,
                    )
                    .values(state=AttemptState.ANSWERED.value, answered_at=bindparam("b_at")),
                    [{"b_id": a, "b_at": at} for a, at in batch.answered],
                )
            if batch.digits:
                await _settle(conn, "digit", batch.digits)
            if batch.legs:
                await _settle(conn, "leg_status", batch.legs)
            if batch.ends:
                ended = await _end_open(conn, batch.ends)
            await _insert_events(conn, log)
        return ended

    async def unplaced(
        self, attempt_id: str, at: datetime, log: Sequence[EventRow] = ()
    ) -> AttemptRow | None:
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(attempts)
                    .where(attempts.c.attempt_id == attempt_id, attempts.c.state.in_(_OPEN))
                    .values(state=AttemptState.UNPLACED.value, ended_at=at)
                    .returning(attempts)
                )
            ).first()
            await _insert_events(conn, log)
        return attempt_from_row(row) if row else None

    async def append_events(self, rows: Sequence[EventRow]) -> None:
        if rows:
            async with self.engine.begin() as conn:
                await _insert_events(conn, rows)


async def _end_open(conn: AsyncConnection, ends: Sequence[AttemptEnd]) -> set[str]:
    """End the attempts still open; an attempt ended before (a replayed fact) is left as it is."""
    ids = [e.attempt_id for e in ends]
    query = select(attempts.c.attempt_id).where(attempts.c.attempt_id.in_(ids), attempts.c.state.in_(_OPEN))
    still_open = set((await conn.execute(query)).scalars())
    todo = [e for e in ends if e.attempt_id in still_open]
    if todo:
        await conn.execute(
            update(attempts)
            .where(attempts.c.attempt_id == bindparam("b_id"))
            .values(
                state=AttemptState.ENDED.value,
                ended_at=bindparam("b_at"),
                reason=bindparam("b_reason"),
                cause=bindparam("b_cause"),
                result=bindparam("b_result"),
                linkedid=bindparam("b_linkedid"),
                digit=func.coalesce(bindparam("b_digit"), attempts.c.digit),
            ),
            [
                {
                    "b_id": e.attempt_id,
                    "b_at": e.at,
                    "b_reason": e.reason,
                    "b_cause": e.cause,
                    "b_result": e.result.value,
                    "b_linkedid": e.linkedid,
                    "b_digit": e.digit,
                }
                for e in todo
            ],
        )
    return {e.attempt_id for e in todo}


async def _insert_events(conn: AsyncConnection, rows: Sequence[EventRow]) -> None:
    if not rows:
        return
    await conn.execute(
        insert(attempt_events),
        [
            {
                "clinic_id": r.clinic_id,
                "attempt_id": r.attempt_id,
                "at": r.at,
                "kind": r.kind,
                "uniqueid": r.uniqueid,
                "linkedid": r.linkedid,
                "reason": r.reason,
                "cause": r.cause,
                "digit": r.digit,
                "detail": r.detail,
            }
            for r in rows
        ],
    )


async def _settle(conn: AsyncConnection, column: str, rows: list[tuple[str, str, Settled]]) -> None:
    """Per (attempt_id, value, settled): the value in `column` (the digit or the leg's status) and how it settled."""
    await conn.execute(
        update(attempts)
        .where(attempts.c.attempt_id == bindparam("b_id"))
        .values({column: bindparam("b_value"), "settled": bindparam("b_settled")}),
        [{"b_id": a, "b_value": value, "b_settled": s.value} for a, value, s in rows],
    )
