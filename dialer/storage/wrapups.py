"""Calls waiting for the operator's wrap-up, and saving one: the contact, and the diary or waiting list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import ContactRecord, WrapupRow, WrapupState
from dialer.storage.journal_schema import contacts, diary, waiting_list, wrapups
from dialer.storage.upsert import insert_ignore


def _row(r: Any) -> WrapupRow:
    return WrapupRow(
        r.wrapup_id,
        r.clinic_id,
        r.user_id,
        r.call_ref,
        r.phone,
        r.direction,
        r.reason,
        r.started_at,
        r.answered_at,
        r.ended_at,
        WrapupState(r.state),
    )


class SqlWrapupStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def open(self, row: WrapupRow) -> WrapupRow:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert_ignore(conn, wrapups, ["user_id", "call_ref"]).values(
                    clinic_id=row.clinic_id,
                    user_id=row.user_id,
                    call_ref=row.call_ref,
                    phone=row.phone,
                    direction=row.direction,
                    reason=row.reason,
                    started_at=row.started_at,
                    answered_at=row.answered_at,
                    state=WrapupState.PENDING.value,
                )
            )
            stored = (
                await conn.execute(
                    select(wrapups).where(
                        wrapups.c.user_id == row.user_id, wrapups.c.call_ref == row.call_ref
                    )
                )
            ).one()
        return _row(stored)

    async def ended(self, wrapup_id: int, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(wrapups)
                .where(wrapups.c.wrapup_id == wrapup_id, wrapups.c.ended_at.is_(None))
                .values(ended_at=at)
            )

    async def get(self, wrapup_id: int) -> WrapupRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(wrapups).where(wrapups.c.wrapup_id == wrapup_id))).first()
        return _row(row) if row else None

    async def pending(self, user_id: int) -> list[WrapupRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(wrapups)
                .where(wrapups.c.user_id == user_id, wrapups.c.state == WrapupState.PENDING.value)
                .order_by(wrapups.c.started_at)
            )
            return [_row(r) for r in rows]

    async def save(self, wrapup_id: int, contact: ContactRecord) -> bool:
        """Write the contact and its follow-ups, and mark the wrap-up saved; False if it was saved before."""
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(wrapups)
                .where(wrapups.c.wrapup_id == wrapup_id, wrapups.c.state == WrapupState.PENDING.value)
                .values(state=WrapupState.SAVED.value)
            )
            if not done.rowcount:
                return False
            await add_contact(conn, contact)
        return True


async def add_contact(conn: Any, c: ContactRecord) -> int:
    contact_id = int(
        (
            await conn.execute(
                insert(contacts)
                .values(
                    clinic_id=c.clinic_id,
                    phone=c.phone,
                    patient_id=c.patient_id,
                    direction=c.direction,
                    flags=",".join(c.flags),
                    user_id=c.user_id,
                    call_ref=c.call_ref,
                    result=c.result,
                    reason=c.reason,
                    comment=c.comment,
                    follow_up=c.follow_up,
                    talk_seconds=c.talk_seconds,
                    wrap_seconds=c.wrap_seconds,
                    created_at=c.created_at,
                )
                .returning(contacts.c.contact_id)
            )
        ).scalar_one()
    )
    # What the diary and waiting-list entries the contact opens take from it.
    entry = {
        "clinic_id": c.clinic_id,
        "phone": c.phone,
        "patient_id": c.patient_id,
        "created_by": c.user_id,
        "created_at": c.created_at,
    }
    if c.diary_day is not None:
        await conn.execute(insert(diary).values(**entry, due_day=c.diary_day, comment=c.diary_comment))
    if c.waiting_doctor is not None:
        await conn.execute(
            insert(waiting_list).values(
                **entry, doctor=c.waiting_doctor, wanted_day=c.waiting_day, comment=c.waiting_comment
            )
        )
    return contact_id
