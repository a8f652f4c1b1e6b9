"""The diary (ежедневник), waiting-list offers and the post-visit IVR targets: call lists made day by day."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import TargetState
from dialer.core.worklist_states import DiaryState, OfferState, WaitingState
from dialer.core.worklists import DiaryEntry, Offer, OfferMade, TargetRow
from dialer.storage.appointments import VISIT_PATIENT
from dialer.storage.fastbatch import SqliteBatchWriter
from dialer.storage.freed import hand_over, keep_freed
from dialer.storage.journal_schema import diary, feedback, freed_slots, offers, waiting_list
from dialer.storage.pgbatch import PgBatchWriter
from dialer.storage.schema import appointments, patients, targets
from dialer.storage.targets import active_id, finish_target, open_target
from dialer.storage.upsert import insert_ignore
from dialer.storage.worklists_offers import make_offers

# Anyone open on the waiting list of these clinics (a JSON array), read before an offer's transaction.
_ANYONE_WAITS_SQLITE = (
    "SELECT 1 FROM waiting_list WHERE state = ? AND clinic_id IN (SELECT value FROM json_each(?)) LIMIT 1"
)
_ANYONE_WAITS_PG = "SELECT 1 FROM waiting_list WHERE state = $1 AND clinic_id = ANY($2::text[]) LIMIT 1"
_HANDED_OVER_SQLITE = "DELETE FROM freed_slots WHERE clinic_id = ? AND appointment_id = ?"
_HANDED_OVER_PG = "DELETE FROM freed_slots WHERE clinic_id = $1 AND appointment_id = $2"


class SqlWorklistStore:
    def __init__(self, engine: AsyncEngine, batches: SqliteBatchWriter | PgBatchWriter | None = None) -> None:
        self.engine = engine
        # Reads straight on sqlite3 or asyncpg (fastbatch.py, pgbatch.py): one hand-off, not one per statement.
        self.batches = batches

    async def target(self, target_id: int) -> TargetRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(targets).where(targets.c.target_id == target_id))).first()
        if row is None:
            return None
        return TargetRow(
            target_id=row.target_id,
            clinic_id=row.clinic_id,
            campaign=row.campaign,
            subject_id=row.subject_id,
            patient_id=row.patient_id,
            phone=row.phone,
            state=TargetState(row.state),
            created_at=row.created_at,
        )

    async def close_target(self, target_id: int, reason: str, now: datetime) -> None:
        async with self.engine.begin() as conn:
            await finish_target(conn, target_id, reason, now)

    # -- the diary ------------------------------------------------------------------------------------

    async def diary_day(self, clinic_id: str, day: date, now: datetime) -> list[int]:
        async with self.engine.begin() as conn:
            entries = list(
                await conn.execute(
                    select(diary).where(
                        diary.c.clinic_id == clinic_id,
                        diary.c.state == DiaryState.OPEN.value,
                        diary.c.due_day <= day,
                    )
                )
            )
            ids = [
                active_id(
                    await open_target(
                        conn,
                        clinic_id,
                        "diary",
                        f"{e.entry_id}:{day.isoformat()}",
                        e.patient_id or "",
                        e.phone,
                        now,
                    )
                )
                for e in entries
            ]
        return [i for i in ids if i is not None]

    async def diary_entry(self, target_id: int) -> DiaryEntry | None:
        async with self.engine.connect() as conn:
            t = (await conn.execute(select(targets).where(targets.c.target_id == target_id))).first()
            if t is None or t.campaign != "diary":
                return None
            entry_id = int(t.subject_id.split(":")[0])
            row = (await conn.execute(select(diary).where(diary.c.entry_id == entry_id))).one()
        return DiaryEntry(
            entry_id=row.entry_id,
            clinic_id=row.clinic_id,
            phone=row.phone,
            patient_id=row.patient_id,
            due_day=row.due_day,
            comment=row.comment,
            state=DiaryState(row.state),
            target_state=TargetState(t.state),
            target_day=date.fromisoformat(t.subject_id.split(":", 1)[1]),
        )

    async def diary_move(self, entry_id: int, day: date) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(diary).where(diary.c.entry_id == entry_id).values(due_day=day))

    async def diary_done(self, entry_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(diary).where(diary.c.entry_id == entry_id).values(state=DiaryState.DONE.value)
            )

    async def add_diary(
        self, clinic_id: str, phone: str, patient_id: str | None, day: date, comment: str, now: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(diary).values(
                    clinic_id=clinic_id,
                    phone=phone,
                    patient_id=patient_id,
                    due_day=day,
                    comment=comment,
                    created_at=now,
                )
            )

    # -- waiting-list offers --------------------------------------------------------------------------

    async def next_offer(self, clinic_id: str, appointment_id: str, now: datetime) -> OfferMade | None:
        """Offer the freed slot to the next waiting patient for that doctor and day, by priority."""
        made = await self.next_offers([(clinic_id, appointment_id)], now)
        return made[0][1] if made else None

    async def next_offers(
        self, freed: Sequence[tuple[str, str]], now: datetime
    ) -> list[tuple[str, OfferMade]]:
        """Offer several freed (clinic, appointment) slots at once, all or none of them: one read, one
        transaction. Each offer made with its clinic, in the order the slots were freed. The slots are handed
        over in the same transaction: they leave `freed_slots`, offered or not."""
        if not freed or await self._handed_over_if_nobody_waits(freed):
            return []
        async with self.engine.begin() as conn:
            made = await make_offers(conn, freed, now)
            await hand_over(conn, freed)
            return made

    async def _handed_over_if_nobody_waits(self, freed: Sequence[tuple[str, str]]) -> bool:
        """Whether nobody is open on the freed slots' clinics' waiting lists, in which case the slots are handed
        over (removed from `freed_slots`) in the same transaction: most cancellations free a slot nobody waits
        for, and are answered by this one hand-off rather than a whole offer's transaction."""
        state, wanted = WaitingState.OPEN.value, sorted({clinic for clinic, _ in freed})
        keys = list(freed)
        if isinstance(self.batches, SqliteBatchWriter):

            def on_sqlite(conn: sqlite3.Connection, stamp: object) -> bool:
                if conn.execute(_ANYONE_WAITS_SQLITE, (state, json.dumps(wanted))).fetchone() is not None:
                    return False
                conn.executemany(_HANDED_OVER_SQLITE, keys)
                return True

            return await self.batches.run(on_sqlite)
        if isinstance(self.batches, PgBatchWriter):

            async def on_pg(conn: Any) -> bool:
                if await conn.fetchval(_ANYONE_WAITS_PG, state, wanted) is not None:
                    return False
                await conn.executemany(_HANDED_OVER_PG, keys)
                return True

            return await self.batches.run(on_pg)
        async with self.engine.begin() as conn:
            found = await conn.scalar(
                select(waiting_list.c.entry_id)
                .where(waiting_list.c.state == state, waiting_list.c.clinic_id.in_(wanted))
                .limit(1)
            )
            if found is not None:
                return False
            await hand_over(conn, keys)
            return True

    async def unoffered_slots(self) -> list[tuple[str, str]]:
        """The freed slots never handed to the waiting list (the service stopped first), as (clinic,
        appointment), oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(freed_slots.c.clinic_id, freed_slots.c.appointment_id).order_by(
                    freed_slots.c.freed_at, freed_slots.c.clinic_id, freed_slots.c.appointment_id
                )
            )
            return [(r.clinic_id, r.appointment_id) for r in rows]

    async def offer(self, target_id: int) -> Offer | None:
        async with self.engine.connect() as conn:
            t = (await conn.execute(select(targets).where(targets.c.target_id == target_id))).first()
            if t is None or t.campaign != "offer":
                return None
            row = (await conn.execute(select(offers).where(offers.c.offer_id == int(t.subject_id)))).one()
        return Offer(
            offer_id=row.offer_id,
            clinic_id=row.clinic_id,
            appointment_id=row.appointment_id,
            doctor=row.doctor,
            slot_at=row.slot_at,
            entry_id=row.entry_id,
            state=OfferState(row.state),
            sms_at=row.sms_at,
            phone=t.phone,
            target_state=TargetState(t.state),
        )

    async def offer_state(
        self, offer_id: int, state: OfferState, now: datetime, entry_state: WaitingState | None = None
    ) -> None:
        """The offer's new state (and its waiting-list entry's). A declined or expired offer frees its slot
        again: kept in `freed_slots` in the same transaction, until the next offer's transaction takes it."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    update(offers)
                    .where(offers.c.offer_id == offer_id)
                    .values(state=state.value)
                    .returning(offers.c.entry_id, offers.c.clinic_id, offers.c.appointment_id)
                )
            ).one()
            if entry_state is not None:
                await conn.execute(
                    update(waiting_list)
                    .where(waiting_list.c.entry_id == row.entry_id)
                    .values(state=entry_state.value)
                )
            if state in (OfferState.DECLINED, OfferState.EXPIRED):
                await keep_freed(conn, [(row.clinic_id, row.appointment_id, now)])

    # -- post-visit IVRs ------------------------------------------------------------------------------

    async def visits_of(self, clinic_id: str, campaign: str, day: date, now: datetime) -> list[int]:
        """Targets for the visits of `day` the patient came to (or whose attendance is unknown)."""
        async with self.engine.begin() as conn:
            visits = list(
                await conn.execute(
                    select(
                        appointments.c.appointment_id,
                        appointments.c.patient_id,
                        patients.c.phone,
                        patients.c.consent_call,
                        patients.c.do_not_call,
                    )
                    .select_from(appointments.join(patients, VISIT_PATIENT))
                    .where(
                        appointments.c.clinic_id == clinic_id,
                        appointments.c.visit_day == day,
                        or_(appointments.c.attended.is_(None), appointments.c.attended.is_(True)),
                    )
                )
            )
            ids = [
                active_id(
                    await open_target(conn, clinic_id, campaign, v.appointment_id, v.patient_id, v.phone, now)
                )
                for v in visits
                if v.consent_call and not v.do_not_call
            ]
        return [i for i in ids if i is not None]

    async def feedback(
        self, clinic_id: str, appointment_id: str, kind: str, digit: str, attempt_id: str, at: datetime
    ) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert_ignore(conn, feedback, ["attempt_id"]).values(
                    clinic_id=clinic_id,
                    appointment_id=appointment_id,
                    kind=kind,
                    digit=digit,
                    attempt_id=attempt_id,
                    at=at,
                )
            )
        return bool(result.rowcount)
