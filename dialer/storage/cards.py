"""What the pop-up shows about a phone number: the patients on it, their next visits, open callback, last
contacts, and what the operator last decided. One read, several small indexed queries. A call of one clinic
shows that clinic's records only, though the same number may be a patient's of another clinic too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.records import PatientCard
from dialer.storage.journal_schema import contacts, diary, recalls, waiting_list
from dialer.storage.schema import appointments, callback_tasks, patients

LAST_CONTACTS = 5
NEXT_VISITS = 3


class SqlCardStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def card(self, phone: str, now: datetime, clinic_id: str | None = None) -> PatientCard:
        query = _CardQueries(phone, clinic_id)
        async with self.engine.connect() as conn:
            people = await _dicts(conn, query.people())
            ids = [p["patient_id"] for p in people]
            visits = await _dicts(conn, query.next_visits(ids, now)) if ids else []
            task = (await conn.execute(query.open_callback())).first()
            recent = await _dicts(conn, query.last_contacts())
            waiting = await _dicts(conn, query.open_waiting())
            planned = await _dicts(conn, query.open_diary())
            recall = (await conn.execute(query.open_recall())).first()
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


async def _dicts(conn: AsyncConnection, query: Select[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await conn.execute(query)]


class _CardQueries:
    """The card's reads for one number, each limited to the call's clinic when it has one."""

    def __init__(self, phone: str, clinic_id: str | None) -> None:
        self.phone = phone
        self.clinic_id = clinic_id

    def of(self, table: Table) -> ColumnElement[bool]:
        return true() if self.clinic_id is None else table.c.clinic_id == self.clinic_id

    def people(self) -> Select[Any]:
        return (
            select(patients.c.clinic_id, patients.c.patient_id, patients.c.name, patients.c.do_not_call)
            .where(patients.c.phone == self.phone, self.of(patients))
            .order_by(patients.c.name)
        )

    def next_visits(self, ids: list[str], now: datetime) -> Select[Any]:
        return (
            select(
                appointments.c.clinic_id,
                appointments.c.appointment_id,
                appointments.c.patient_id,
                appointments.c.visit_at,
                appointments.c.doctor,
                appointments.c.reminder_status,
                appointments.c.reminder_digit,
            )
            .where(appointments.c.patient_id.in_(ids), appointments.c.visit_at >= now, self.of(appointments))
            .order_by(appointments.c.visit_at)
            .limit(NEXT_VISITS * max(1, len(ids)))
        )

    def open_callback(self) -> Select[Any]:
        return (
            select(callback_tasks)
            .where(
                and_(
                    callback_tasks.c.phone == self.phone,
                    callback_tasks.c.state == "open",
                    self.of(callback_tasks),
                )
            )
            .order_by(callback_tasks.c.deadline_at)
            .limit(1)
        )

    def last_contacts(self) -> Select[Any]:
        return (
            select(
                contacts.c.created_at,
                contacts.c.direction,
                contacts.c.flags,
                contacts.c.result,
                contacts.c.reason,
                contacts.c.comment,
            )
            .where(contacts.c.phone == self.phone, self.of(contacts))
            .order_by(contacts.c.created_at.desc())
            .limit(LAST_CONTACTS)
        )

    def open_waiting(self) -> Select[Any]:
        return select(waiting_list.c.doctor, waiting_list.c.wanted_day, waiting_list.c.comment).where(
            waiting_list.c.phone == self.phone, waiting_list.c.state == "open", self.of(waiting_list)
        )

    def open_diary(self) -> Select[Any]:
        return select(diary.c.due_day, diary.c.comment).where(
            diary.c.phone == self.phone, diary.c.state == "open", self.of(diary)
        )

    def open_recall(self) -> Select[Any]:
        return (
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
            .where(recalls.c.phone == self.phone, recalls.c.status == "call", self.of(recalls))
            .order_by(recalls.c.target_day)
            .limit(1)
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
