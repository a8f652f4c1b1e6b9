"""The migrations on a real SQLite file: a database brought to the newest revision has exactly the tables and
indexes the code declares, and the newest revision steps down and up again (an installation can roll back)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine

from dialer.storage.db import alembic_config
from dialer.storage.schema import metadata


def step(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


def differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


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
