"""The `recordings` rows: one per recorded conversation, its compressed file relative to the recordings folder."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.recording import KeptFile, RawRecording, StoredRecording
from dialer.storage.quality_schema import recordings


def _row(r: Any) -> StoredRecording:
    return StoredRecording(
        recording_id=r.recording_id,
        clinic_id=r.clinic_id,
        call_ref=r.call_ref,
        kind=r.kind,
        user_id=r.user_id,
        member=r.member,
        phone=r.phone,
        file_name=r.file_name,
        seconds=r.seconds,
        bytes=r.bytes,
        announced=bool(r.announced),
        started_at=r.started_at,
        ended_at=r.ended_at,
    )


class SqlRecordingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def keep(self, raw: RawRecording, user_id: int | None, file: KeptFile) -> int:
        same = select(recordings.c.recording_id).where(
            recordings.c.call_ref == raw.call_ref,
            recordings.c.member == raw.member,
            recordings.c.started_at == raw.started_at,
        )
        kept = {
            "file_name": file.file_name,
            "seconds": file.seconds,
            "bytes": file.size,
            "ended_at": raw.started_at + timedelta(seconds=file.seconds),
        }
        async with self.engine.begin() as conn:
            found = (await conn.execute(same)).scalar_one_or_none()
            if found is not None:  # the same file kept again (a crash before its spool copy was removed)
                await conn.execute(
                    update(recordings).where(recordings.c.recording_id == found).values(**kept)
                )
                return int(found)
            result = await conn.execute(
                insert(recordings)
                .values(
                    clinic_id=raw.clinic_id,
                    call_ref=raw.call_ref,
                    kind=raw.kind,
                    user_id=user_id,
                    member=raw.member,
                    phone=raw.phone,
                    announced=raw.announced,
                    started_at=raw.started_at,
                    **kept,
                )
                .returning(recordings.c.recording_id)
            )
            return int(result.scalar_one())

    async def get(self, recording_id: int) -> StoredRecording | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(recordings).where(recordings.c.recording_id == recording_id))
            ).first()
        return _row(row) if row is not None else None

    async def for_day(self, clinic_id: str, start: datetime, end: datetime) -> list[StoredRecording]:
        query = (
            select(recordings)
            .where(
                recordings.c.clinic_id == clinic_id,
                recordings.c.started_at >= start,
                recordings.c.started_at < end,
            )
            .order_by(recordings.c.started_at, recordings.c.recording_id)
        )
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(query)]

    async def older_than(self, cut: datetime, limit: int) -> list[StoredRecording]:
        query = (
            select(recordings)
            .where(recordings.c.started_at < cut)
            .order_by(recordings.c.recording_id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(query)]

    async def delete(self, recording_ids: list[int]) -> int:
        if not recording_ids:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(recordings).where(recordings.c.recording_id.in_(recording_ids))
            )
        return int(result.rowcount)
