"""Scorecards of calls: one per contact, a rescore replacing the earlier, and the scores of a span of weeks."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.quality_ports import NewScore
from dialer.core.scoring import ScoredCall
from dialer.storage.journal_schema import contacts
from dialer.storage.quality_schema import call_scores
from dialer.storage.schema import users
from dialer.storage.upsert import insert_dialect


class SqlScoreStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(self, score: NewScore) -> None:
        items = {k: {"points": v.points, "comment": v.comment} for k, v in score.sheet.items.items()}
        values = {
            "clinic_id": score.clinic_id,
            "contact_id": score.contact_id,
            "user_id": score.user_id,
            "scored_by": score.scored_by,
            "total": score.sheet.total,
            "items": json.dumps(items, ensure_ascii=False),
            "comment": score.sheet.comment,
            "scored_at": score.scored_at,
        }
        async with self.engine.begin() as conn:
            stmt = insert_dialect(conn, call_scores).values(values)
            replaced = {k: v for k, v in values.items() if k != "contact_id"}
            await conn.execute(stmt.on_conflict_do_update(index_elements=["contact_id"], set_=replaced))

    async def scores_of_calls(self, clinic_id: str, start: datetime, end: datetime) -> list[ScoredCall]:
        # The call's own time decides its week. The clinic's scores (a few per cent of its calls) lead, each
        # finding its call by key: the clinic is not compared on the journal, so that no plan walks every call
        # of the span instead. A call is scored after it is made, never before the span began.
        query = (
            select(call_scores.c.user_id, call_scores.c.total, contacts.c.created_at)
            .select_from(call_scores.join(contacts, contacts.c.contact_id == call_scores.c.contact_id))
            .where(
                call_scores.c.clinic_id == clinic_id,
                call_scores.c.scored_at >= start,
                contacts.c.created_at >= start,
                contacts.c.created_at < end,
            )
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [ScoredCall(r.user_id, r.total, r.created_at) for r in rows]

    async def names(self, clinic_id: str) -> dict[int, str]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(users.c.user_id, users.c.display_name).where(
                        users.c.user_id.in_(
                            select(call_scores.c.user_id).where(call_scores.c.clinic_id == clinic_id)
                        )
                    )
                )
            ).all()
        return {r.user_id: r.display_name for r in rows}
