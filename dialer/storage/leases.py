"""A named lease so that only one process dials for a database at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.storage.schema import leases
from dialer.storage.upsert import insert_ignore


class SqlLeaseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def acquire(
        self, name: str, holder: str, now: datetime, ttl_seconds: float, *, steal_from: str | None = None
    ) -> str | None:
        """Take or renew the lease. Returns None on success, or the current holder's name."""
        expires = now + timedelta(seconds=ttl_seconds)
        async with self.engine.begin() as conn:
            await conn.execute(
                insert_ignore(conn, leases, ["name"]).values(name=name, holder=holder, expires_at=expires)
            )
            taken = await conn.execute(
                update(leases)
                .where(
                    leases.c.name == name,
                    (leases.c.holder == holder)
                    | (leases.c.expires_at < now)
                    | (leases.c.holder == (steal_from or "")),
                )
                .values(holder=holder, expires_at=expires)
            )
            if taken.rowcount:
                return None
            current = await conn.scalar(select(leases.c.holder).where(leases.c.name == name))
        return str(current)

    async def release(self, name: str, holder: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
