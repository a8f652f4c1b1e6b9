"""Attempts and their append-only event log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.campaigns.planner import Settled
from dialer.core.outcomes import CallResult
from dialer.engine.model import AttemptEnd, AttemptRow, AttemptState, EventRow
from dialer.storage.schema import attempt_events, attempts

_OPEN = (AttemptState.DIALING.value, AttemptState.ANSWERED.value)


def attempt_from_row(r: Any) -> AttemptRow:
    return AttemptRow(
        attempt_id=r.attempt_id,
        clinic_id=r.clinic_id,
        target_id=r.target_id,
        n=r.n,
        phone=r.phone,
        trunk=r.trunk,
        state=AttemptState(r.state),
        created_at=r.created_at,
        result=CallResult(r.result) if r.result else None,
        digit=r.digit,
        settled=Settled(r.settled) if r.settled else Settled.OPEN,
    )


class SqlAttemptStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, row: AttemptRow, log: Sequence[EventRow] = ()) -> None:
        async with self.engine.begin() as conn:
            await _insert_events(conn, log)
            await conn.execute(
                insert(attempts).values(
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
            )

    async def get(self, attempt_id: str) -> AttemptRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(attempts).where(attempts.c.attempt_id == attempt_id))).first()
        return attempt_from_row(row) if row else None

    async def history(self, target_id: int) -> list[AttemptRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(attempts).where(attempts.c.target_id == target_id).order_by(attempts.c.n)
            )
            return [attempt_from_row(r) for r in rows]

    async def open_attempts(self) -> list[AttemptRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(attempts).where(attempts.c.state.in_(_OPEN)))
            return [attempt_from_row(r) for r in rows]

    async def answered(self, attempt_id: str, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(attempts)
                .where(attempts.c.attempt_id == attempt_id, attempts.c.state == AttemptState.DIALING.value)
                .values(state=AttemptState.ANSWERED.value, answered_at=at)
            )

    async def digit(self, attempt_id: str, digit: str, settled: Settled) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(attempts)
                .where(attempts.c.attempt_id == attempt_id)
                .values(digit=digit, settled=settled.value)
            )

    async def end(self, end: AttemptEnd, log: Sequence[EventRow] = ()) -> AttemptRow | None:
        values: dict[str, Any] = {
            "state": AttemptState.ENDED.value,
            "ended_at": end.at,
            "reason": end.reason,
            "cause": end.cause,
            "result": end.result.value,
            "linkedid": end.linkedid,
        }
        if end.digit:
            values["digit"] = end.digit
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(attempts)
                    .where(attempts.c.attempt_id == end.attempt_id, attempts.c.state.in_(_OPEN))
                    .values(**values)
                    .returning(attempts)
                )
            ).first()
            await _insert_events(conn, log)
        return attempt_from_row(row) if row else None

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
