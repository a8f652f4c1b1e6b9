"""The supervisor's call log: the journal's contacts with their recordings (matched by the call's Linkedid) and
their scores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.quality_ports import (
    KIND_FLAGS,
    CallCard,
    CallLine,
    CallPage,
    CallQuery,
    Recording,
    SavedScore,
)
from dialer.core.scoring import ItemScore, ScoreSheet
from dialer.storage.journal_schema import contacts
from dialer.storage.quality_schema import call_scores, recordings
from dialer.storage.schema import users

# A call's recordings are found by its Linkedid, nearly unique. The clinic is compared through an expression
# so that no index serves it: without statistics SQLite would rather walk the clinic's whole recordings index
# (ix_recordings_day) for every call of the page, seconds on a quarter's recordings.
_RECORDED = and_(
    recordings.c.call_ref == contacts.c.call_ref,
    recordings.c.clinic_id.concat("") == contacts.c.clinic_id,
    contacts.c.call_ref != "",
)
# Each correlated to the call only: the page's query joins call_scores too, which must stay the subquery's own.
_RECORDING_COUNT = select(func.count()).where(_RECORDED).correlate(contacts).scalar_subquery()
_HAS_RECORDING = select(recordings.c.recording_id).where(_RECORDED).correlate(contacts).exists()
_HAS_SCORE = (
    select(call_scores.c.score_id)
    .where(call_scores.c.contact_id == contacts.c.contact_id)
    .correlate(contacts)
    .exists()
)
_LINE_COLUMNS = (
    contacts.c.contact_id,
    contacts.c.clinic_id,
    contacts.c.created_at,
    contacts.c.phone,
    contacts.c.direction,
    contacts.c.flags,
    contacts.c.user_id,
    func.coalesce(users.c.display_name, "").label("operator"),
    contacts.c.result,
    contacts.c.reason,
    contacts.c.talk_seconds,
    _RECORDING_COUNT.label("recordings"),
    call_scores.c.total.label("score"),
)
_FROM = contacts.outerjoin(users, users.c.user_id == contacts.c.user_id).outerjoin(
    call_scores, call_scores.c.contact_id == contacts.c.contact_id
)


def _filtered(query: CallQuery, stmt: Select[Any]) -> Select[Any]:
    where = [
        contacts.c.clinic_id == query.clinic_id,
        contacts.c.created_at >= query.start,
        contacts.c.created_at < query.end,
    ]
    if query.user_id is not None:
        where.append(contacts.c.user_id == query.user_id)
    if query.kind in ("in", "out"):
        where.append(contacts.c.direction == query.kind)
    elif query.kind in KIND_FLAGS:
        where.append(contacts.c.flags.contains(KIND_FLAGS[query.kind], autoescape=True))
    if query.result:
        where.append(contacts.c.result == query.result)
    if query.min_seconds is not None:
        where.append(contacts.c.talk_seconds >= query.min_seconds)
    if query.max_seconds is not None:
        where.append(contacts.c.talk_seconds <= query.max_seconds)
    if query.recorded is not None:
        where.append(_HAS_RECORDING if query.recorded else ~_HAS_RECORDING)
    if query.scored is not None:
        where.append(_HAS_SCORE if query.scored else ~_HAS_SCORE)
    return stmt.where(*where)


def _line(row: Any) -> CallLine:
    return CallLine(
        contact_id=row.contact_id,
        clinic_id=row.clinic_id,
        created_at=row.created_at,
        phone=row.phone,
        direction=row.direction,
        flags=row.flags,
        user_id=row.user_id,
        operator=row.operator,
        result=row.result,
        reason=row.reason,
        talk_seconds=row.talk_seconds,
        recordings=row.recordings,
        score=row.score,
    )


def _recording(row: Any) -> Recording:
    return Recording(
        recording_id=row.recording_id,
        clinic_id=row.clinic_id,
        call_ref=row.call_ref,
        kind=row.kind,
        user_id=row.user_id,
        file_name=row.file_name,
        seconds=row.seconds,
        size=row.bytes,
        announced=row.announced,
        started_at=row.started_at,
        phone=row.phone,
    )


def _saved(row: Any) -> SavedScore:
    raw = json.loads(row.items or "{}")
    items = {
        key: ItemScore(int(value.get("points", 0)), str(value.get("comment", "")))
        for key, value in raw.items()
        if isinstance(value, dict)
    }
    return SavedScore(ScoreSheet(items, row.comment), row.total, row.scored_by, row.scored_at)


class SqlCallLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def calls(self, query: CallQuery) -> CallPage:
        page = _filtered(query, select(*_LINE_COLUMNS).select_from(_FROM))
        page = page.order_by(contacts.c.created_at.desc(), contacts.c.contact_id.desc())
        count = _filtered(query, select(func.count()).select_from(contacts))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(page.offset(query.offset).limit(query.limit))).all()
            total = await conn.scalar(count)
        return CallPage([_line(r) for r in rows], int(total or 0))

    async def card(self, contact_id: int) -> CallCard | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        *_LINE_COLUMNS,
                        contacts.c.call_ref,
                        contacts.c.comment,
                        contacts.c.wrap_seconds,
                        contacts.c.follow_up,
                    )
                    .select_from(_FROM)
                    .where(contacts.c.contact_id == contact_id)
                )
            ).one_or_none()
            if row is None:
                return None
            found: Sequence[Any] = []
            if row.call_ref:
                found = (
                    await conn.execute(
                        select(recordings)
                        .where(
                            recordings.c.call_ref == row.call_ref,
                            recordings.c.clinic_id.concat("") == row.clinic_id,
                        )
                        .order_by(recordings.c.started_at, recordings.c.recording_id)
                    )
                ).all()
            score = (
                await conn.execute(select(call_scores).where(call_scores.c.contact_id == contact_id))
            ).one_or_none()
        return CallCard(
            line=_line(row),
            call_ref=row.call_ref,
            comment=row.comment,
            wrap_seconds=row.wrap_seconds,
            follow_up=row.follow_up,
            recordings=[_recording(r) for r in found],
            score=_saved(score) if score is not None else None,
        )

    async def recording(self, recording_id: int) -> Recording | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(recordings).where(recordings.c.recording_id == recording_id))
            ).one_or_none()
        return _recording(row) if row is not None else None

    async def own_recordings(
        self, clinic_ids: list[str], user_id: int, since: datetime, limit: int
    ) -> list[Recording]:
        # By the recording's own administrator: the same test the player applies before it serves the file.
        query = (
            select(recordings)
            .where(
                recordings.c.clinic_id.in_(clinic_ids),
                recordings.c.started_at >= since,
                recordings.c.user_id == user_id,
                recordings.c.file_name != "",
            )
            .order_by(recordings.c.started_at.desc(), recordings.c.recording_id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_recording(r) for r in (await conn.execute(query)).all()]

    async def operators(self, clinic_id: str) -> list[tuple[int, str]]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(users.c.user_id, users.c.display_name)
                    .where(
                        users.c.user_id.in_(
                            select(contacts.c.user_id).where(
                                contacts.c.clinic_id == clinic_id, contacts.c.user_id.is_not(None)
                            )
                        )
                    )
                    .order_by(users.c.display_name)
                )
            ).all()
        return [(r.user_id, r.display_name) for r in rows]
