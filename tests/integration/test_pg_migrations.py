"""The migrations on a real PostgreSQL: from an empty database to the newest revision, the schema they build is
the one the code declares (tables, columns and their types, indexes, keys), and running them again changes
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from dialer.storage.db import create_engine, migrate
from dialer.storage.journal_schema import all_tables
from tests.postgres_plugin import PostgresCluster

pytestmark = pytest.mark.pg


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, all_tables()))


async def test_the_migrations_build_on_postgresql_the_schema_the_code_declares(
    postgres_cluster: PostgresCluster,
) -> None:
    name = "dialer_from_empty"
    postgres_cluster.sql(f"CREATE DATABASE {name}")  # empty: not the migrated template
    engine = create_engine(postgres_cluster.url(name))
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            head = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            assert await conn.run_sync(differences) == []
        await migrate(engine)  # on every start: nothing to do the second time
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == head
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()
        postgres_cluster.drop_database(name)
