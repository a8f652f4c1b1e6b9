"""This database's installation id: made once, then read at every start."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.storage.schema import installation
from dialer.storage.upsert import insert_ignore


async def installation_id(engine: AsyncEngine, now: datetime) -> str:
    """The id, made on the first call (8 hex digits: installations sharing a PBX are a handful, not millions)."""
    async with engine.begin() as conn:
        found = await conn.scalar(select(installation.c.installation_id).limit(1))
        if found is not None:
            return str(found)
        await conn.execute(
            insert_ignore(conn, installation, ["slot"]).values(
                slot=1, installation_id=secrets.token_hex(4), created_at=now
            )
        )
        return str(await conn.scalar(select(installation.c.installation_id).limit(1)))
