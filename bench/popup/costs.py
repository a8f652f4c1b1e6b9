"""What one patient card costs: the product's lookup against the same statements on a bare connection (sqlite3,
or asyncpg outside the pool and SQLAlchemy on PostgreSQL), and GC."""

from __future__ import annotations

import gc
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite.core
import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event

from dialer.app import Runtime
from dialer.storage.cards import LAST_CONTACTS, NEXT_VISITS, SqlCardStore, _read_card
from dialer.storage.pgcard import PgCardReader


@dataclass
class CardCosts:
    product: list[float]  # SqlCardStore.card, idle (after the phases)
    sqlite: list[float]  # the same statements on a bare connection, one after the other
    statements: float  # per card
    hops: float  # aiosqlite thread hand-offs per card
    full_gc: tuple[int, float, float] = (0, 0.0, 0.0)  # objects tracked; gc.collect() s; after gc.freeze() s
    bare: str = "sqlite3"
    seven: list[float] | None = None  # PostgreSQL: the card's seven queries through SQLAlchemy, as before


def full_gc() -> tuple[int, float, float]:
    """What a full (generation 2) collection of this process costs, and the same once gc.freeze() has moved
    everything alive into the permanent generation (the service would do that once started)."""
    gc.collect()
    objects = len(gc.get_objects())
    t0 = time.perf_counter()
    gc.collect()
    full = time.perf_counter() - t0
    gc.freeze()
    t0 = time.perf_counter()
    gc.collect()
    frozen = time.perf_counter() - t0
    gc.unfreeze()
    return objects, full, frozen


async def pg_card_costs(rt: Runtime, phones: list[str], n: int = 200) -> CardCosts:
    """On PostgreSQL: the product's call against its one statement on a bare asyncpg connection."""
    reader = PgCardReader.for_engine(rt.storage.engine, NEXT_VISITS, LAST_CONTACTS)
    if reader is None:
        raise RuntimeError("not a PostgreSQL database over asyncpg")
    product = []
    for phone in phones[:n]:
        t0 = time.perf_counter()
        await rt.storage.cards.card(phone, rt.clock.now())
        product.append(time.perf_counter() - t0)
    seven = []
    for phone in phones[:n]:
        t0 = time.perf_counter()
        async with rt.storage.engine.connect() as sa:
            await sa.run_sync(_read_card, phone, rt.clock.now(), None)
        seven.append(time.perf_counter() - t0)
    url = rt.storage.engine.url.set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    raw = []
    try:
        for phone in phones[:n]:
            t0 = time.perf_counter()
            await conn.fetchrow(reader.statement, phone, None, rt.clock.now())
            raw.append(time.perf_counter() - t0)
    finally:
        await conn.close()
    return CardCosts(product, raw, 1.0, 0.0, bare="asyncpg", seven=seven)


async def card_costs(rt: Runtime, db: Path, phones: list[str], n: int = 200) -> CardCosts:
    """One card lookup taken apart, with nothing else running: the product's call against the bare SQLite work
    of the same statements, and how many statements and thread round trips (aiosqlite's, or the one of the
    synchronous read; none on the event loop) it takes."""
    captured: list[list[tuple[str, tuple[Any, ...]]]] = []

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        captured[-1].append((statement, tuple(parameters or ())))

    hops = 0
    cls: Any = aiosqlite.core.Connection
    original = cls._execute

    async def counted(conn: Any, fn: Any, *a: Any, **kw: Any) -> Any:
        nonlocal hops
        hops += 1
        return await original(conn, fn, *a, **kw)

    # The product reads cards on the event loop where the database is a SQLite file (a thread when that file is
    # busy, or in the sqlite-thread variant: a synchronous engine of their own).
    on_loop = rt.storage.cards.loop_reader
    reader = None if on_loop is not None else rt.storage.cards.file_reader
    engine = reader if reader is not None else rt.storage.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    if on_loop is not None:
        on_loop.trace(lambda sql: captured[-1].append((sql, ())) if sql.startswith("SELECT") else None)
    cls._execute = counted
    product = []
    try:
        for phone in phones[:n]:
            captured.append([])
            t0 = time.perf_counter()
            await SqlCardStore.card(
                rt.storage.cards, phone, rt.clock.now()
            )  # the product's, whatever is in use
            product.append(time.perf_counter() - t0)
            hops += reader is not None  # the one hand-off to a thread of the synchronous read
    finally:
        cls._execute = original
        event.remove(engine, "before_cursor_execute", before)
        if on_loop is not None:
            on_loop.trace(None)
    raw = []
    con = sqlite3.connect(db)
    try:
        for statements in captured:
            t0 = time.perf_counter()
            for sql, params in statements:
                con.execute(sql, params).fetchall()
            raw.append(time.perf_counter() - t0)
    finally:
        con.close()
    return CardCosts(product, raw, sum(map(len, captured)) / len(captured), hops / len(captured))
