"""The audit log: who did what, newest first. Append-only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.staff import AuditEntry
from dialer.storage.schema import audit_log

DETAIL_LIMIT = 2000  # characters of JSON: a detail is a few ids and counts, never a list of rows


class SqlAuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(
        self, actor: str, action: str, clinic_id: str, detail: Mapping[str, object], now: datetime
    ) -> None:
        text = json.dumps(dict(detail), ensure_ascii=False, sort_keys=True, default=str)
        if len(text) > DETAIL_LIMIT:
            text = json.dumps({"truncated": text[:DETAIL_LIMIT]}, ensure_ascii=False)
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(audit_log).values(
                    at=now, actor=actor[:64], action=action[:32], clinic_id=clinic_id[:64], detail=text
                )
            )

    async def entries(
        self, *, since: datetime | None = None, actor: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.audit_id.desc()).limit(limit)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        async with self.engine.connect() as conn:
            return [_entry(r) for r in await conn.execute(query)]


def _entry(r: Any) -> AuditEntry:
    try:
        detail = json.loads(r.detail)
    except ValueError:
        detail = {"text": r.detail}
    return AuditEntry(
        r.audit_id,
        r.at,
        r.actor,
        r.action,
        r.clinic_id,
        detail if isinstance(detail, dict) else {"value": detail},
    )
