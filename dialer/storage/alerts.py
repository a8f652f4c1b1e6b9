"""Stored overload alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.alerts import AlertKind, AlertRow
from dialer.storage.schema import alerts


class SqlAlertStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def raise_(self, clinic_id: str, kind: str, at: datetime, detail: str) -> int:
        async with self.engine.begin() as conn:
            return int(
                (
                    await conn.execute(
                        insert(alerts)
                        .values(clinic_id=clinic_id, kind=kind, raised_at=at, detail=detail)
                        .returning(alerts.c.alert_id)
                    )
                ).scalar_one()
            )

    async def clear(self, clinic_id: str, kind: str, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.clinic_id == clinic_id, alerts.c.kind == kind, alerts.c.cleared_at.is_(None))
                .values(cleared_at=at)
            )

    async def note(self, alert_id: int, detail: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(alerts).where(alerts.c.alert_id == alert_id).values(detail=detail))

    async def active(self, clinic_id: str | None = None) -> list[AlertRow]:
        async with self.engine.connect() as conn:
            return await active_alerts(conn, clinic_id)


async def active_alerts(conn: AsyncConnection, clinic_id: str | None = None) -> list[AlertRow]:
    """The alerts not cleared yet, oldest first; of one clinic when named."""
    query = select(alerts).where(alerts.c.cleared_at.is_(None))
    if clinic_id is not None:
        query = query.where(alerts.c.clinic_id == clinic_id)
    rows = await conn.execute(query.order_by(alerts.c.raised_at))
    return [AlertRow(r.alert_id, r.clinic_id, AlertKind(r.kind), r.raised_at, r.detail) for r in rows]
