"""Freed slots offered to the waiting list several at a time: one read of the visits, the waiting patients and
the offers made before, the matching in memory, the offers and their call targets written in the caller's
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.core.offer_matching import FreedSlot, OfferedBefore, WaitingPatient, match_offers
from dialer.core.worklist_states import OfferState, WaitingState
from dialer.core.worklists import OfferMade
from dialer.storage.journal_schema import offers, waiting_list
from dialer.storage.schema import appointments
from dialer.storage.targets import active_id, open_target


async def make_offers(
    conn: AsyncConnection, freed: Sequence[tuple[str, str]], now: datetime
) -> list[tuple[str, OfferMade]]:
    """Offer each freed (clinic, appointment) slot still to come to its next waiting patient; the offers made,
    each with its clinic, in order."""
    slots = [slot for slot in await _freed_slots(conn, freed) if slot.slot_at > now]
    if not slots:
        return []
    waiting = await _waiting(conn, slots)
    if not waiting:
        return []
    before = await _offered_before(conn, slots, waiting)
    return [
        (slot.clinic_id, await _write(conn, slot, patient, now))
        for slot, patient in match_offers(slots, waiting, before)
    ]


async def _freed_slots(conn: AsyncConnection, freed: Sequence[tuple[str, str]]) -> list[FreedSlot]:
    wanted = set(freed)
    rows = await conn.execute(
        select(
            appointments.c.clinic_id,
            appointments.c.appointment_id,
            appointments.c.doctor,
            appointments.c.visit_day,
            appointments.c.visit_at,
        ).where(appointments.c.appointment_id.in_({a for _, a in wanted}))
    )
    found = {
        (r.clinic_id, r.appointment_id): FreedSlot(
            r.clinic_id, r.appointment_id, r.doctor, r.visit_day, r.visit_at
        )
        for r in rows
        if (r.clinic_id, r.appointment_id) in wanted
    }
    return [found[key] for key in freed if key in found]


async def _waiting(conn: AsyncConnection, slots: Sequence[FreedSlot]) -> list[WaitingPatient]:
    rows = await conn.execute(
        select(waiting_list).where(
            waiting_list.c.state == WaitingState.OPEN.value,
            waiting_list.c.clinic_id.in_({s.clinic_id for s in slots}),
            waiting_list.c.doctor.in_({s.doctor for s in slots}),
        )
    )
    return [
        WaitingPatient(
            r.entry_id, r.clinic_id, r.doctor, r.wanted_day, r.priority, r.created_at, r.phone, r.patient_id
        )
        for r in rows
    ]


async def _offered_before(
    conn: AsyncConnection, slots: Sequence[FreedSlot], waiting: Sequence[WaitingPatient]
) -> OfferedBefore:
    rows = list(
        await conn.execute(
            select(offers.c.clinic_id, offers.c.appointment_id, offers.c.entry_id, offers.c.state).where(
                or_(
                    offers.c.appointment_id.in_({s.appointment_id for s in slots}),
                    offers.c.entry_id.in_({w.entry_id for w in waiting}),
                )
            )
        )
    )
    live = [r for r in rows if r.state == OfferState.OFFERED.value]
    return OfferedBefore(
        live_slots=frozenset((r.clinic_id, r.appointment_id) for r in live),
        live_entries=frozenset(r.entry_id for r in live),
        asked=frozenset((r.appointment_id, r.entry_id) for r in rows),
    )


async def _write(conn: AsyncConnection, slot: FreedSlot, patient: WaitingPatient, now: datetime) -> OfferMade:
    offer_id = int(
        (
            await conn.execute(
                insert(offers)
                .values(
                    clinic_id=slot.clinic_id,
                    appointment_id=slot.appointment_id,
                    doctor=slot.doctor,
                    slot_at=slot.slot_at,
                    entry_id=patient.entry_id,
                    state=OfferState.OFFERED.value,
                    sms_at=now,
                    created_at=now,
                )
                .returning(offers.c.offer_id)
            )
        ).scalar_one()
    )
    target = await open_target(
        conn, slot.clinic_id, "offer", str(offer_id), patient.patient_id or "", patient.phone, now
    )
    return OfferMade(
        offer_id=offer_id,
        target_id=active_id(target),
        phone=patient.phone,
        slot_at=slot.slot_at,
        doctor=slot.doctor,
        entry_id=patient.entry_id,
    )
