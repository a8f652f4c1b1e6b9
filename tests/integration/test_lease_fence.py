"""The dialing lease's fencing token on a real database (SQLite file, and PostgreSQL with `--db`): a node
whose lease another node has taken cannot write a new attempt, whatever it believes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from dialer.core.fencing import Fence, FencedOut
from dialer.core.records import AttemptRow, AttemptState
from dialer.storage.attempts import new_attempt
from dialer.storage.leases import check_fence
from dialer.storage.repository import Storage
from dialer.storage.schema import attempts, targets

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
TTL = 4.0
OLD, NEW = "node-a:101:aaaa", "node-b:202:bbbb"


def attempt(n: int) -> AttemptRow:
    return AttemptRow(f"inst:reminders:1:{n}", "c1", 1, n, "+79161234567", "sim", AttemptState.DIALING, NOW)


async def with_target(database_url: str) -> Storage:
    storage = await Storage.open(database_url)
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(targets).values(
                target_id=1,
                clinic_id="c1",
                campaign="reminders",
                subject_id="A-1",
                patient_id="P-1",
                phone="+79161234567",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return storage


async def written(storage: Storage) -> list[str]:
    async with storage.engine.connect() as conn:
        return list((await conn.scalars(select(attempts.c.attempt_id).order_by(attempts.c.n))).all())


async def test_an_old_leader_cannot_write_an_attempt_once_its_lease_was_taken(database_url: str) -> None:
    storage = await with_target(database_url)
    try:
        leases = storage.leases
        old = await leases.take("dialing", OLD, NOW, TTL)
        assert isinstance(old, Fence) and old.generation == 1
        assert await leases.take("dialing", NEW, NOW + timedelta(seconds=1), TTL) == OLD  # still alive
        storage.attempts.fence = old
        await storage.attempts.create(attempt(1))

        # The old leader stops renewing (paused, or cut off); after the lease's life another node takes it.
        new = await leases.take("dialing", NEW, NOW + timedelta(seconds=TTL + 1), TTL)
        assert isinstance(new, Fence) and new.generation == 2
        with pytest.raises(FencedOut):
            await storage.attempts.create(
                attempt(2)
            )  # the old one wakes up and goes on as if nothing happened
        assert not await leases.renew(old, NOW + timedelta(seconds=TTL + 2), TTL)

        storage.attempts.fence = new
        await storage.attempts.create(attempt(3))
        assert await leases.renew(new, NOW + timedelta(seconds=TTL + 2), TTL)
        storage.attempts.fence = Fence("dialing", NEW, 0)  # a standby's: never current
        with pytest.raises(FencedOut):
            await storage.attempts.create(attempt(4))
        assert await written(storage) == ["inst:reminders:1:1", "inst:reminders:1:3"]
    finally:
        await storage.close()


async def test_a_takeover_waits_for_a_write_already_fenced_and_the_next_write_is_refused(
    database_url: str,
) -> None:
    """The fence check locks the lease row (PostgreSQL) or the database (SQLite) until its write commits: a
    takeover cannot slip in between the check and the attempt's insert."""
    storage = await with_target(database_url)
    try:
        leases = storage.leases
        old = await leases.take("dialing", OLD, NOW, TTL)
        assert isinstance(old, Fence)
        async with storage.engine.connect() as conn:
            transaction = await conn.begin()
            await check_fence(conn, old)
            await conn.execute(new_attempt(attempt(1)))
            takeover = asyncio.create_task(leases.take("dialing", NEW, NOW + timedelta(seconds=TTL + 1), TTL))
            await asyncio.sleep(0.5)
            assert not takeover.done()  # held behind the fenced write
            await transaction.commit()
        new = await asyncio.wait_for(takeover, 10)
        assert isinstance(new, Fence) and new.generation == old.generation + 1
        storage.attempts.fence = old
        with pytest.raises(FencedOut):
            await storage.attempts.create(attempt(2))
        assert await written(storage) == ["inst:reminders:1:1"]
    finally:
        await storage.close()


async def test_a_released_lease_is_taken_again_at_a_higher_generation(database_url: str) -> None:
    # A clean stop frees the lease for the standby at once; the generation still only rises, so a node
    # restarted under the same name never holds a fence an earlier leader held.
    storage = await Storage.open(database_url)
    try:
        leases = storage.leases
        first = await leases.take("dialing", OLD, NOW, TTL)
        assert isinstance(first, Fence) and first.generation == 1
        await leases.release("dialing", OLD)
        second = await leases.take("dialing", NEW, NOW + timedelta(seconds=1), TTL)  # free before its expiry
        assert isinstance(second, Fence) and second.generation == 2
        await leases.release("dialing", NEW)
        again = await leases.take("dialing", OLD, NOW + timedelta(seconds=2), TTL)
        assert isinstance(again, Fence) and again.generation == 3
        assert not await leases.renew(first, NOW + timedelta(seconds=3), TTL)
    finally:
        await storage.close()
