"""The freed visit times not yet handed to the waiting list: kept in the transaction that frees one (a
cancellation, a declined or expired offer), removed in the one that hands it over (an offer made, or nobody
waiting), so that a stop in between loses none."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.storage.journal_schema import freed_slots
from dialer.storage.upsert import insert_ignore

# (clinic, appointment, when it was freed)
Freed = tuple[str, str, datetime]


async def keep_freed(conn: AsyncConnection, slots: Sequence[Freed]) -> None:
    """Keep these times for the waiting list; one kept already stays as it was."""
    if slots:
        await conn.execute(
            insert_ignore(conn, freed_slots, ["clinic_id", "appointment_id"]),
            [{"clinic_id": c, "appointment_id": a, "freed_at": at} for c, a, at in slots],
        )


async def hand_over(conn: AsyncConnection, slots: Sequence[tuple[str, str]]) -> None:
    """These (clinic, appointment) times have gone to the waiting list."""
    if slots:
        await conn.execute(
            delete(freed_slots).where(
                tuple_(freed_slots.c.clinic_id, freed_slots.c.appointment_id).in_(list(slots))
            )
        )
