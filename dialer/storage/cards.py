"""What the pop-up shows about a phone number: the patients on it, their next visits, open callback, last
contacts, and what the operator last decided. One read, several small indexed queries. A call of one clinic
shows that clinic's records only, though the same number may be a patient's of another clinic too."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, and_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.cards import (
    CardCallback,
    CardContact,
    CardDiaryEntry,
    CardPatient,
    CardRecall,
    CardVisit,
    CardWaiting,
    PatientCard,
)
from dialer.core.recalls import RecallStatus
from dialer.core.records import TaskState
from dialer.core.worklist_states import DiaryState, WaitingState
from dialer.storage.journal_schema import contacts, diary, recalls, waiting_list
from dialer.storage.pgcard import CardRows, PgCardReader
from dialer.storage.schema import appointments, callback_tasks, patients
from dialer.storage.sqlitecard import SqliteCardReader
from dialer.storage.sync_reader import sqlite_file_reader

LAST_CONTACTS = 5
NEXT_VISITS = 3

Row = TypeVar("Row")


class SqlCardStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reader = sqlite_file_reader(engine)
        self._inline = (
            None
            if self._reader is None or self._reader.url.database is None
            else SqliteCardReader(Path(self._reader.url.database), NEXT_VISITS, LAST_CONTACTS)
        )
        self._pg = PgCardReader.for_engine(engine, NEXT_VISITS, LAST_CONTACTS)

    @property
    def file_reader(self) -> Engine | None:
        """The synchronous engine the cards are read with on a SQLite file; None on the asyncio path."""
        return self._reader

    @property
    def loop_reader(self) -> SqliteCardReader | None:
        """The reader on the event loop, where the cards are read that way (a SQLite file)."""
        return self._inline

    def read_through_thread(self) -> None:
        """Read every card on a SQLite file through the thread, as a busy file is read (a benchmark's baseline)."""
        if self._inline is not None:
            self._inline.close()
            self._inline = None

    async def card(self, phone: str, now: datetime, clinic_id: str | None = None) -> PatientCard:
        if self._inline is not None:
            try:
                return _card(phone, self._inline.rows(phone, now, clinic_id))
            except sqlite3.OperationalError:
                pass  # the file is busy (a checkpoint, a recovery): the thread below may wait for it
        if self._reader is not None:
            return await asyncio.to_thread(self._read_on_file, phone, now, clinic_id)
        if self._pg is not None:
            return _card(phone, await self._pg.rows(phone, now, clinic_id))
        async with self.engine.connect() as conn:
            return await conn.run_sync(_read_card, phone, now, clinic_id)

    def _read_on_file(self, phone: str, now: datetime, clinic_id: str | None) -> PatientCard:
        assert self._reader is not None
        with self._reader.connect() as conn:
            return _read_card(conn, phone, now, clinic_id)

    async def close(self) -> None:
        if self._inline is not None:
            self._inline.close()
        if self._reader is not None:
            await asyncio.to_thread(self._reader.dispose)


def _read_card(conn: Connection, phone: str, now: datetime, clinic_id: str | None) -> PatientCard:
    query = _CardQueries(phone, clinic_id)
    people = _rows(conn, query.people(), CardPatient)
    ids = [p.patient_id for p in people]
    rows = CardRows(
        people=people,
        visits=_rows(conn, query.next_visits(ids, now), CardVisit) if ids else [],
        tasks=_rows(conn, query.open_callback(), CardCallback),
        recent=_rows(conn, query.last_contacts(), CardContact),
        waiting=_rows(conn, query.open_waiting(), CardWaiting),
        planned=_rows(conn, query.open_diary(), CardDiaryEntry),
        invitations=_rows(conn, query.open_recall(), CardRecall),
    )
    return _card(phone, rows)


def _card(phone: str, rows: CardRows) -> PatientCard:
    people = rows.people
    recall = rows.invitations[0] if rows.invitations else None
    if not people and recall is not None:
        # Known from the КОС journal though not (yet) from an appointment list.
        people = [CardPatient(recall.clinic_id, recall.patient_id, recall.patient_name, do_not_call=False)]
    return PatientCard(
        phone=phone,
        patients=people,
        visits=rows.visits,
        callback=rows.tasks[0] if rows.tasks else None,
        contacts=rows.recent,
        waiting_list=rows.waiting,
        diary=rows.planned,
        recall=recall,
    )


def _columns(table: Table, row: type[Any]) -> Select[Any]:
    """A select of the columns that make one typed row (the dataclass's fields, by name)."""
    return select(*(table.c[f.name] for f in fields(row)))


def _rows(conn: Connection, query: Select[Any], row: type[Row]) -> list[Row]:
    return [row(**r._mapping) for r in conn.execute(query)]


class _CardQueries:
    """The card's reads for one number, each limited to the call's clinic when it has one."""

    def __init__(self, phone: str, clinic_id: str | None) -> None:
        self.phone = phone
        self.clinic_id = clinic_id

    def of(self, table: Table) -> ColumnElement[bool]:
        return true() if self.clinic_id is None else table.c.clinic_id == self.clinic_id

    def people(self) -> Select[Any]:
        return (
            _columns(patients, CardPatient)
            .where(patients.c.phone == self.phone, self.of(patients))
            .order_by(patients.c.name)
        )

    def next_visits(self, ids: list[str], now: datetime) -> Select[Any]:
        return (
            _columns(appointments, CardVisit)
            .where(appointments.c.patient_id.in_(ids), appointments.c.visit_at >= now, self.of(appointments))
            .order_by(appointments.c.visit_at)
            .limit(NEXT_VISITS * max(1, len(ids)))
        )

    def open_callback(self) -> Select[Any]:
        return (
            _columns(callback_tasks, CardCallback)
            .where(
                and_(
                    callback_tasks.c.phone == self.phone,
                    callback_tasks.c.state == TaskState.OPEN.value,
                    self.of(callback_tasks),
                )
            )
            .order_by(callback_tasks.c.deadline_at)
            .limit(1)
        )

    def last_contacts(self) -> Select[Any]:
        return (
            _columns(contacts, CardContact)
            .where(contacts.c.phone == self.phone, self.of(contacts))
            .order_by(contacts.c.created_at.desc())
            .limit(LAST_CONTACTS)
        )

    def open_waiting(self) -> Select[Any]:
        return _columns(waiting_list, CardWaiting).where(
            waiting_list.c.phone == self.phone,
            waiting_list.c.state == WaitingState.OPEN,
            self.of(waiting_list),
        )

    def open_diary(self) -> Select[Any]:
        return _columns(diary, CardDiaryEntry).where(
            diary.c.phone == self.phone, diary.c.state == DiaryState.OPEN, self.of(diary)
        )

    def open_recall(self) -> Select[Any]:
        return (
            _columns(recalls, CardRecall)
            .where(
                recalls.c.phone == self.phone, recalls.c.status == RecallStatus.CALL.value, self.of(recalls)
            )
            .order_by(recalls.c.target_day)
            .limit(1)
        )
