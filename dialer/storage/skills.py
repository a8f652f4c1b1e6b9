"""«Навык недели» per administrator and week, and the reads of the weekly listening: the week's contacts and
which of them are scored."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.listening import ListenCall
from dialer.storage.journal_schema import contacts
from dialer.storage.quality_schema import call_scores, weekly_skills
from dialer.storage.upsert import insert_dialect


class SqlSkillStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def set_skill(
        self, *, clinic_id: str, user_id: int, week: date, skill: str, set_by: int, at: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            stmt = insert_dialect(conn, weekly_skills).values(
                clinic_id=clinic_id, user_id=user_id, week_start=week, skill=skill, set_by=set_by, set_at=at
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["clinic_id", "user_id", "week_start"],
                    set_={"skill": skill, "set_by": set_by, "set_at": at},
                )
            )

    async def week_skills(self, clinic_id: str, week: date) -> dict[int, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(weekly_skills.c.user_id, weekly_skills.c.skill).where(
                    weekly_skills.c.clinic_id == clinic_id, weekly_skills.c.week_start == week
                )
            )
            return {int(r.user_id): str(r.skill) for r in rows}

    async def own_skills(self, user_id: int, week: date) -> list[tuple[str, str]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(weekly_skills.c.clinic_id, weekly_skills.c.skill)
                .where(weekly_skills.c.user_id == user_id, weekly_skills.c.week_start == week)
                .order_by(weekly_skills.c.clinic_id)
            )
            return [(str(r.clinic_id), str(r.skill)) for r in rows]

    async def week_calls(self, clinic_id: str, start: datetime, end: datetime) -> list[ListenCall]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    contacts.c.contact_id,
                    contacts.c.user_id,
                    contacts.c.direction,
                    contacts.c.flags,
                    contacts.c.result,
                    contacts.c.talk_seconds,
                    contacts.c.created_at,
                ).where(
                    contacts.c.clinic_id == clinic_id,
                    contacts.c.created_at >= start,
                    contacts.c.created_at < end,
                    contacts.c.user_id.is_not(None),
                )
            )
            return [
                ListenCall(
                    int(r.contact_id),
                    int(r.user_id),
                    str(r.direction),
                    tuple(f for f in str(r.flags).split(",") if f),
                    str(r.result),
                    r.talk_seconds,
                    r.created_at,
                )
                for r in rows
            ]

    async def scored(self, contact_ids: Iterable[int]) -> set[int]:
        ids = list(contact_ids)
        if not ids:
            return set()
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(call_scores.c.contact_id).where(call_scores.c.contact_id.in_(ids))
            )
            return {int(r[0]) for r in rows}
