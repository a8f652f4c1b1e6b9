"""The generated chain on PostgreSQL: a throwaway cluster (the one the tests start), a database migrated by the
product, and the rows of a generated SQLite file moved in with COPY.

Rows are read from the SQLite file as it keeps them (instants as naive UTC text, read by PostgreSQL in a UTC
session; days as ISO text; flags as 0/1) and streamed into COPY as CSV, BATCH rows a chunk, parents before
children, in the order the product's copy (dialer/storage/copying.py) takes them. The migrations' secondary
indexes (those no constraint stands on) are dropped before the rows and made again after them from their own
definitions (`pg_get_indexdef`), checked to be the same set afterwards: the end state is the schema the
migrations make, built in minutes rather than kept up row by row for an hour on the 10M chain. The integer
keys' sequences are moved past the copied rows, as that copy does, and the database is VACUUMed and ANALYZEd
once, as autovacuum would have done on a database filled over three months (the vacuum's visibility map is what
lets PostgreSQL answer from a covering index alone).
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from dialer.storage.copying import _tables
from dialer.storage.repository import Storage
from tests.postgres_plugin import TEMPLATE, PostgresCluster, postgres_bin, start_cluster, stop_cluster

BATCH = 50_000


def available() -> bool:
    """Whether a throwaway cluster can be started here (Debian's postgresql package is installed)."""
    try:
        postgres_bin("initdb")
    except RuntimeError:
        return False
    return True


@contextmanager
def cluster(log: Callable[[str], None] = print) -> Iterator[PostgresCluster]:
    t0 = time.perf_counter()
    started = start_cluster()
    log(
        f"PostgreSQL cluster on 127.0.0.1:{started.port} ({started.folder}), migrated template in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    try:
        yield started
    finally:
        stop_cluster(started)


NULL = "\\N"  # COPY's marker of a NULL (an empty field is an empty string)


async def _csv_chunks(source: sqlite3.Connection, table: str, columns: list[str]) -> AsyncIterator[bytes]:
    """The table's rows as COPY's CSV, BATCH rows a chunk: the values as SQLite keeps them, NULLs as `NULL`."""
    picked = ", ".join(f"ifnull(\"{c}\", '{NULL}')" for c in columns)
    cursor = source.execute(f'SELECT {picked} FROM "{table}" ORDER BY rowid')
    while rows := cursor.fetchmany(BATCH):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        yield out.getvalue().encode()


async def _secondary_indexes(target: AsyncConnection) -> list[tuple[str, str]]:
    """The indexes no constraint stands on (the migrations' CREATE INDEX ones): name and definition."""
    found = await target.execute(
        text(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname"
        )
    )
    return [(str(row[0]), str(row[1])) for row in found]


async def _fill(sqlite_path: Path, target: AsyncConnection, log: Callable[[str], None]) -> dict[str, int]:
    source_engine = create_async_engine(f"sqlite+aiosqlite:///{sqlite_path}")
    try:
        async with source_engine.connect() as source:
            tables, _ = await _tables(source, target)
    finally:
        await source_engine.dispose()
    for table in tables:
        for column in table.columns:
            if isinstance(column.type, sqlalchemy.LargeBinary):
                raise RuntimeError(
                    f"{table.name}.{column.name} is binary: not in COPY's CSV as SQLite keeps it"
                )
    # The instants are SQLite's naive UTC text. The generator makes every parent before its children and the
    # constraints stay declared; only their per-row triggers are skipped during the COPY (replica role).
    await target.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
    await target.exec_driver_sql("SET LOCAL session_replication_role = replica")
    await target.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
    indexes = await _secondary_indexes(target)
    for name, _ in indexes:
        await target.exec_driver_sql(f'DROP INDEX "{name}"')
    fairy = await target.get_raw_connection()
    driver: Any = fairy.driver_connection  # asyncpg.Connection
    counts: dict[str, int] = {}
    reader = sqlite3.connect(sqlite_path)
    try:
        for table in tables:
            columns = [c.name for c in table.columns]
            status = await driver.copy_to_table(
                table.name,
                source=_csv_chunks(reader, table.name, columns),
                columns=columns,
                format="csv",
                null=NULL,
            )
            n = int(str(status).split()[-1])
            if n:
                counts[table.name] = n
    finally:
        reader.close()
    t0 = time.perf_counter()
    for _, definition in indexes:
        await target.exec_driver_sql(definition)
    if await _secondary_indexes(target) != indexes:
        raise RuntimeError("the indexes made again differ from the migrations' ones")
    log(f"  {len(indexes)} secondary indexes made after the rows in {time.perf_counter() - t0:.1f} s")
    await _reset_sequences(target, tables)
    return counts


async def _reset_sequences(target: AsyncConnection, tables: list[Table]) -> None:
    for table in tables:
        for column in table.primary_key.columns:
            sequence = await target.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence is not None:
                await target.execute(
                    text(
                        f'SELECT setval(:sequence, COALESCE(MAX("{column.name}"), 1), '
                        f'MAX("{column.name}") IS NOT NULL) FROM "{table.name}"'
                    ),
                    {"sequence": sequence},
                )


async def load(
    where: PostgresCluster, name: str, sqlite_path: Path, log: Callable[[str], None] = print
) -> str:
    """A new database `name` in the cluster, migrated, holding the rows of the SQLite file; its URL."""
    t0 = time.perf_counter()
    where.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    where.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
    url = where.url(name)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            counts = await _fill(sqlite_path, conn, log)
        t1 = time.perf_counter()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        await engine.dispose()
    rows = sum(counts.values())
    log(
        f"  {sqlite_path.name} into PostgreSQL database {name}: {rows:,} rows by COPY in {t1 - t0:.1f} s, "
        f"VACUUM ANALYZE {time.perf_counter() - t1:.1f} s"
    )
    return url


def load_file(
    where: PostgresCluster, name: str, source: Path, workdir: Path, log: Callable[[str], None] = print
) -> str:
    """`load` of a generated file as the product would find it: a copy migrated to the newest revision first."""
    copy = workdir / f"{name}.db"
    shutil.copyfile(source, copy)
    try:
        asyncio.run(_migrate(copy))
        return asyncio.run(load(where, name, copy, log))
    finally:
        for leftover in workdir.glob(f"{name}.db*"):
            leftover.unlink()


async def _migrate(path: Path) -> None:
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    await storage.close()


def clone(where: PostgresCluster, template: str, name: str) -> str:
    """A fresh database holding what `template` holds (a file copy: seconds, not a reload)."""
    where.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    where.sql(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    return where.url(name)
