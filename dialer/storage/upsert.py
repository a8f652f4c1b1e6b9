"""INSERT ... ON CONFLICT for SQLite and PostgreSQL, and the import's upsert of a clinic's rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.core.records import UpsertCounts


def insert_ignore(
    conn: AsyncConnection, table: Table, keys: Sequence[str]
) -> sqlite.Insert | postgresql.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))


def insert_dialect(conn: AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def upsert_clinic_rows(
    conn: AsyncConnection,
    table: Table,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    refreshed: Iterable[str],
    keep_when_null: Iterable[str] = (),
) -> UpsertCounts:
    """Insert rows keyed by (clinic_id, `key`); a row already there gets the `refreshed` columns, and the
    `keep_when_null` columns only when the new value is given. Counts the rows created and updated."""
    existing = {
        (r[0], r[1])
        for r in await conn.execute(
            select(table.c.clinic_id, table.c[key]).where(table.c[key].in_({row[key] for row in rows}))
        )
    }
    stmt = insert_dialect(conn, table)
    set_: dict[str, Any] = {k: stmt.excluded[k] for k in refreshed}
    for k in keep_when_null:
        set_[k] = func.coalesce(stmt.excluded[k], table.c[k])
    await conn.execute(stmt.on_conflict_do_update(index_elements=["clinic_id", key], set_=set_), list(rows))
    updated = sum(1 for row in rows if (row["clinic_id"], row[key]) in existing)
    return UpsertCounts(len(rows) - updated, updated)
