"""No-show reasons: the week's missed visits with why, a reason recorded by the senior administrator, and the
reasons the clinic's export brings with its visits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.appointments import AppointmentRecord
from dialer.core.noshow import NoShowNote, NoShowReason, NoShowRow, NoShowSource
from dialer.storage.noshow_schema import noshow_reasons
from dialer.storage.schema import appointments
from dialer.storage.upsert import insert_dialect

_OF_VISIT = and_(
    noshow_reasons.c.clinic_id == appointments.c.clinic_id,
    noshow_reasons.c.appointment_id == appointments.c.appointment_id,
)


class SqlNoShowStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def week(self, clinic_id: str, first_day: date, days: int) -> list[NoShowRow]:
        """The visits of these days the patient did not come to, in time order, each with its reason if any."""
        query = (
            select(
                appointments.c.appointment_id,
                appointments.c.visit_at,
                appointments.c.doctor,
                appointments.c.specialty,
                appointments.c.reminder_status,
                appointments.c.reminder_digit,
                noshow_reasons.c.reason,
                noshow_reasons.c.comment,
                noshow_reasons.c.source,
                noshow_reasons.c.recorded_by,
                noshow_reasons.c.recorded_at,
            )
            .select_from(appointments.outerjoin(noshow_reasons, _OF_VISIT))
            .where(
                appointments.c.clinic_id == clinic_id,
                appointments.c.visit_day >= first_day,
                appointments.c.visit_day < first_day + timedelta(days=days),
                appointments.c.attended.is_(False),
            )
            .order_by(appointments.c.visit_at, appointments.c.appointment_id)
        )
        async with self.engine.connect() as conn:
            return [_row(r._mapping) for r in await conn.execute(query)]

    async def record(
        self, clinic_id: str, appointment_id: str, note: NoShowNote, user_id: int | None, at: datetime
    ) -> bool:
        """The senior administrator's word on a missed visit of their clinic, replacing any earlier one. False
        when the clinic has no such visit marked as missed."""
        async with self.engine.begin() as conn:
            missed = await conn.scalar(
                select(appointments.c.appointment_id).where(
                    appointments.c.clinic_id == clinic_id,
                    appointments.c.appointment_id == appointment_id,
                    appointments.c.attended.is_(False),
                )
            )
            if missed is None:
                return False
            values = _values(clinic_id, appointment_id, note, NoShowSource.STAFF, user_id, at)
            stmt = insert_dialect(conn, noshow_reasons).values(values)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["clinic_id", "appointment_id"],
                    set_={
                        k: stmt.excluded[k]
                        for k in ("reason", "comment", "source", "recorded_by", "recorded_at")
                    },
                )
            )
        return True


async def put_imported(conn: AsyncConnection, records: Sequence[AppointmentRecord], now: datetime) -> None:
    """The reasons the clinic's export gave, inside the import's transaction. The export is sent again every day
    with the same column, so it refreshes a reason that came from it but never overwrites one the senior
    administrator recorded (which came later, from talking to the patient)."""
    rows = [
        _values(r.clinic_id, r.appointment_id, r.noshow, NoShowSource.IMPORT, None, now)
        for r in records
        if r.noshow is not None
    ]
    if not rows:
        return
    stmt = insert_dialect(conn, noshow_reasons)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["clinic_id", "appointment_id"],
            set_={k: stmt.excluded[k] for k in ("reason", "comment", "recorded_at")},
            where=noshow_reasons.c.source == NoShowSource.IMPORT.value,
        ),
        rows,
    )


def _values(
    clinic_id: str,
    appointment_id: str,
    note: NoShowNote,
    source: NoShowSource,
    user_id: int | None,
    at: datetime,
) -> dict[str, Any]:
    return {
        "clinic_id": clinic_id,
        "appointment_id": appointment_id,
        "reason": note.reason.value,
        "comment": note.comment,
        "source": source.value,
        "recorded_by": user_id,
        "recorded_at": at,
    }


def _row(m: Any) -> NoShowRow:
    return NoShowRow(
        appointment_id=m["appointment_id"],
        visit_at=m["visit_at"],
        doctor=m["doctor"],
        specialty=m["specialty"],
        reminder_status=m["reminder_status"],
        reminder_digit=m["reminder_digit"],
        reason=NoShowReason(m["reason"]) if m["reason"] else None,
        comment=m["comment"] or "",
        source=NoShowSource(m["source"]) if m["source"] else None,
        recorded_by=m["recorded_by"],
        recorded_at=m["recorded_at"],
    )
