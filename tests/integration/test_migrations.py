"""The migrations on a real SQLite file: a database brought to the newest revision has exactly the tables,
indexes and CHECK constraints the code declares, and the newest revision steps down and up again (an
installation can roll back). The state columns refuse a state the code does not know, and adding those
constraints kept every row of a database made by the revision before."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    Float,
    Integer,
    Table,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import IntegrityError

from dialer.storage.db import MigrationError, alembic_config, migrate, sqlite_pragmas
from dialer.storage.db import create_engine as create_service_engine
from dialer.storage.journal_schema import all_tables
from dialer.storage.types import UtcDateTime

# The columns that hold a state, with a value of each that the code knows; the revisions that added their CHECKs.
STATE_COLUMNS = {
    ("appointments", "reminder_status"): "pending",
    ("targets", "state"): "active",
    ("attempts", "state"): "dialing",
    ("due_tasks", "kind"): "dial",
    ("due_tasks", "state"): "pending",
    ("sms_messages", "status"): "pending",
    ("inbound_calls", "source"): "queue_log",
    ("callback_tasks", "state"): "open",
    ("wrapups", "state"): "pending",
    ("recalls", "status"): "call",
    ("sms_events", "status"): "sent",
    ("admin_tasks", "status"): "open",
    ("diary", "state"): "done",
    ("waiting_list", "state"): "booked",
    ("offers", "state"): "offered",
}
CHECKS_ADDED_BY = "0011"
MORE_CHECKS_ADDED_BY = "0012"
metadata = all_tables()


def step(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def differences(connection: Connection) -> list[object]:
    return [
        *compare_metadata(MigrationContext.configure(connection), metadata),
        *check_differences(connection),
    ]


def check_differences(connection: Connection) -> list[object]:
    """CHECK constraints declared but not in the database, or there but not declared (alembic's comparison
    does not look at them). A table not in the database at all is alembic's comparison's to report."""
    present = set(inspect(connection).get_table_names())
    found = {
        (table, c["name"])
        for table in metadata.tables
        if table in present
        for c in inspect(connection).get_check_constraints(table)
    }
    declared = {
        (table.name, str(c.name))
        for table in metadata.tables.values()
        if table.name in present
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }
    return [("missing check", *d) for d in sorted(declared - found)] + [
        ("undeclared check", *f) for f in sorted(found - declared)
    ]


def a_row(table: Table, fill: str = "x", **values: Any) -> dict[str, Any]:
    """A row of `table` with every required column filled (a state column with a state the code knows), and
    these values."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.nullable or column.autoincrement is True:
            continue
        if (table.name, column.name) in STATE_COLUMNS:
            row[column.name] = STATE_COLUMNS[table.name, column.name]
        elif isinstance(column.type, UtcDateTime):
            row[column.name] = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
        elif isinstance(column.type, Date):
            row[column.name] = date(2026, 12, 3)
        elif isinstance(column.type, Boolean):
            row[column.name] = False
        elif isinstance(column.type, (Integer, Float)):
            row[column.name] = 1
        else:
            row[column.name] = fill
    return {**row, **values}


def insert_known_states(connection: Connection) -> None:
    for (name, column), known in STATE_COLUMNS.items():
        table = metadata.tables[name]
        keys = {c.name: f"{name}-{column}" for c in table.primary_key.columns if c.autoincrement is not True}
        connection.execute(table.insert(), [a_row(table, **keys, **{column: known})])


def test_the_newest_revision_is_the_declared_schema_and_steps_down_and_up(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'dialer.sqlite3'}")
    newest = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert newest is not None
    with engine.begin() as connection:
        step(connection, "head")
        assert differences(connection) == []
        step(connection, "-1", down=True)
        assert differences(connection) != []  # the newest revision does change the schema
        step(connection, "head")
        assert differences(connection) == []
        assert MigrationContext.configure(connection).get_current_revision() == newest
    engine.dispose()


@pytest.mark.parametrize(("table", "column"), sorted(STATE_COLUMNS))
def test_a_state_column_refuses_a_state_the_code_does_not_know(
    tmp_path: Path, table: str, column: str
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'dialer.sqlite3'}")
    with engine.begin() as connection:
        step(connection, "head")
        insert_known_states(connection)  # the values the code writes are taken
    with engine.connect() as connection, pytest.raises(IntegrityError, match=f"ck_{table}_{column}_known"):
        t = metadata.tables[table]
        connection.execute(t.insert(), [a_row(t, "another", **{column: "bogus"})])
    engine.dispose()


@pytest.mark.parametrize("revision", [CHECKS_ADDED_BY, MORE_CHECKS_ADDED_BY])
def test_adding_the_state_checks_keeps_every_row(tmp_path: Path, revision: str) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'dialer.sqlite3'}")
    with engine.begin() as connection:
        previous = ScriptDirectory.from_config(alembic_config()).get_revision(revision).down_revision
        assert isinstance(previous, str)
        step(connection, previous)
        insert_known_states(connection)
        before = {name: connection.execute(select(metadata.tables[name])).all() for name, _ in STATE_COLUMNS}
        step(connection, revision)
        after = {name: connection.execute(select(metadata.tables[name])).all() for name, _ in STATE_COLUMNS}
        assert after == before
        assert all(len(rows) >= 1 for rows in after.values())
        assert (
            connection.execute(select(func.count()).select_from(metadata.tables["due_tasks"])).scalar() == 2
        )
        step(connection, "head")
        assert differences(connection) == []
    engine.dispose()


async def test_the_upgrade_rebuilds_tables_that_other_rows_point_at(tmp_path: Path) -> None:
    """As an installation meets it: a database of the revision before, with foreign keys on as the service
    keeps them and rows pointing at the tables the upgrade rebuilds, opened by the service's own migrate."""
    url = f"sqlite:///{tmp_path / 'dialer.sqlite3'}"
    engine = create_engine(url)
    event.listen(engine, "connect", sqlite_pragmas)
    linked = ("targets", "attempts", "users", "user_clinics")
    with engine.begin() as connection:
        previous = ScriptDirectory.from_config(alembic_config()).get_revision(CHECKS_ADDED_BY).down_revision
        assert isinstance(previous, str)
        step(connection, previous)
        for name in linked:  # each first row gets id 1, which the next table's row points at
            connection.execute(metadata.tables[name].insert(), [a_row(metadata.tables[name])])
        before = {name: connection.execute(select(metadata.tables[name])).all() for name in linked}
    engine.dispose()

    service_engine = create_service_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
    await migrate(service_engine)
    async with service_engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall() == []
        for name in linked:
            assert (await conn.execute(select(metadata.tables[name]))).all() == before[name]
    await service_engine.dispose()


async def test_an_upgrade_that_would_leave_rows_pointing_at_nothing_is_rolled_back_and_a_current_one_skips_the_check(
    tmp_path: Path,
) -> None:
    """The whole-file foreign key check runs when a migration ran (it reads every row that points at another, too
    long to repeat at every start of a large installation): a call whose target is gone stops the upgrade, and the
    file stays at the revision before. At the newest revision nothing runs and nothing is checked."""
    url = f"sqlite:///{tmp_path / 'dialer.sqlite3'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        heads = ScriptDirectory.from_config(alembic_config()).get_revision("head")
        assert heads is not None and isinstance(heads.down_revision, str)
        previous = heads.down_revision
        step(connection, previous)
        # The service keeps foreign keys on; a row pointing at nothing only comes from outside it.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.execute(
            metadata.tables["attempts"].insert(), [a_row(metadata.tables["attempts"], target_id=99)]
        )

    def revision() -> str | None:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    service_engine = create_service_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
    with pytest.raises(MigrationError, match="rows pointing at nothing in attempts"):
        await migrate(service_engine)
    assert revision() == previous
    with engine.begin() as connection:
        step(connection, "head")
    await migrate(service_engine)  # nothing to run: the start does not read the whole file
    assert revision() == heads.revision
    await service_engine.dispose()
    engine.dispose()
