"""The quality figures of a period for the supervisor's report: complaints by class and the mean scorecard."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.core.quality import ComplaintClass
from dialer.storage.journal_schema import contacts
from dialer.storage.quality_schema import call_scores, complaints


class QualityFigures(TypedDict):
    complaints_a: int
    complaints_b: int
    complaints_c: int
    qa_average: float | None
    qa_scored: int


async def quality_figures(
    conn: AsyncConnection, clinic_id: str, start: datetime, end: datetime, user_id: int | None
) -> QualityFigures:
    """Complaints marked between start and end, and the scores of the calls made between them (a Friday call
    scored on Monday counts in Friday's week, as on the weekly scores page), the clinic's or one administrator's."""
    mine = [complaints.c.user_id == user_id] if user_id is not None else []
    by_class = {
        str(r[0]): int(r[1])
        for r in await conn.execute(
            select(complaints.c.complaint_class, func.count())
            .where(
                complaints.c.clinic_id == clinic_id,
                complaints.c.created_at >= start,
                complaints.c.created_at < end,
                *mine,
            )
            .group_by(complaints.c.complaint_class)
        )
    }
    scored = [call_scores.c.user_id == user_id] if user_id is not None else []
    qa = (
        await conn.execute(
            select(func.avg(call_scores.c.total), func.count())
            .select_from(call_scores.join(contacts, contacts.c.contact_id == call_scores.c.contact_id))
            .where(
                call_scores.c.clinic_id == clinic_id,
                # A call is scored after it is made: the scores lead, each finding its call by key.
                call_scores.c.scored_at >= start,
                contacts.c.created_at >= start,
                contacts.c.created_at < end,
                *scored,
            )
        )
    ).one()
    return QualityFigures(
        complaints_a=by_class.get(ComplaintClass.A.value, 0),
        complaints_b=by_class.get(ComplaintClass.B.value, 0),
        complaints_c=by_class.get(ComplaintClass.C.value, 0),
        qa_average=round(float(qa[0]), 1) if qa[0] is not None else None,
        qa_scored=int(qa[1]),
    )
