"""Reading a test's database, whichever it is: the same SQL and the same assertions on a SQLite file and on
PostgreSQL. Each read opens its own connection through SQLAlchemy (aiosqlite or asyncpg, the service's own
drivers) on a loop of its own, so a test may read from inside its running loop as it did with sqlite3.

Values come back as SQLite shows them to a raw query, whichever the backend: an instant as naive-UTC text
(`2026-12-04 08:00:00.000000`, what storage.types.UtcDateTime writes there), a day as ISO text, a number
PostgreSQL computes exactly (`avg`, `sum` of numerics) as a float. An assertion then reads one way on both."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

_PLACEHOLDER = re.compile(r"\?")


class Record(dict[str, Any]):
    """A row by column name (`r["phone"]`, `dict(r)`) and by position (`r[0]`), as sqlite3.Row reads."""

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, int):
            return list(self.values())[key]
        return super().__getitem__(key)


def as_sqlite_shows(value: object) -> object:
    """`value` as SQLite's raw rows hold it (see the module's note)."""
    if isinstance(value, datetime):
        instant = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
        return instant.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def named(sql: str, params: Sequence[object]) -> tuple[str, dict[str, object]]:
    """`?` placeholders (sqlite3's) as SQLAlchemy's `:p0`, `:p1`…, which every driver understands."""
    counter = itertools.count()
    statement = _PLACEHOLDER.sub(lambda _: f":p{next(counter)}", sql)
    used = next(counter)
    if used != len(params):
        raise ValueError(f"{used} placeholders but {len(params)} parameters in {sql!r}")
    return statement, {f"p{i}": value for i, value in enumerate(params)}


async def _fetch(url: str, sql: str, params: dict[str, object]) -> list[Record]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(sql), params)
            return [Record({k: as_sqlite_shows(v) for k, v in r._mapping.items()}) for r in rows]
    finally:
        await engine.dispose()


def read_rows(url: str, sql: str, params: Sequence[object] = ()) -> list[Record]:
    """The rows `sql` (with `?` placeholders) selects from the database at `url`."""
    statement, values = named(sql, params)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _fetch(url, statement, values)).result()
