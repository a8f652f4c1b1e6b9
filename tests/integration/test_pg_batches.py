"""PostgreSQL's fast path of `SqlAttemptStore.apply` (dialer/storage/pgbatch.py, straight on asyncpg) against the
SQLAlchemy path, on two databases of a real PostgreSQL: the same batches give the same returned sets and the
same stored rows, read back as the same instants; a replayed end leaves the first one standing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert

from dialer.core.records import AttemptRow, AttemptState
from dialer.storage.attempts import SqlAttemptStore
from dialer.storage.pgbatch import PgBatchWriter
from dialer.storage.repository import Storage
from dialer.storage.schema import targets
from tests.integration.test_attempt_batches import (
    BATCHES,
    CLINIC,
    IDS,
    STATES_AFTER,
    T0,
    at,
    read_back,
    states_of,
)
from tests.postgres_plugin import PostgresCluster

pytestmark = pytest.mark.pg


async def open_storage(url: str) -> Storage:
    storage = await Storage.open(url)
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(targets).values(
                target_id=1,
                clinic_id=CLINIC,
                campaign="reminders",
                subject_id="A-1",
                patient_id="P-1",
                phone="+79161234567",
                created_at=T0,
                updated_at=T0,
            )
        )
    for n, attempt_id in enumerate(IDS, start=1):
        await storage.attempts.create(
            AttemptRow(attempt_id, CLINIC, 1, n, "+79161234567", "sim", AttemptState.DIALING, at(n / 7))
        )
    return storage


@pytest.fixture
async def both(
    postgres_url: str, postgres_cluster: PostgresCluster
) -> AsyncIterator[tuple[Storage, Storage]]:
    second = postgres_cluster.fresh_database()
    fast = await open_storage(postgres_url)
    reference = await open_storage(postgres_cluster.url(second))
    try:
        yield fast, reference
    finally:
        await fast.close()
        await reference.close()
        postgres_cluster.drop_database(second)


async def test_the_fast_path_stores_what_the_sqlalchemy_path_stores(both: tuple[Storage, Storage]) -> None:
    fast, reference = both
    assert isinstance(fast.attempts.batches, PgBatchWriter)
    sqlalchemy_path = SqlAttemptStore(reference.engine)
    for batch, log in BATCHES:
        assert await fast.attempts.apply(batch, log) == await sqlalchemy_path.apply(batch, log)

    history, rows, events = await read_back(fast)
    assert (history, rows, events) == await read_back(reference)
    assert rows[0]["answered_at"] == at(1.5) and rows[0]["ended_at"] == at(
        20
    )  # the first end, not the replayed
    assert (rows[1]["answered_at"], rows[1]["ended_at"]) == (at(2.000001), at(21.5))
    assert [(r["kind"], r["at"]) for r in events] == [
        ("channel", at(0.25)),
        ("answered", at(1.5)),
        ("digit", at(3.123456)),
        ("ended", at(20)),
        ("ended", at(22)),
        ("note", at(50)),
    ]
    assert states_of(history) == STATES_AFTER
    assert rows[3]["answered_at"] == at(2.5) and rows[4]["ended_at"] == at(24)
