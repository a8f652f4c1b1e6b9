"""Opening the database: SQLite in WAL mode by default, PostgreSQL by URL; migrations on open."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dialer.core.clock import Clock, SystemClock
from dialer.core.errors import PeerFailed

MIGRATIONS = Path(__file__).parent / "migrations"


class MigrationError(PeerFailed):
    """The database could not be brought to the newest revision; the upgrade was rolled back."""


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the web pages read while the dialer writes; NORMAL sync is durable across process crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # What is deleted is overwritten, not left in free pages: a forgotten patient is not in the file any more.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def private_file(path: Path) -> None:
    """The database's folder (when we make it) 0700 and the file 0600: patients' data for the service's user only.

    SQLite gives its -wal and -shm files the mode of the database file.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # made readable to others by an older version, or by hand


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    # A failed statement's message never carries the values bound to it (names, phones) into a log.
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            private_file(Path(parsed.database))
        engine = create_async_engine(url, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    # LIFO: the connection just returned is taken again, with its prepared statements (asyncpg keeps them per
    # connection), rather than each checkout going round the pool to one that has not seen them.
    if parsed.get_driver_name() != "asyncpg":
        return create_async_engine(url, pool_pre_ping=True, pool_use_lifo=True, hide_parameters=True)
    engine = create_async_engine(
        url, pool_use_lifo=True, pool_size=PG_POOL_KEPT, max_overflow=PG_POOL_BURST, hide_parameters=True
    )
    event.listen(engine.sync_engine, "connect", asyncpg_types_learnt)
    links = IdleLinks(SystemClock())
    event.listen(engine.sync_engine, "connect", links.note_returned)
    event.listen(engine.sync_engine, "checkin", links.note_returned)
    event.listen(engine.sync_engine, "checkout", links.refuse_dead_connection)
    return engine


# A node serving 200 operators beside 50 calls a second holds six or seven connections at its busiest moments.
# SQLAlchemy's pool keeps five and closes each one beyond that when it is given back, so every such moment paid a
# connect, a login and a type lookup again, while a card read ahead for a waiting caller waited up to ~120 ms.
# Kept: twice that peak, for a larger chain; the burst allowance is for the rare moment beyond. Per node that is
# at most 25 of PostgreSQL's default 100.
PG_POOL_KEPT = 15
PG_POOL_BURST = 10

# SQLAlchemy's pre-ping costs three round trips on asyncpg (BEGIN, a query, ROLLBACK) at every checkout: on a busy
# event loop each one waits its turn, and a pop-up's card is one statement. A connection the server closed (a
# restart, a failover, an administrator's kill) is known to asyncpg as soon as the loop has read the close, so it
# is refused for free; only one idle long enough for a firewall to have dropped it silently is pinged, once.
IDLE_BEFORE_PING = 30.0  # seconds
# A link cut without a close answers nothing: after this the pool opens a new connection instead.
PING_TIMEOUT = 5.0  # seconds


class IdleLinks:
    """How long each pooled connection has lain idle, on the host's monotonic clock: a network link's idleness,
    which no rehearsal's time bears on."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def note_returned(self, _dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = self.clock.monotonic()

    def refuse_dead_connection(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """Raising DisconnectionError makes the pool drop this connection and hand out another (a new one if need
        be)."""
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this connection")
        if self.clock.monotonic() - record.info.get("returned_at", 0.0) < IDLE_BEFORE_PING:
            return
        try:
            dbapi_connection.run_async(lambda conn: conn.fetchrow(";", timeout=PING_TIMEOUT))
        except Exception as error:  # whatever the dead link raises: the pool tries the next connection
            raise DisconnectionError("an idle connection did not answer") from error
        record.info["returned_at"] = self.clock.monotonic()


# asyncpg asks the server how to decode a type it has no codec of its own for, once per connection, with a query
# that takes ~8 ms: an array of rows (the pop-up card's one statement, storage/pgcard.py) is such a type. A new
# connection learns it here, so that the first card it reads is as quick as the others.
_TYPES_TO_LEARN = "SELECT ARRAY(SELECT ROW(1))"


def asyncpg_types_learnt(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.run_async(lambda conn: conn.fetch(_TYPES_TO_LEARN))


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> bool:
    """Bring the schema to the newest revision; True when a migration ran."""
    before = MigrationContext.configure(connection).get_current_revision()
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return MigrationContext.configure(connection).get_current_revision() != before


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision. Safe to run on every start."""
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
        return
    async with engine.connect() as conn:
        # SQLite changes a table by building a new one and dropping the old (alembic's batch mode), which the
        # foreign keys of rows pointing at it refuse. They are off for the migration (a pragma that only takes
        # effect outside a transaction) and checked as a whole before it is committed, when a migration ran:
        # the check reads every row that points at another, 28 s on ten million calls, too long for every start.
        await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        await conn.commit()
        try:
            async with conn.begin():
                # sqlite3 opens a transaction only before a row is written, so the migration's first CREATE
                # and DROP would otherwise stay after a rollback and stop the next start half-way.
                await conn.exec_driver_sql("BEGIN")
                if not await conn.run_sync(_upgrade):
                    return
                broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
                if broken:
                    tables = sorted({str(row[0]) for row in broken})
                    raise MigrationError(
                        f"the upgrade would leave rows pointing at nothing in {', '.join(tables)}"
                    )
        finally:
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            await conn.commit()
