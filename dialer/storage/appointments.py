"""Appointment import (upsert) and the per-day outcome export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.campaigns.kinds import CampaignKind
from dialer.core.appointments import AppointmentRecord
from dialer.core.records import AttemptState, OutcomeRow, ReminderStatus, TargetState, UpsertCounts
from dialer.storage.freed import keep_freed
from dialer.storage.noshows import put_imported
from dialer.storage.schema import appointments, attempts, patients, sms_messages, targets
from dialer.storage.targets import REMINDER_TARGET
from dialer.storage.upsert import insert_dialect, upsert_clinic_rows

# A visit's patient: the same clinic, the same patient id (the patient's row has the phone and the consents).
VISIT_PATIENT = and_(
    patients.c.clinic_id == appointments.c.clinic_id, patients.c.patient_id == appointments.c.patient_id
)

# A re-import brings the clinic's latest facts about a visit; the dialer's reminder progress stays.
_REFRESHED_ON_IMPORT = (
    "patient_id",
    "visit_at",
    "visit_day",
    "doctor",
    "specialty",
    "high_value",
    "updated_at",
)


class SqlAppointmentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert(self, records: Sequence[AppointmentRecord], now: datetime) -> UpsertCounts:
        if not records:
            return UpsertCounts(0, 0)
        async with self.engine.begin() as conn:
            patient_stmt = insert_dialect(conn, patients)
            await conn.execute(
                patient_stmt.on_conflict_do_update(
                    index_elements=["clinic_id", "patient_id"],
                    set_={
                        k: patient_stmt.excluded[k]
                        for k in ("name", "phone", "consent_call", "consent_sms", "do_not_call", "updated_at")
                    },
                ),
                [_patient_values(r, now) for r in _last_per_patient(records)],
            )
            # Attendance comes only after the visit: a re-import without it must not erase it.
            counts = await upsert_clinic_rows(
                conn,
                appointments,
                "appointment_id",
                [_appointment_values(r, now) for r in records],
                _REFRESHED_ON_IMPORT,
                keep_when_null=("attended",),
            )
            await put_imported(conn, records, now)
            return counts

    async def cancel(self, clinic_id: str, appointment_id: str, now: datetime) -> bool:
        """Cancel a visit from the clinic's side (the operator's page): its reminder stops calling, and its time
        is stored as free for the waiting list. False when there is no such visit or it was cancelled already."""
        async with self.engine.begin() as conn:
            changed = await conn.execute(
                update(appointments)
                .where(
                    appointments.c.clinic_id == clinic_id,
                    appointments.c.appointment_id == appointment_id,
                    appointments.c.reminder_status != ReminderStatus.CANCELLED.value,
                )
                .values(reminder_status=ReminderStatus.CANCELLED.value, updated_at=now)
            )
            if not changed.rowcount:
                return False
            await conn.execute(
                update(targets)
                .where(
                    targets.c.clinic_id == clinic_id,
                    targets.c.campaign == CampaignKind.REMINDERS,
                    targets.c.subject_id == appointment_id,
                    targets.c.state == TargetState.ACTIVE.value,
                )
                .values(state=TargetState.DONE.value, stop_reason="cancelled", updated_at=now)
            )
            # Its time is free for the waiting list until an offer's transaction takes it (worklists.py).
            await keep_freed(conn, [(clinic_id, appointment_id, now)])
        return True

    async def days(self) -> list[date]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(select(appointments.c.visit_day).distinct())).scalars())

    async def doctors(self, visit_day: date | None = None) -> list[str]:
        query = select(appointments.c.doctor).distinct()
        if visit_day is not None:
            query = query.where(appointments.c.visit_day == visit_day)
        async with self.engine.connect() as conn:
            return sorted(str(d) for d in (await conn.execute(query)).scalars())

    async def outcomes(self, visit_day: date, clinic_id: str | None = None) -> list[OutcomeRow]:
        query = _outcomes_query(visit_day)
        if clinic_id is not None:
            query = query.where(appointments.c.clinic_id == clinic_id)
        async with self.engine.connect() as conn:
            return [
                OutcomeRow(
                    r.clinic_id,
                    r.appointment_id,
                    r.visit_at,
                    r.reminder_status,
                    int(r.attempts),
                    r.result or "",
                    r.reminder_digit or "",
                    r.sms_status or "",
                )
                for r in await conn.execute(query)
            ]


def _outcomes_query(visit_day: date) -> Select[Any]:
    """Each visit of the day with its reminder: the calls counted, the last call's result, the latest SMS's status."""
    counted = attempts.c.state != AttemptState.UNPLACED.value
    attempt_stats = (
        select(
            attempts.c.target_id,
            func.count().filter(counted).label("n"),
            func.max(attempts.c.n).filter(counted).label("last_n"),
        )
        .group_by(attempts.c.target_id)
        .subquery()
    )
    last_attempt = attempts.alias("last_attempt")
    latest_sms = (
        select(sms_messages.c.target_id, func.max(sms_messages.c.created_at).label("created_at"))
        .group_by(sms_messages.c.target_id)
        .subquery()
    )
    return (
        select(
            appointments.c.clinic_id,
            appointments.c.appointment_id,
            appointments.c.visit_at,
            appointments.c.reminder_status,
            appointments.c.reminder_digit,
            func.coalesce(attempt_stats.c.n, 0).label("attempts"),
            last_attempt.c.result,
            sms_messages.c.status.label("sms_status"),
        )
        .select_from(
            appointments.outerjoin(targets, REMINDER_TARGET)
            .outerjoin(attempt_stats, attempt_stats.c.target_id == targets.c.target_id)
            .outerjoin(
                last_attempt,
                and_(
                    last_attempt.c.target_id == targets.c.target_id,
                    last_attempt.c.n == attempt_stats.c.last_n,
                ),
            )
            .outerjoin(latest_sms, latest_sms.c.target_id == targets.c.target_id)
            .outerjoin(
                sms_messages,
                and_(
                    sms_messages.c.target_id == targets.c.target_id,
                    sms_messages.c.created_at == latest_sms.c.created_at,
                ),
            )
        )
        .where(appointments.c.visit_day == visit_day)
        .order_by(appointments.c.clinic_id, appointments.c.visit_at, appointments.c.appointment_id)
    )


def _last_per_patient(records: Sequence[AppointmentRecord]) -> list[AppointmentRecord]:
    latest: dict[tuple[str, str], AppointmentRecord] = {}
    for record in records:
        latest[(record.clinic_id, record.patient_id)] = record
    return list(latest.values())


def _patient_values(r: AppointmentRecord, now: datetime) -> dict[str, Any]:
    return {
        "clinic_id": r.clinic_id,
        "patient_id": r.patient_id,
        "name": r.patient_name,
        "phone": r.phone,
        "consent_call": r.consent_call,
        "consent_sms": r.consent_sms,
        "do_not_call": r.do_not_call,
        "updated_at": now,
    }


def _appointment_values(r: AppointmentRecord, now: datetime) -> dict[str, Any]:
    return {
        "clinic_id": r.clinic_id,
        "appointment_id": r.appointment_id,
        "patient_id": r.patient_id,
        "visit_at": r.visit_at,
        "visit_day": r.visit_day,
        "doctor": r.doctor,
        "specialty": r.specialty,
        "high_value": r.high_value,
        "attended": r.attended,
        "reminder_status": ReminderStatus.PENDING.value,
        "imported_at": now,
        "updated_at": now,
    }
