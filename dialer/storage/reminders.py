"""Reminder targets: one per appointment, joined with the patient's consent flags."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, and_, func, literal, select, true, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.campaigns.kinds import CampaignKind
from dialer.core.followups import FollowUpWrite, TargetView
from dialer.core.outcomes import CallResult
from dialer.core.records import DaySummary, ReminderStatus, ReminderTarget, TargetState
from dialer.core.sms import SmsStatus
from dialer.core.worklist_states import AdminTaskStatus
from dialer.storage import fastfollowups
from dialer.storage.appointments import VISIT_PATIENT
from dialer.storage.fastbatch import SqliteBatchWriter
from dialer.storage.followups import read_views, write_follow_ups
from dialer.storage.pgbatch import PgBatchWriter
from dialer.storage.schema import admin_tasks, appointments, attempts, patients, sms_messages, targets
from dialer.storage.targets import finish_target, insert_target, target_row
from dialer.storage.upsert import insert_ignore

_JOIN = targets.join(
    appointments,
    and_(
        appointments.c.clinic_id == targets.c.clinic_id, appointments.c.appointment_id == targets.c.subject_id
    ),
).join(patients, VISIT_PATIENT)


# Stored states read back by a dict lookup, as attempts.py reads an attempt's.
_STATUSES = {s.value: s for s in ReminderStatus}
_SMS_STATUSES = {s.value: s for s in SmsStatus}


def _target(r: Any, sms_status: str | None) -> ReminderTarget:
    return ReminderTarget(
        target_id=r.target_id,
        clinic_id=r.clinic_id,
        appointment_id=r.appointment_id,
        patient_id=r.patient_id,
        phone=r.phone,
        visit_at=r.visit_at,
        doctor=r.doctor,
        high_value=r.high_value,
        consent_call=r.consent_call,
        consent_sms=r.consent_sms,
        do_not_call=r.do_not_call,
        status=_STATUSES[r.reminder_status],
        active=r.state == TargetState.ACTIVE.value,
        sms_status=_SMS_STATUSES[sms_status] if sms_status else None,
    )


_TARGET = select(
    targets.c.target_id,
    targets.c.clinic_id,
    targets.c.state,
    appointments.c.appointment_id,
    appointments.c.patient_id,
    patients.c.phone,
    appointments.c.visit_at,
    appointments.c.doctor,
    appointments.c.high_value,
    patients.c.consent_call,
    patients.c.consent_sms,
    patients.c.do_not_call,
    appointments.c.reminder_status,
).select_from(_JOIN)


class SqlReminderStore:
    def __init__(self, engine: AsyncEngine, batches: SqliteBatchWriter | PgBatchWriter | None = None) -> None:
        self.engine = engine
        # The attempts' fast batch writer: on SQLite the follow-ups go through its connection too.
        self.batches = batches
        # Compiled once, with the store, so that no batch of follow-ups waits for SQLAlchemy's compiler.
        self._view_reader = (
            fastfollowups.ViewReader.compile(_TARGET, engine.dialect) if batches is not None else None
        )

    async def target(self, target_id: int) -> ReminderTarget | None:
        query = _TARGET.where(targets.c.target_id == target_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            sms = await conn.scalar(
                select(sms_messages.c.status)
                .where(sms_messages.c.target_id == target_id)
                .order_by(sms_messages.c.created_at.desc())
                .limit(1)
            )
        return _target(row, sms)

    async def follow_up_view(self, target_ids: Collection[int]) -> Mapping[int, TargetView]:
        if not target_ids:
            return {}
        reader = self._view_reader
        if self.batches is None or reader is None:
            rows = await read_views(self.engine, _TARGET, target_ids)
            return rows.views(_target)
        if isinstance(self.batches, SqliteBatchWriter):
            rows = await self.batches.read(lambda conn: reader.read(conn, target_ids))
        else:
            rows = await self.batches.run(lambda conn: reader.read_pg(conn, target_ids))
        return rows.views(_target)

    async def write_follow_ups(self, writes: Sequence[FollowUpWrite]) -> None:
        if not writes:
            return
        if isinstance(self.batches, SqliteBatchWriter):
            await self.batches.run(lambda conn, stamp: fastfollowups.write_follow_ups(conn, writes, stamp))
        elif isinstance(self.batches, PgBatchWriter):
            await self.batches.run(lambda conn: fastfollowups.write_follow_ups_pg(conn, writes))
        else:
            await write_follow_ups(self.engine, writes)

    async def ensure_targets(
        self, visit_day: date, now: datetime, clinics: Collection[str] | None = None
    ) -> list[int]:
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                select(
                    appointments.c.clinic_id,
                    appointments.c.appointment_id,
                    appointments.c.patient_id,
                    patients.c.phone,
                )
                .select_from(appointments.join(patients, VISIT_PATIENT))
                .where(appointments.c.visit_day == visit_day)
                .where(appointments.c.clinic_id.in_(list(clinics)) if clinics is not None else true())
            )
            candidates = list(rows)
            created: list[int] = []
            for r in candidates:
                new_id = await insert_target(
                    conn,
                    target_row(
                        r.clinic_id, CampaignKind.REMINDERS, r.appointment_id, r.patient_id, r.phone, now
                    ),
                )
                if new_id is not None:
                    created.append(new_id)
        return created

    async def active_targets(
        self, visit_day: date | None = None, clinics: Collection[str] | None = None
    ) -> list[int]:
        query = (
            select(targets.c.target_id)
            .select_from(_JOIN)
            .where(targets.c.campaign == CampaignKind.REMINDERS, targets.c.state == TargetState.ACTIVE.value)
        )
        if visit_day is not None:
            query = query.where(appointments.c.visit_day == visit_day)
        if clinics is not None:
            query = query.where(targets.c.clinic_id.in_(list(clinics)))
        async with self.engine.connect() as conn:
            return [int(x) for x in (await conn.execute(query.order_by(targets.c.target_id))).scalars()]

    async def set_status(
        self, target_id: int, status: ReminderStatus | None, digit: str | None, now: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            subject = (
                await conn.execute(
                    select(targets.c.clinic_id, targets.c.subject_id).where(targets.c.target_id == target_id)
                )
            ).one()
            values: dict[str, Any] = {"updated_at": now}
            if status is not None:
                values["reminder_status"] = status.value
            if digit is not None:
                values["reminder_digit"] = digit
            await conn.execute(
                update(appointments)
                .where(
                    appointments.c.clinic_id == subject.clinic_id,
                    appointments.c.appointment_id == subject.subject_id,
                )
                .values(**values)
            )

    async def finish(self, target_id: int, status: ReminderStatus, reason: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            subject = (
                await conn.execute(
                    select(targets.c.clinic_id, targets.c.subject_id).where(targets.c.target_id == target_id)
                )
            ).one()
            await conn.execute(
                update(appointments)
                .where(
                    appointments.c.clinic_id == subject.clinic_id,
                    appointments.c.appointment_id == subject.subject_id,
                )
                .values(reminder_status=status.value, updated_at=now)
            )
            await finish_target(conn, target_id, reason, now)

    async def open_admin_task(
        self, target_id: int, kind: str, source: str, comment: str, now: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            t = (await conn.execute(select(targets).where(targets.c.target_id == target_id))).one()
            await conn.execute(
                insert_ignore(conn, admin_tasks, ["clinic_id", "kind", "subject_id", "source"]).values(
                    clinic_id=t.clinic_id,
                    kind=kind,
                    subject_id=t.subject_id,
                    patient_id=t.patient_id,
                    source=source,
                    status=AdminTaskStatus.OPEN.value,
                    comment=comment,
                    created_at=now,
                )
            )

    async def day_summary(self, visit_day: date, clinic_id: str | None = None) -> DaySummary:
        """Counts for the progress line: reminder statuses, calls in the air, SMS by status; of one clinic
        when named (a clinic's board), of all of them otherwise (the service's own progress line)."""
        async with self.engine.connect() as conn:
            return await day_summary(conn, visit_day, clinic_id)


async def day_summary(conn: AsyncConnection, visit_day: date, clinic_id: str | None = None) -> DaySummary:
    """`SqlReminderStore.day_summary` on a connection the caller holds."""
    day = [appointments.c.visit_day == visit_day]
    if clinic_id is not None:
        day.append(appointments.c.clinic_id == clinic_id)
    statuses = await conn.execute(
        select(appointments.c.reminder_status, func.count())
        .where(*day)
        .group_by(appointments.c.reminder_status)
    )
    by_status = {str(k): int(v) for k, v in statuses}
    calls: dict[str, int] = {}
    sms: dict[str, int] = {}
    machines = active = 0
    for kind, key, n, machine in await conn.execute(_day_counts(day)):
        if kind == "attempt":
            calls[str(key)] = int(n)
            machines += int(machine)
        elif kind == "sms":
            sms[str(key)] = int(n)
        elif key == TargetState.ACTIVE.value:
            active = int(n)
    return DaySummary(statuses=by_status, attempts=calls, sms=sms, active_targets=active, machines=machines)


def _day_counts(day: list[ColumnElement[bool]]) -> CompoundSelect[Any]:
    """The day's calls by state (with the machines among them), SMS by status and targets by state, in one
    statement: the day's reminder targets are found once (a CTE used three times is materialized by SQLite and
    PostgreSQL alike), not once for each count, which on a three-month database was most of a board's time."""
    day_targets = (
        select(targets.c.target_id, targets.c.state)
        .select_from(_JOIN)
        .where(*day, targets.c.campaign == CampaignKind.REMINDERS)
        .cte("day_targets")
    )
    machine = attempts.c.result == CallResult.MACHINE.value
    return union_all(
        select(literal("attempt"), attempts.c.state, func.count(), func.count().filter(machine))
        .select_from(attempts.join(day_targets, day_targets.c.target_id == attempts.c.target_id))
        .group_by(attempts.c.state),
        select(literal("sms"), sms_messages.c.status, func.count(), literal(0))
        .select_from(sms_messages.join(day_targets, day_targets.c.target_id == sms_messages.c.target_id))
        .group_by(sms_messages.c.status),
        select(literal("target"), day_targets.c.state, func.count(), literal(0)).group_by(
            day_targets.c.state
        ),
    )
