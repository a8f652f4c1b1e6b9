"""What the pop-up shows about a phone number: the patients on it, their next visits, open callback, last
contacts, and what the operator last decided. One read, several small indexed queries. A call of one clinic
shows that clinic's records only, though the same number may be a patient's of another clinic too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import PatientCard
from dialer.storage.journal_schema import contacts, diary, recalls, waiting_list
from dialer.storage.schema import appointments, callback_tasks, patients

LAST_CONTACTS = 5
NEXT_VISITS = 3


class SqlCardStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def card(self, phone: str, now: datetime, clinic_id: str | None = None) -> PatientCard:
        def of(table: Table) -> ColumnElement[bool]:
            return true() if clinic_id is None else table.c.clinic_id == clinic_id

        async with self.engine.connect() as conn:
            people = [
                dict(r._mapping)
                for r in await conn.execute(
                    select(
                        patients.c.clinic_id, patients.c.patient_id, patients.c.name, patients.c.do_not_call
                    )
                    .where(patients.c.phone == phone, of(patients))
                    .order_by(patients.c.name)
                )
            ]
            ids = [p["patient_id"] for p in people]
            visits = (
                [
                    dict(r._mapping)
                    for r in await conn.execute(
                        select(
                            appointments.c.clinic_id,
                            appointments.c.appointment_id,
                            appointments.c.patient_id,
                            appointments.c.visit_at,
                            appointments.c.doctor,
                            appointments.c.reminder_status,
                            appointments.c.reminder_digit,
                        )
                        .where(
                            appointments.c.patient_id.in_(ids),
                            appointments.c.visit_at >= now,
                            of(appointments),
                        )
                        .order_by(appointments.c.visit_at)
                        .limit(NEXT_VISITS * max(1, len(ids)))
                    )
                ]
                if ids
                else []
            )
            task = (
                await conn.execute(
                    select(callback_tasks)
                    .where(
                        and_(
                            callback_tasks.c.phone == phone,
                            callback_tasks.c.state == "open",
                            of(callback_tasks),
                        )
                    )
                    .order_by(callback_tasks.c.deadline_at)
                    .limit(1)
                )
            ).first()
            recent = [
                dict(r._mapping)
                for r in await conn.execute(
                    select(
                        contacts.c.created_at,
                        contacts.c.direction,
                        contacts.c.flags,
                        contacts.c.result,
                        contacts.c.reason,
                        contacts.c.comment,
                    )
                    .where(contacts.c.phone == phone, of(contacts))
                    .order_by(contacts.c.created_at.desc())
                    .limit(LAST_CONTACTS)
                )
            ]
            waiting = [
                dict(r._mapping)
                for r in await conn.execute(
                    select(waiting_list.c.doctor, waiting_list.c.wanted_day, waiting_list.c.comment).where(
                        waiting_list.c.phone == phone, waiting_list.c.state == "open", of(waiting_list)
                    )
                )
            ]
            planned = [
                dict(r._mapping)
                for r in await conn.execute(
                    select(diary.c.due_day, diary.c.comment).where(
                        diary.c.phone == phone, diary.c.state == "open", of(diary)
                    )
                )
            ]
            recall = (
                await conn.execute(
                    select(
                        recalls.c.clinic_id,
                        recalls.c.patient_id,
                        recalls.c.patient_name,
                        recalls.c.doctor,
                        recalls.c.comment,
                        recalls.c.target_day,
                        recalls.c.moves,
                        recalls.c.reason,
                    )
                    .where(recalls.c.phone == phone, recalls.c.status == "call", of(recalls))
                    .order_by(recalls.c.target_day)
                    .limit(1)
                )
            ).first()
        if not people and recall is not None:
            # Known from the КОС journal though not (yet) from an appointment list.
            people = [
                {
                    "clinic_id": recall.clinic_id,
                    "patient_id": recall.patient_id,
                    "name": recall.patient_name,
                    "do_not_call": False,
                }
            ]
        return PatientCard(
            phone=phone,
            patients=people,
            visits=visits,
            callback=_task(task) if task is not None else None,
            contacts=recent,
            waiting_list=waiting,
            diary=planned,
            recall=dict(recall._mapping) if recall is not None else None,
        )


def _task(row: Any) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "reason": row.reason,
        "missed_count": row.missed_count,
        "first_missed_at": row.first_missed_at,
        "deadline_at": row.deadline_at,
        "first_attempt_at": row.first_attempt_at,
    }
