"""The generated chain on PostgreSQL: a throwaway cluster (the one the tests start), a database migrated by the
product, and the rows of a generated SQLite file moved in with COPY.

Rows are read from the SQLite file through the product's own table definitions (so instants come back as aware
UTC datetimes, days as dates, flags as booleans: what SQLAlchemy would write to PostgreSQL) and sent with
asyncpg's ``copy_records_to_table``, parents before children, in the order the product's copy
(dialer/storage/copying.py) takes them. The integer keys' sequences are moved past the copied rows, as that copy
does, and the database is VACUUMed and ANALYZEd once, as autovacuum would have done on a database filled over
three months (the vacuum's visibility map is what lets PostgreSQL answer from a covering index alone).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Table, select, text
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


def _copy_table(sqlite_path: Path, reader: Table, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    engine = sqlalchemy.create_engine(f"sqlite:///{sqlite_path}")
    try:
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=BATCH).execute(
                select(*(reader.c[name] for name in columns))
            )
            for part in result.partitions(BATCH):
                yield [tuple(row) for row in part]
    finally:
        engine.dispose()


async def _fill(sqlite_path: Path, target: AsyncConnection, log: Callable[[str], None]) -> dict[str, int]:
    source_engine = create_async_engine(f"sqlite+aiosqlite:///{sqlite_path}")
    try:
        async with source_engine.connect() as source:
            tables, readers = await _tables(source, target)
    finally:
        await source_engine.dispose()
    fairy = await target.get_raw_connection()
    driver: Any = fairy.driver_connection  # asyncpg.Connection
    counts: dict[str, int] = {}
    for table in tables:
        columns = [c.name for c in table.columns]
        n = 0
        for records in _copy_table(sqlite_path, readers[table.name], columns):
            await driver.copy_records_to_table(table.name, records=records, columns=columns)
            n += len(records)
        if n:
            counts[table.name] = n
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
