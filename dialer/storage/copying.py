"""Moving a whole installation from one database to another (SQLite to PostgreSQL): every table, parents before
children, in batches, with the integer keys' sequences moved past the copied rows and the rows counted on
both sides afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import MetaData, Table, delete, func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.errors import PeerFailed
from dialer.storage.journal_schema import all_tables

BATCH = 2000
NOT_COPIED = frozenset({"alembic_version"})  # each side's migrations keep their own


class CopyRefused(PeerFailed):
    """The copy was not started, or did not end with the same rows on both sides; the message says why."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    target_rows: int

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows


def _reflect(connection: Connection) -> MetaData:
    reflected = MetaData()
    reflected.reflect(connection)
    return reflected


def _names(connection: Connection) -> list[str]:
    return sorted(set(inspect(connection).get_table_names()) - NOT_COPIED)


async def _tables(source: AsyncConnection, target: AsyncConnection) -> tuple[list[Table], dict[str, Table]]:
    """The target's tables in dependency order, and how each is read from the source.

    The product's own table definitions are used where they exist, so that instants come back as aware UTC
    datetimes whatever the database keeps them as; a table only the migrations know is read as reflected.
    """
    source_names, target_names = await source.run_sync(_names), await target.run_sync(_names)
    if source_names != target_names:
        only_source = sorted(set(source_names) - set(target_names))
        only_target = sorted(set(target_names) - set(source_names))
        raise CopyRefused(
            f"в базах разные таблицы (только в исходной: {only_source or '-'}; только в новой: "
            f"{only_target or '-'}): обновите обе до одной версии (dialer db upgrade)"
        )
    known = all_tables().tables
    reflected_target = await target.run_sync(_reflect)
    reflected_source = await source.run_sync(_reflect)
    ordered = [known.get(t.name, t) for t in reflected_target.sorted_tables if t.name not in NOT_COPIED]
    readers = {t.name: known.get(t.name, reflected_source.tables[t.name]) for t in ordered}
    return ordered, readers


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _copy_rows(
    source: AsyncConnection, target: AsyncConnection, reader: Table, writer: Table, batch: int
) -> None:
    columns = [c.name for c in writer.columns]
    query = select(*(reader.c[name] for name in columns))
    key = list(reader.primary_key.columns)
    if key:
        query = query.order_by(*key)  # parents of a self-reference come before their children
    result = await source.stream(query.execution_options(yield_per=batch))
    async for rows in result.partitions(batch):
        await target.execute(insert(writer), [dict(zip(columns, row, strict=True)) for row in rows])


async def _reset_sequences(target: AsyncConnection, tables: list[Table]) -> None:
    """Integer keys made by PostgreSQL's sequences continue after the highest copied one."""
    if target.dialect.name != "postgresql":
        return
    for table in tables:
        for column in table.primary_key.columns:
            sequence = await target.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence is None:
                continue
            await target.execute(
                text(
                    f'SELECT setval(:sequence, COALESCE(MAX("{column.name}"), 1), MAX("{column.name}") IS NOT NULL) '
                    f'FROM "{table.name}"'
                ),
                {"sequence": sequence},
            )


async def copy_database(
    source: AsyncEngine,
    target: AsyncEngine,
    *,
    force: bool = False,
    batch: int = BATCH,
    progress: Callable[[str], None] = lambda _table: None,
) -> list[TableCopy]:
    """Copy every row of `source` into `target` (both migrated to the same version), in one transaction on the
    target: a failed copy leaves it as it was. A target holding any row is refused unless `force`, which
    empties it first."""
    async with source.connect() as src, target.begin() as dst:
        tables, readers = await _tables(src, dst)
        held = {t.name: n for t in tables if (n := await _count(dst, t))}
        if held and not force:
            listed = ", ".join(f"{name} {n}" for name, n in sorted(held.items()))
            raise CopyRefused(
                f"в новой базе уже есть данные ({listed}); --force очистит её перед копированием"
            )
        for table in reversed(tables):
            await dst.execute(delete(table))
        for table in tables:
            progress(table.name)
            await _copy_rows(src, dst, readers[table.name], table, batch)
        await _reset_sequences(dst, tables)
        copies = [TableCopy(t.name, await _count(src, readers[t.name]), await _count(dst, t)) for t in tables]
        wrong = [c for c in copies if not c.ok]
        if wrong:
            listed = ", ".join(f"{c.table} {c.source_rows}→{c.target_rows}" for c in wrong)
            raise CopyRefused(f"после копирования не сошлось число строк ({listed}); ничего не сохранено")
        return copies
