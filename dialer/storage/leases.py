"""A named lease so that only one process dials for a database at a time, with its fencing generation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from dialer.core.fencing import Fence, FencedOut
from dialer.storage.schema import leases
from dialer.storage.upsert import insert_ignore


class SqlLeaseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def take(
        self, name: str, holder: str, now: datetime, ttl_seconds: float, *, steal_from: str | None = None
    ) -> Fence | str:
        """Take the lease at a new generation: free, expired, ours from before, or `steal_from`'s. Returns
        the fence, or the name of the live holder."""
        expires = now + timedelta(seconds=ttl_seconds)
        async with self.engine.begin() as conn:
            await conn.execute(
                insert_ignore(conn, leases, ["name"]).values(
                    name=name, holder="", expires_at=now, generation=0
                )
            )
            taken = await conn.execute(
                update(leases)
                .where(
                    leases.c.name == name,
                    (leases.c.holder == holder)
                    | (leases.c.holder == "")
                    | (leases.c.expires_at < now)
                    | (leases.c.holder == (steal_from or "")),
                )
                .values(holder=holder, expires_at=expires, generation=leases.c.generation + 1)
                .returning(leases.c.generation)
            )
            generation = taken.scalar()
            if generation is not None:
                return Fence(name, holder, int(generation))
            current = await conn.scalar(select(leases.c.holder).where(leases.c.name == name))
        return str(current)

    async def renew(self, fence: Fence, now: datetime, ttl_seconds: float) -> bool:
        """Extend the lease if it is still this fence's; False when another node took it meanwhile."""
        async with self.engine.begin() as conn:
            renewed = await conn.execute(
                update(leases).where(*_current(fence)).values(expires_at=now + timedelta(seconds=ttl_seconds))
            )
        return bool(renewed.rowcount)

    async def acquire(
        self, name: str, holder: str, now: datetime, ttl_seconds: float, *, steal_from: str | None = None
    ) -> str | None:
        """Take or renew the lease. Returns None on success, or the current holder's name."""
        taken = await self.take(name, holder, now, ttl_seconds, steal_from=steal_from)
        return None if isinstance(taken, Fence) else taken

    async def release(self, name: str, holder: str) -> None:
        """Free the lease for anyone at once. The row stays, so the next holder's generation is still higher
        than every one before it and no fence of an earlier holder can ever be current again."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(leases).where(leases.c.name == name, leases.c.holder == holder).values(holder="")
            )


async def check_fence(conn: AsyncConnection, fence: Fence | None) -> None:
    """Within the caller's transaction, before its first write: refuse unless `fence` is still current.

    An update, not a read: it takes the lease row's lock (PostgreSQL) or the database's write lock (SQLite)
    until the caller commits, so a takeover waits for this write or this write sees the takeover."""
    if fence is None:
        return
    held = await conn.execute(update(leases).where(*_current(fence)).values(generation=leases.c.generation))
    if not held.rowcount:
        raise FencedOut(f"the dialing lease is no longer this node's (generation {fence.generation})")


def _current(fence: Fence) -> tuple[ColumnElement[bool], ...]:
    return (
        leases.c.name == fence.name,
        leases.c.holder == fence.holder,
        leases.c.generation == fence.generation,
    )
