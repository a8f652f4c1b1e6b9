"""The reminder flow's follow-ups written to SQLite straight through sqlite3, in one hand-off to a thread (on
fastbatch.py's connection), and to PostgreSQL straight on asyncpg (pgbatch.py's): the statements and stored
values of followups.py's SQLAlchemy path. Through SQLAlchemy and aiosqlite each statement is several
hand-offs, each waiting for the GIL while the event loop parses AMI (bench/README.md, ami_intake)."""

from __future__ import annotations

import json
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Dialect

from dialer.core.followups import (
    FinishTarget,
    FollowUpWrite,
    FreeSlot,
    OpenAdminTask,
    ScheduleDue,
    SetVisitStatus,
    in_kind_runs,
)
from dialer.core.records import DueState, TargetState
from dialer.core.worklist_states import AdminTaskStatus
from dialer.storage.attempts import ATTEMPT_ROW
from dialer.storage.followups import ViewRows
from dialer.storage.pgbatch import numbered, text_columns
from dialer.storage.schema import sms_messages

Stamp = Callable[[datetime], str]

_SET_STATUS = (
    "UPDATE appointments SET reminder_status = coalesce(?, reminder_status),"
    " reminder_digit = coalesce(?, reminder_digit), updated_at = ? WHERE clinic_id = ? AND appointment_id = ?"
)
_ADMIN_TASK = (
    "INSERT INTO admin_tasks (clinic_id, kind, subject_id, patient_id, source, status, comment, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (clinic_id, kind, subject_id, source) DO NOTHING"
)
_FREED = (
    "INSERT INTO freed_slots (clinic_id, appointment_id, freed_at) VALUES (?, ?, ?)"
    " ON CONFLICT (clinic_id, appointment_id) DO NOTHING"
)
_DUE = (
    "INSERT INTO due_tasks (task_id, clinic_id, kind, campaign, target_id, due_at, state, tries, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET due_at = excluded.due_at,"
    f" state = '{DueState.PENDING.value}'"
    f" WHERE due_tasks.state IN ('{DueState.PENDING.value}', '{DueState.CANCELLED.value}')"
)
_FINAL_STATUS = (
    "UPDATE appointments SET reminder_status = ?, reminder_digit = coalesce(?, reminder_digit), updated_at = ?"
    " WHERE clinic_id = ? AND appointment_id = ?"
)
_FINISH = f"UPDATE targets SET state = '{TargetState.DONE.value}', stop_reason = ?, updated_at = ? WHERE target_id = ?"


Statement = tuple[str, list[tuple[object, ...]]]  # the SQL (qmark style) and its rows of parameters


def write_follow_ups(conn: sqlite3.Connection, writes: Sequence[FollowUpWrite], stamp: Stamp) -> None:
    """Every write, in runs of one kind (core/followups.in_kind_runs), each run one executemany."""
    for sql, rows in statements(writes, stamp):
        conn.executemany(sql, rows)


async def write_follow_ups_pg(conn: Any, writes: Sequence[FollowUpWrite]) -> None:
    """The same on an asyncpg connection: an update of many rows as one statement over arrays (pgbatch.py), the
    rest each prepared once and sent with executemany."""
    for sql, rows in statements(writes, lambda at: at):
        in_one = _PG_IN_ONE.get(sql)
        if in_one is not None and in_one.each_row_once(rows):
            await conn.execute(in_one.sql, *text_columns(rows))
        else:
            await conn.executemany(_PG.setdefault(sql, numbered(sql)), rows)


_PG: dict[str, str] = {}


@dataclass(frozen=True)
class _InOne:
    """A statement's PostgreSQL twin over unnested text arrays, and the fields that name the row it updates."""

    sql: str
    key: tuple[int, ...]

    def each_row_once(self, rows: Sequence[tuple[object, ...]]) -> bool:
        """Whether no row is named twice: one statement updates a row once, where a statement per row, in order,
        lets the later one build on the earlier (the key's coalesce)."""
        keys = {tuple(row[i] for i in self.key) for row in rows}
        return len(keys) == len(rows)


_VISIT_UNNESTED = "WHERE a.clinic_id = v.clinic_id AND a.appointment_id = v.appointment_id"
_PG_IN_ONE = {
    _SET_STATUS: _InOne(
        "UPDATE appointments AS a SET reminder_status = coalesce(v.status, a.reminder_status),"
        " reminder_digit = coalesce(v.digit, a.reminder_digit), updated_at = v.at::timestamptz"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
        f" AS v(status, digit, at, clinic_id, appointment_id) {_VISIT_UNNESTED}",
        (3, 4),
    ),
    _FINAL_STATUS: _InOne(
        "UPDATE appointments AS a SET reminder_status = v.status,"
        " reminder_digit = coalesce(v.digit, a.reminder_digit), updated_at = v.at::timestamptz"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
        f" AS v(status, digit, at, clinic_id, appointment_id) {_VISIT_UNNESTED}",
        (3, 4),
    ),
    _FINISH: _InOne(
        f"UPDATE targets AS t SET state = '{TargetState.DONE.value}', stop_reason = v.reason,"
        " updated_at = v.at::timestamptz FROM unnest($1::text[], $2::text[], $3::text[]) AS v(reason, at, target_id)"
        " WHERE t.target_id = v.target_id::integer",
        (2,),
    ),
}


def statements(writes: Sequence[FollowUpWrite], stamp: Callable[[datetime], object]) -> list[Statement]:
    """The statements that write `writes` in runs of one kind, each with its rows; times as `stamp` makes them."""
    out: list[Statement] = []
    for run in in_kind_runs(writes):
        out.extend(_STATEMENTS[type(run[0])](run, stamp))
    return out


def _statuses(run: list[Any], stamp: Callable[[datetime], object]) -> list[Statement]:
    writes: list[SetVisitStatus] = run
    rows: list[tuple[object, ...]] = [
        (w.status.value if w.status else None, w.digit, stamp(w.at), w.clinic_id, w.appointment_id)
        for w in writes
    ]
    return [(_SET_STATUS, rows)]


def _admin_tasks(run: list[Any], stamp: Callable[[datetime], object]) -> list[Statement]:
    writes: list[OpenAdminTask] = run
    open_ = AdminTaskStatus.OPEN.value
    rows: list[tuple[object, ...]] = [
        (w.clinic_id, w.kind, w.appointment_id, w.patient_id, w.source, open_, w.comment, stamp(w.at))
        for w in writes
    ]
    return [(_ADMIN_TASK, rows)]


def _freed(run: list[Any], stamp: Callable[[datetime], object]) -> list[Statement]:
    writes: list[FreeSlot] = run
    return [(_FREED, [(w.clinic_id, w.appointment_id, stamp(w.at)) for w in writes])]


def _due(run: list[Any], stamp: Callable[[datetime], object]) -> list[Statement]:
    writes: list[ScheduleDue] = run
    pending = DueState.PENDING.value
    rows: list[tuple[object, ...]] = [
        (
            t.task_id,
            t.clinic_id,
            t.kind.value,
            t.campaign,
            t.target_id,
            stamp(t.due_at),
            pending,
            t.tries,
            stamp(t.due_at),
        )
        for t in (w.task for w in writes)
    ]
    return [(_DUE, rows)]


def _finishes(run: list[Any], stamp: Callable[[datetime], object]) -> list[Statement]:
    writes: list[FinishTarget] = run
    statuses: list[tuple[object, ...]] = [
        (w.status.value, w.digit, stamp(w.at), w.clinic_id, w.appointment_id) for w in writes
    ]
    finishes: list[tuple[object, ...]] = [(w.reason, stamp(w.at), w.target_id) for w in writes]
    return [(_FINAL_STATUS, statuses), (_FINISH, finishes)]


_STATEMENTS: dict[type, Callable[[list[Any], Callable[[datetime], object]], list[Statement]]] = {
    SetVisitStatus: _statuses,
    OpenAdminTask: _admin_tasks,
    FreeSlot: _freed,
    ScheduleDue: _due,
    FinishTarget: _finishes,
}


class CompiledSelect:
    """A select compiled once for the driver itself (sqlite3 or asyncpg), with a WHERE of its own, its rows made
    as SQLAlchemy makes them (the columns' own result processors: instants, booleans) and read by column name."""

    def __init__(self, query: Select[Any], dialect: Dialect, tail: str) -> None:
        self.sql = f"{query.compile(dialect=dialect)} {tail}"
        columns = list(query.selected_columns)
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        # Only the columns whose stored value needs converting (instants, booleans) are touched: the row is
        # made at the driver's speed, not a Python call per column.
        self.converted = [(i, p) for i, p in enumerate(processors) if p is not None]
        self.row: Any = namedtuple("Row", [c.key for c in columns])  # type: ignore[misc]

    def made(self, raw_rows: Iterable[Sequence[Any]]) -> list[Any]:
        make, converted = self.row._make, self.converted
        if not converted:
            return [make(raw) for raw in raw_rows]
        rows = []
        for raw in raw_rows:
            values = list(raw)
            for i, convert in converted:
                values[i] = convert(values[i])
            rows.append(make(values))
        return rows

    def rows(self, conn: sqlite3.Connection, *params: object) -> list[Any]:
        return self.made(conn.execute(self.sql, params))

    async def rows_pg(self, conn: Any, *params: object) -> list[Any]:
        return self.made(await conn.fetch(self.sql, *params))


_IDS_SQLITE = "(SELECT value FROM json_each(?))"
# The ids go as text[]: asyncpg decodes it without asking the server, where an integer[] (or varchar[]) parameter
# costs each new connection a type introspection query, ~8 ms, on its first use.
_IDS_PG = "(SELECT unnest($1::text[])::integer)"


@dataclass(frozen=True)
class ViewReader:
    """The reads of followups.read_views straight on the driver: targets, their SMS, their attempts."""

    targets: CompiledSelect
    sms: CompiledSelect
    attempts: CompiledSelect

    @classmethod
    def compile(cls, target_query: Select[Any], dialect: Dialect) -> ViewReader:
        ids = _IDS_PG if dialect.name == "postgresql" else _IDS_SQLITE
        return cls(
            CompiledSelect(
                target_query, dialect, f"WHERE targets.target_id IN {ids} ORDER BY targets.target_id"
            ),
            CompiledSelect(
                select(sms_messages.c.target_id, sms_messages.c.status),
                dialect,
                f"WHERE sms_messages.target_id IN {ids} ORDER BY sms_messages.created_at",
            ),
            CompiledSelect(
                ATTEMPT_ROW,
                dialect,
                f"WHERE attempts.target_id IN {ids} ORDER BY attempts.target_id, attempts.n",
            ),
        )

    def read(self, conn: sqlite3.Connection, target_ids: Collection[int]) -> ViewRows:
        """On sqlite3, on one snapshot (the caller's transaction)."""
        ids = json.dumps(sorted(set(target_ids)))
        return ViewRows(self.targets.rows(conn, ids), self.sms.rows(conn, ids), self.attempts.rows(conn, ids))

    async def read_pg(self, conn: Any, target_ids: Collection[int]) -> ViewRows:
        """On an asyncpg connection, as read_views reads them through SQLAlchemy."""
        ids = [str(i) for i in sorted(set(target_ids))]
        return ViewRows(
            await self.targets.rows_pg(conn, ids),
            await self.sms.rows_pg(conn, ids),
            await self.attempts.rows_pg(conn, ids),
        )
