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


def target_row(
    clinic_id: str, campaign: str, subject: str, patient_id: str, phone: str, now: datetime
) -> dict[str, Any]:
    """A target as a campaign opens it: active from now on."""
    return {
        "clinic_id": clinic_id,
        "campaign": campaign,
        "subject_id": subject,
        "patient_id": patient_id,
        "phone": phone,
        "state": TargetState.ACTIVE.value,
        "created_at": now,
        "updated_at": now,
    }


async def insert_target(conn: AsyncConnection, row: dict[str, Any]) -> int | None:
    """Insert the target (a `target_row`) unless the campaign has one for that subject: the new target's id,
    or None."""
    new_id = (
        await conn.execute(
            insert_ignore(conn, targets, ["clinic_id", "campaign", "subject_id"])
            .values(**row)
            .returning(targets.c.target_id)
        )
    ).scalar()
    return None if new_id is None else int(new_id)


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
    await insert_target(conn, target_row(clinic_id, campaign, subject, patient_id, phone, now))
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


def active_id(target: Any) -> int | None:
    """The id of a target (a row of open_target) while it is active, else None."""
    return int(target.target_id) if target.state == TargetState.ACTIVE.value else None
