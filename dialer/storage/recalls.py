"""The KOS recall list, each patient's rounds of calls, and the webhook outbox of status changes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.campaigns.kinds import CampaignKind
from dialer.core.recalls import RecallChange, RecallRecord, RecallStatus, rounds_for_today, status_change
from dialer.core.records import OutboxEvent, TargetState, UpsertCounts
from dialer.storage.journal_schema import recalls, webhook_outbox
from dialer.storage.schema import targets
from dialer.storage.targets import finish_target, open_target
from dialer.storage.upsert import insert_ignore, upsert_clinic_rows


def recall_from_row(r: Any) -> RecallRecord:
    return RecallRecord(
        recall_id=r.recall_id,
        clinic_id=r.clinic_id,
        external_id=r.external_id,
        patient_id=r.patient_id,
        patient_name=r.patient_name,
        phone=r.phone,
        doctor=r.doctor,
        comment=r.comment,
        target_day=r.target_day,
        status=RecallStatus(r.status),
        reason=r.reason,
        status_comment=r.status_comment,
        moves=r.moves,
        booked_day=r.booked_day,
        planned=r.planned,
    )


def _recall_values(r: RecallRecord, now: datetime) -> dict[str, Any]:
    return {
        "clinic_id": r.clinic_id,
        "external_id": r.external_id,
        "patient_id": r.patient_id,
        "patient_name": r.patient_name,
        "phone": r.phone,
        "doctor": r.doctor,
        "comment": r.comment,
        "target_day": r.target_day,
        "status": r.status.value,
        "planned": r.planned,
        "moves": 0,
        "reason": "",
        "status_comment": "",
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True)
class _Round:
    """A КОС round: the target of one recall's calls on one date."""

    target_id: int
    active: bool


def _round(target: Any) -> _Round:
    """The round of a target row (target_id, state)."""
    return _Round(int(target.target_id), target.state == TargetState.ACTIVE.value)


def round_subject(recall_id: int, day: date) -> str:
    """One round of calls per recall per date: a moved date is a new round."""
    return f"{recall_id}:{day.isoformat()}"


class SqlRecallStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def upsert(self, records: Sequence[RecallRecord], now: datetime) -> UpsertCounts:
        if not records:
            return UpsertCounts(0, 0)
        # A re-import refreshes the journal's facts; the dialer's own progress (status, moves) is kept.
        refreshed = ("patient_name", "phone", "doctor", "comment", "planned", "updated_at")
        async with self.engine.begin() as conn:
            return await upsert_clinic_rows(
                conn, recalls, "external_id", [_recall_values(r, now) for r in records], refreshed
            )

    async def plan_day(
        self, clinic_id: str, day: date, limit: int, day_start: datetime, now: datetime
    ) -> list[int]:
        """Open today's rounds for the planned patients due by `day`, oldest date first, up to `limit` rounds
        opened since `day_start` (the senior administrator's calls a day). Returns the active targets, those
        opened earlier today included, so that repeating this is harmless."""
        async with self.engine.begin() as conn:
            today = await _rounds(conn, clinic_id, targets.c.created_at >= day_start)
            due = list(
                await conn.execute(
                    select(recalls.c.recall_id, recalls.c.target_day, recalls.c.patient_id, recalls.c.phone)
                    .where(
                        recalls.c.clinic_id == clinic_id,
                        recalls.c.status == RecallStatus.CALL.value,
                        recalls.c.planned.is_(True),
                        recalls.c.target_day <= day,
                    )
                    .order_by(recalls.c.target_day, recalls.c.recall_id)
                )
            )
            subjects = {round_subject(r.recall_id, r.target_day): r for r in due}
            earlier = await _rounds(conn, clinic_id, targets.c.subject_id.in_(list(subjects)))
            active = {subject: t.active for subject, t in earlier.items()}
            for subject in rounds_for_today(subjects, today, active, limit):
                r, carried = subjects[subject], earlier.get(subject)
                today[subject] = (
                    carried
                    if carried is not None
                    else _round(
                        await open_target(
                            conn, clinic_id, CampaignKind.KOS, subject, r.patient_id, r.phone, now
                        )
                    )
                )
        return [t.target_id for t in today.values() if t.active]

    async def by_target(self, target_id: int) -> tuple[RecallRecord, bool, datetime] | None:
        """The recall a round belongs to, whether that round is still the current one and open, and when the
        round was opened."""
        async with self.engine.connect() as conn:
            t = (
                await conn.execute(
                    select(targets).where(
                        targets.c.target_id == target_id, targets.c.campaign == CampaignKind.KOS
                    )
                )
            ).first()
            if t is None:
                return None
            recall_id, day = t.subject_id.split(":", 1)
            r = (await conn.execute(select(recalls).where(recalls.c.recall_id == int(recall_id)))).one()
        current = (
            t.state == TargetState.ACTIVE.value
            and r.target_day.isoformat() == day
            and r.status == RecallStatus.CALL.value
        )
        return recall_from_row(r), current, t.created_at

    async def close_round(self, target_id: int, reason: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await finish_target(conn, target_id, reason, now)

    async def change(
        self, recall_id: int, change: RecallChange, *, now: datetime, close_target: int, event: dict[str, str]
    ) -> None:
        """Change a recall's status and queue the webhook event, in one transaction."""
        values = {**status_change(change), "updated_at": now}
        async with self.engine.begin() as conn:
            await conn.execute(update(recalls).where(recalls.c.recall_id == recall_id).values(**values))
            await finish_target(conn, close_target, change.status.value, now)
            row = (await conn.execute(select(recalls).where(recalls.c.recall_id == recall_id))).one()
            await queue_event(
                conn,
                row.clinic_id,
                f"kos:{recall_id}:{now.timestamp():.6f}",
                "kos.status",
                {**event, **recall_from_row(row).public()},
                now,
            )

    async def export(self, clinic_id: str | None = None) -> list[RecallRecord]:
        query = select(recalls).order_by(recalls.c.clinic_id, recalls.c.target_day, recalls.c.recall_id)
        if clinic_id is not None:
            query = query.where(recalls.c.clinic_id == clinic_id)
        async with self.engine.connect() as conn:
            return [recall_from_row(r) for r in await conn.execute(query)]


async def queue_event(
    conn: AsyncConnection, clinic_id: str, key: str, kind: str, payload: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        insert_ignore(conn, webhook_outbox, ["event_key"]).values(
            clinic_id=clinic_id,
            event_key=key,
            kind=kind,
            payload=json.dumps(payload, ensure_ascii=False),
            next_at=now,
        )
    )


class SqlOutboxStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def due(self, now: datetime, limit: int = 20) -> list[OutboxEvent]:
        async with self.engine.connect() as conn:
            return [
                OutboxEvent(r.event_id, r.event_key, r.kind, r.payload, r.attempts)
                for r in await conn.execute(
                    select(webhook_outbox)
                    .where(and_(webhook_outbox.c.delivered_at.is_(None), webhook_outbox.c.next_at <= now))
                    .order_by(webhook_outbox.c.event_id)
                    .limit(limit)
                )
            ]

    async def delivered(self, event_id: int, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(webhook_outbox)
                .where(webhook_outbox.c.event_id == event_id)
                .values(delivered_at=at, attempts=webhook_outbox.c.attempts + 1)
            )

    async def failed(self, event_id: int, error: str, next_at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(webhook_outbox)
                .where(webhook_outbox.c.event_id == event_id)
                .values(last_error=error[:500], next_at=next_at, attempts=webhook_outbox.c.attempts + 1)
            )

    async def add(self, clinic_id: str, key: str, kind: str, payload: dict[str, Any], now: datetime) -> None:
        async with self.engine.begin() as conn:
            await queue_event(conn, clinic_id, key, kind, payload, now)


async def _rounds(conn: AsyncConnection, clinic_id: str, which: ColumnElement[bool]) -> dict[str, _Round]:
    """The clinic's КОС rounds that match, by subject."""
    rows = await conn.execute(
        select(targets.c.target_id, targets.c.subject_id, targets.c.state).where(
            targets.c.clinic_id == clinic_id, targets.c.campaign == CampaignKind.KOS, which
        )
    )
    return {r.subject_id: _round(r) for r in rows}
