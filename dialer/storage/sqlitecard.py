"""The pop-up card read on a SQLite file by the plain sqlite3 module, on the event loop itself: SQLite's counterpart
of pgcard.py.

Through SQLAlchemy, even in one thread hand-off (sync_reader.py), the card's seven queries cost ~2 ms of Python
in a worker thread, and under a busy AMI intake that thread waits for the GIL at every statement: up to the
interpreter's 5 ms switch interval each time, which is what made a pop-up's p99 miss 20 ms. The same seven
statements on sqlite3 take ~0.1-0.3 ms of the loop's own time, with no thread and no GIL hand-off. The file is in
WAL mode, so a reader never waits for the writer; a read that would wait (a checkpoint, a recovery after a
crash) fails at once here, and the caller reads through the thread instead. The rows, their order and their
limits are those of cards.py's queries.
"""

from __future__ import annotations

import sqlite3
import typing
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dialer.core.cards import (
    CardCallback,
    CardContact,
    CardDiaryEntry,
    CardPatient,
    CardRecall,
    CardVisit,
    CardWaiting,
)
from dialer.core.recalls import RecallStatus
from dialer.core.records import TaskState
from dialer.core.worklist_states import DiaryState, WaitingState
from dialer.storage.pgcard import CardRows

# How SQLAlchemy's DateTime keeps an instant on SQLite (naive UTC, types.UtcDateTime): text in time order.
_STORED_INSTANT = "%Y-%m-%d %H:%M:%S.%f"
_OF = "(:clinic IS NULL OR {t}.clinic_id = :clinic)"


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _from_column(hint: Any) -> Callable[[Any], Any] | None:
    """How a stored value becomes the field's type; None where sqlite3 already gives it."""
    kinds = set(typing.get_args(hint)) - {type(None)} or {hint}
    if datetime in kinds:
        return _instant
    if date in kinds:
        return date.fromisoformat
    if bool in kinds:
        return bool
    return None


class _Reader:
    """Builds one dataclass from a row of its fields, in the order of its fields."""

    def __init__(self, row: type[Any], alias: str) -> None:
        self.row = row
        self.names = [f.name for f in fields(row)]
        hints = typing.get_type_hints(row)
        self.converters = [_from_column(hints[name]) for name in self.names]
        self.columns = ", ".join(f"{alias}.{name}" for name in self.names)

    def read(self, cursor: sqlite3.Cursor) -> list[Any]:
        return [
            self.row(
                **{
                    name: (value if convert is None or value is None else convert(value))
                    for name, convert, value in zip(self.names, self.converters, record, strict=True)
                }
            )
            for record in cursor
        ]


_PEOPLE = _Reader(CardPatient, "p")
_VISITS = _Reader(CardVisit, "a")
_CALLBACK = _Reader(CardCallback, "c")
_CONTACTS = _Reader(CardContact, "k")
_WAITING = _Reader(CardWaiting, "w")
_DIARY = _Reader(CardDiaryEntry, "d")
_RECALL = _Reader(CardRecall, "r")


class SqliteCardReader:
    """Reads cards from one SQLite file on its own connection, used only from the event loop's thread."""

    def __init__(self, path: Path, next_visits: int, last_contacts: int) -> None:
        # No busy wait: a read that would wait fails at once and goes through a thread instead.
        self._conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        self._next_visits = next_visits
        self._statements = {
            _PEOPLE: f"SELECT {_PEOPLE.columns} FROM patients p WHERE p.phone = :phone AND {_OF.format(t='p')}"
            " ORDER BY p.name",
            _CALLBACK: f"SELECT {_CALLBACK.columns} FROM callback_tasks c WHERE c.phone = :phone"
            f" AND c.state = '{TaskState.OPEN.value}' AND {_OF.format(t='c')} ORDER BY c.deadline_at LIMIT 1",
            _CONTACTS: f"SELECT {_CONTACTS.columns} FROM contacts k WHERE k.phone = :phone"
            f" AND {_OF.format(t='k')} ORDER BY k.created_at DESC LIMIT {last_contacts}",
            _WAITING: f"SELECT {_WAITING.columns} FROM waiting_list w WHERE w.phone = :phone"
            f" AND w.state = '{WaitingState.OPEN.value}' AND {_OF.format(t='w')}",
            _DIARY: f"SELECT {_DIARY.columns} FROM diary d WHERE d.phone = :phone"
            f" AND d.state = '{DiaryState.OPEN.value}' AND {_OF.format(t='d')}",
            _RECALL: f"SELECT {_RECALL.columns} FROM recalls r WHERE r.phone = :phone"
            f" AND r.status = '{RecallStatus.CALL.value}' AND {_OF.format(t='r')} ORDER BY r.target_day LIMIT 1",
        }

    def _visits_statement(self, people: int) -> str:
        ids = ", ".join(f":id{n}" for n in range(people))
        return (
            f"SELECT {_VISITS.columns} FROM appointments a WHERE a.patient_id IN ({ids})"
            f" AND a.visit_at >= :now AND {_OF.format(t='a')}"
            f" ORDER BY a.visit_at LIMIT {self._next_visits * people}"
        )

    def rows(self, phone: str, now: datetime, clinic_id: str | None) -> CardRows:
        """The card's rows in one read transaction (one snapshot); sqlite3.OperationalError when it would wait."""
        conn = self._conn
        found: dict[_Reader, list[Any]] = {}
        params: dict[str, Any] = {"phone": phone, "clinic": clinic_id}
        conn.execute("BEGIN")
        try:
            for reader, statement in self._statements.items():
                found[reader] = reader.read(conn.execute(statement, params))
            people: list[CardPatient] = found[_PEOPLE]
            visits: list[CardVisit] = []
            if people:
                by_id = {f"id{n}": p.patient_id for n, p in enumerate(people)}
                stamp = now.astimezone(UTC).strftime(_STORED_INSTANT)
                statement = self._visits_statement(len(people))
                visits = _VISITS.read(conn.execute(statement, {**params, **by_id, "now": stamp}))
        finally:
            conn.execute("COMMIT")
        return CardRows(
            people=people,
            visits=visits,
            tasks=found[_CALLBACK],
            recent=found[_CONTACTS],
            waiting=found[_WAITING],
            planned=found[_DIARY],
            invitations=found[_RECALL],
        )

    def trace(self, statement: Callable[[str], None] | None) -> None:
        """Each statement run, with its values in place, to `statement` (None: stop): a benchmark's view."""
        self._conn.set_trace_callback(statement)

    def close(self) -> None:
        self._conn.close()
