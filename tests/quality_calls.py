"""Calls in a clinic's journal with their conversation recordings, for the call quality pages' tests: a contact
row as a wrap-up leaves it, and a real Ogg Vorbis file (8 kHz mono, as the service keeps recordings) made by
sox, with its `recordings` row."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.storage.journal_schema import contacts
from dialer.storage.quality_schema import recordings


def make_ogg(path: Path, seconds: float, frequency: int = 440) -> None:
    """A tone of `seconds` as the recordings are kept: Ogg Vorbis, 8 kHz, mono."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", str(path), "synth", str(seconds), "sine", str(frequency)],
        check=True,
        capture_output=True,
    )


async def add_call(
    engine: AsyncEngine,
    clinic_id: str,
    *,
    user_id: int | None,
    phone: str,
    at: datetime,
    call_ref: str,
    direction: str = "in",
    flags: str = "",
    result: str = "booked",
    talk_seconds: float | None = 42.0,
    comment: str = "",
) -> int:
    async with engine.begin() as conn:
        done = await conn.execute(
            insert(contacts).values(
                clinic_id=clinic_id,
                phone=phone,
                direction=direction,
                flags=flags,
                user_id=user_id,
                call_ref=call_ref,
                result=result,
                reason="",
                comment=comment,
                talk_seconds=talk_seconds,
                wrap_seconds=15.0,
                created_at=at,
            )
        )
        return int(done.inserted_primary_key[0])  # type: ignore[index]


async def add_recording(
    engine: AsyncEngine,
    folder: Path,
    clinic_id: str,
    *,
    call_ref: str,
    user_id: int | None,
    at: datetime,
    seconds: float = 4.0,
    file_name: str | None = None,
    phone: str = "",
    kind: str = "inbound",
) -> int:
    """A recording of the call, its file made under `folder` (the service's recordings folder)."""
    name = file_name if file_name is not None else f"{clinic_id}/{call_ref}.ogg"
    if file_name is None:
        make_ogg(folder / name, seconds)
    async with engine.begin() as conn:
        done = await conn.execute(
            insert(recordings).values(
                clinic_id=clinic_id,
                call_ref=call_ref,
                kind=kind,
                user_id=user_id,
                member="Local/admin1@sandbox-agents",
                phone=phone,
                file_name=name,
                seconds=seconds,
                bytes=(folder / name).stat().st_size if (folder / name).is_file() else None,
                announced=True,
                started_at=at,
                ended_at=at,
            )
        )
        return int(done.inserted_primary_key[0])  # type: ignore[index]
