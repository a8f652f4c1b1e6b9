"""Complaints marked in the wrap-up, each linked to the contact the same wrap-up recorded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.quality import ComplaintClass
from dialer.storage.journal_schema import contacts
from dialer.storage.quality_schema import complaints


class SqlComplaintStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(
        self,
        *,
        clinic_id: str,
        call_ref: str,
        user_id: int,
        complaint_class: ComplaintClass,
        comment: str,
        at: datetime,
    ) -> int:
        async with self.engine.begin() as conn:
            # The contact this administrator's wrap-up of the call has just written (the newest, should the
            # same call have been wrapped up before).
            contact_id = await conn.scalar(
                select(contacts.c.contact_id)
                .where(
                    contacts.c.clinic_id == clinic_id,
                    contacts.c.call_ref == call_ref,
                    contacts.c.user_id == user_id,
                )
                .order_by(contacts.c.contact_id.desc())
                .limit(1)
            )
            return int(
                (
                    await conn.execute(
                        insert(complaints)
                        .values(
                            clinic_id=clinic_id,
                            contact_id=contact_id,
                            user_id=user_id,
                            complaint_class=complaint_class.value,
                            comment=comment,
                            created_at=at,
                        )
                        .returning(complaints.c.complaint_id)
                    )
                ).scalar_one()
            )

    async def claim_alert(self, complaint_id: int, at: datetime) -> bool:
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(complaints)
                .where(complaints.c.complaint_id == complaint_id, complaints.c.alerted_at.is_(None))
                .values(alerted_at=at)
            )
        return bool(done.rowcount)
