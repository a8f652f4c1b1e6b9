"""SMS messages keyed by their idempotency key, and their append-only status log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import SmsRow
from dialer.core.sms import SmsStatus, advance
from dialer.storage.schema import sms_events, sms_messages
from dialer.storage.upsert import insert_ignore

_UNSETTLED = [s.value for s in SmsStatus if not s.is_final]


def sms_from_row(r: Any) -> SmsRow:
    return SmsRow(
        sms_key=r.sms_key,
        clinic_id=r.clinic_id,
        target_id=r.target_id,
        phone=r.phone,
        body=r.body,
        provider=r.provider,
        status=SmsStatus(r.status),
        created_at=r.created_at,
        provider_id=r.provider_id,
    )


class SqlSmsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, row: SmsRow) -> SmsRow:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert_ignore(conn, sms_messages, ["sms_key"]).values(
                    sms_key=row.sms_key,
                    clinic_id=row.clinic_id,
                    target_id=row.target_id,
                    phone=row.phone,
                    body=row.body,
                    provider=row.provider,
                    status=row.status.value,
                    created_at=row.created_at,
                    updated_at=row.created_at,
                )
            )
            stored = (
                await conn.execute(select(sms_messages).where(sms_messages.c.sms_key == row.sms_key))
            ).one()
        return sms_from_row(stored)

    async def get(self, sms_key: str) -> SmsRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(sms_messages).where(sms_messages.c.sms_key == sms_key))).first()
        return sms_from_row(row) if row else None

    async def accepted(self, sms_key: str, provider_id: str, status: SmsStatus, now: datetime) -> None:
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(select(sms_messages.c.status).where(sms_messages.c.sms_key == sms_key))
            ).scalar()
            new = advance(SmsStatus(current), status) if current else status
            await conn.execute(
                update(sms_messages)
                .where(sms_messages.c.sms_key == sms_key)
                .values(provider_id=provider_id, status=new.value, updated_at=now)
            )
            await self._log(conn, sms_key, status, now, f"accepted {provider_id}")

    async def failed(
        self, sms_key: str, error: str, now: datetime, *, status: SmsStatus = SmsStatus.FAILED
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(sms_messages)
                .where(sms_messages.c.sms_key == sms_key)
                .values(status=status.value, error=error[:500], updated_at=now)
            )
            await self._log(conn, sms_key, status, now, error[:500])

    async def apply_status(
        self, provider: str, provider_id: str, status: SmsStatus, error: str, now: datetime, key: str = ""
    ) -> SmsRow | None:
        """Apply a report to the message with this gateway id; with `key`, only to that message, and only if the
        id is its own (or not known yet: the report came before the gateway's answer was stored)."""
        same_id = sms_messages.c.provider_id == provider_id
        match = (
            [sms_messages.c.sms_key == key, or_(same_id, sms_messages.c.provider_id.is_(None))]
            if key
            else [same_id]
        )
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(select(sms_messages).where(sms_messages.c.provider == provider, *match))
            ).first()
            if row is None:
                return None
            new = advance(SmsStatus(row.status), status)
            await self._log(conn, row.sms_key, status, now, error[:500] or None)
            if new.value != row.status:
                await conn.execute(
                    update(sms_messages)
                    .where(sms_messages.c.sms_key == row.sms_key)
                    .values(status=new.value, error=error[:500] or row.error, updated_at=now)
                )
            stored = (
                await conn.execute(select(sms_messages).where(sms_messages.c.sms_key == row.sms_key))
            ).one()
        return sms_from_row(stored)

    async def unsettled(self) -> list[SmsRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(sms_messages).where(sms_messages.c.status.in_(_UNSETTLED)))
            return [sms_from_row(r) for r in rows]

    async def for_target(self, target_id: int) -> SmsRow | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(sms_messages)
                    .where(sms_messages.c.target_id == target_id)
                    .order_by(sms_messages.c.created_at.desc())
                    .limit(1)
                )
            ).first()
        return sms_from_row(row) if row else None

    @staticmethod
    async def _log(conn: Any, sms_key: str, status: SmsStatus, now: datetime, detail: str | None) -> None:
        clinic = (
            await conn.execute(select(sms_messages.c.clinic_id).where(sms_messages.c.sms_key == sms_key))
        ).scalar()
        await conn.execute(
            insert(sms_events).values(
                clinic_id=clinic or "", sms_key=sms_key, at=now, status=status.value, detail=detail
            )
        )
