"""The PostgreSQL pool's connections on a real PostgreSQL, through a line the test controls: a checkout costs no
round trip of its own, and a connection the server closed, or one an idle link lost without a word, is replaced
without the statement that took it failing; the connections of a busy moment stay open for the next one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.storage import db
from tests.tcp_line import TcpLine

pytestmark = pytest.mark.pg


@pytest.fixture
async def line(postgres_url: str) -> AsyncIterator[TcpLine]:
    line = await TcpLine(make_url(postgres_url).port or 5432).start()
    yield line
    await line.stop()


@pytest.fixture
async def engine(postgres_url: str, line: TcpLine) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(
        make_url(postgres_url).set(host="127.0.0.1", port=line.port).render_as_string(False)
    )
    yield engine
    await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    """The server process of the connection a checkout hands out, read on the driver as the card reader does."""
    async with engine.connect() as conn:
        driver: Any = (await conn.get_raw_connection()).driver_connection
        return int(await driver.fetchval("SELECT pg_backend_pid()"))


async def test_a_checkout_sends_nothing_but_the_statement(engine: AsyncEngine, line: TcpLine) -> None:
    first = await backend_pid(engine)
    before = line.writes_up
    assert await backend_pid(engine) == first  # the same connection, taken again
    assert line.writes_up - before == 1  # the statement's one round trip: no ping before it


async def test_a_connection_the_server_closed_is_replaced_and_the_statement_runs(
    engine: AsyncEngine, postgres_url: str
) -> None:
    first = await backend_pid(engine)
    admin = db.create_engine(postgres_url)
    try:
        async with admin.connect() as conn:
            assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})).scalar()
    finally:
        await admin.dispose()
    await asyncio.sleep(0.2)  # the server's close reaches the pooled connection
    assert await backend_pid(engine) != first


async def test_a_connection_an_idle_link_lost_silently_is_pinged_and_replaced(
    engine: AsyncEngine, line: TcpLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend_pid(engine)
    line.freeze()  # no FIN, no RST: the pooled connection cannot know
    monkeypatch.setattr(db, "IDLE_BEFORE_PING", 0.0)
    monkeypatch.setattr(db, "PING_TIMEOUT", 0.5)
    second = await asyncio.wait_for(backend_pid(engine), 10)
    assert second != first


async def test_the_connections_a_busy_moment_opened_serve_the_next_without_a_connect(
    engine: AsyncEngine,
) -> None:
    opened = 0

    def count(*_: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(engine.sync_engine, "connect", count)

    async def hold_one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.1)"))

    busy = db.PG_POOL_KEPT
    await asyncio.gather(*(hold_one() for _ in range(busy)))
    assert opened == busy
    await asyncio.gather(*(hold_one() for _ in range(busy)))
    assert opened == busy  # each one was kept when given back, not closed and opened again
