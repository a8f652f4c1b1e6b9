"""Targets: one row per thing a campaign calls about (an appointment, a KOS round, a diary entry, an offer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.core.records import TargetState
from dialer.storage.schema import appointments, targets
from dialer.storage.upsert import insert_ignore

# An appointment's reminder target (the row its reminder calls hang from), to join an appointment to.
REMINDER_TARGET = and_(
    targets.c.clinic_id == appointments.c.clinic_id,
    targets.c.subject_id == appointments.c.appointment_id,
    targets.c.campaign == "reminders",
)


async def open_target(
    conn: AsyncConnection,
    clinic_id: str,
    campaign: str,
    subject: str,
    patient_id: str,
    phone: str,
    now: datetime,
) -> Any:
    """Insert the target unless it exists; its (target_id, subject_id, state) either way."""
    await conn.execute(
        insert_ignore(conn, targets, ["clinic_id", "campaign", "subject_id"]).values(
            clinic_id=clinic_id,
            campaign=campaign,
            subject_id=subject,
            patient_id=patient_id,
            phone=phone,
            state=TargetState.ACTIVE.value,
            created_at=now,
            updated_at=now,
        )
    )
    return (
        await conn.execute(
            select(targets.c.target_id, targets.c.subject_id, targets.c.state).where(
                targets.c.clinic_id == clinic_id,
                targets.c.campaign == campaign,
                targets.c.subject_id == subject,
            )
        )
    ).one()


async def finish_target(conn: AsyncConnection, target_id: int, reason: str, now: datetime) -> None:
    """The target is done, for this reason: no more calls about it."""
    await conn.execute(
        update(targets)
        .where(targets.c.target_id == target_id)
        .values(state=TargetState.DONE.value, stop_reason=reason, updated_at=now)
    )
