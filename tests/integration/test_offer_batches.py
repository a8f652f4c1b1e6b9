"""Freed slots offered to the waiting list several at once, on a real database (SQLite file; PostgreSQL with
--db=both): each slot to one patient, each patient one slot, all of a batch or nothing of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from dialer.core.worklist_states import OfferState, WaitingState
from dialer.storage.journal_schema import freed_slots, offers, waiting_list
from dialer.storage.repository import Storage
from dialer.storage.schema import appointments, targets

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
SLOT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SURGEON = "Иванова А. П."


class Cut(Exception):
    """The process dies between two writes of a batch."""


async def _visits(storage: Storage, *appointment_ids: str) -> None:
    async with storage.engine.begin() as conn:
        for appointment_id in appointment_ids:
            await conn.execute(
                insert(appointments).values(
                    clinic_id="c1",
                    appointment_id=appointment_id,
                    patient_id=f"P-{appointment_id}",
                    visit_at=SLOT,
                    visit_day=SLOT.date(),
                    doctor=SURGEON,
                    imported_at=NOW,
                    updated_at=NOW,
                )
            )


async def _waiting(storage: Storage, *phones: str, clinic_id: str = "c1") -> None:
    async with storage.engine.begin() as conn:
        for n, phone in enumerate(phones):
            await conn.execute(
                insert(waiting_list).values(
                    clinic_id=clinic_id,
                    phone=phone,
                    patient_id=f"W-{n}",
                    doctor=SURGEON,
                    created_at=NOW + timedelta(minutes=n),
                )
            )


async def _rows(storage: Storage) -> tuple[list[Any], list[Any]]:
    async with storage.engine.connect() as conn:
        made = list(await conn.execute(select(offers).order_by(offers.c.offer_id)))
        called = list(await conn.execute(select(targets).where(targets.c.campaign == "offer")))
    return made, called


async def test_two_cancellations_of_one_slot_time_and_one_waiting_patient_make_one_offer(
    storage: Storage,
) -> None:
    await _visits(storage, "V-1", "V-2")  # the doctor's two visits at the same time, both cancelled
    await _waiting(storage, "+79161234567")
    made = await storage.worklists.next_offers([("c1", "V-1"), ("c1", "V-2"), ("c1", "V-1")], NOW)
    assert [(clinic, offer.phone, offer.slot_at) for clinic, offer in made] == [("c1", "+79161234567", SLOT)]
    rows, called = await _rows(storage)
    assert [(r.appointment_id, r.state) for r in rows] == [("V-1", "offered")]
    assert [c.subject_id for c in called] == [str(rows[0].offer_id)]
    # The same cancellations heard again while the offer is open: the slot is not offered twice.
    assert await storage.worklists.next_offers([("c1", "V-1"), ("c1", "V-2")], NOW) == []
    assert len((await _rows(storage))[0]) == 1


async def test_a_batch_cut_between_its_writes_leaves_nothing_and_runs_whole_again(storage: Storage) -> None:
    await _visits(storage, "V-1", "V-2")
    await _waiting(storage, "+79161234567", "+79167654321")
    inserts = 0

    def die_on_the_second_offer(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal inserts
        if statement.lstrip().upper().startswith("INSERT INTO OFFERS"):
            inserts += 1
            if inserts == 2:
                raise Cut

    event.listen(storage.engine.sync_engine, "before_cursor_execute", die_on_the_second_offer)
    try:
        with pytest.raises(Cut):
            await storage.worklists.next_offers([("c1", "V-1"), ("c1", "V-2")], NOW)
    finally:
        event.remove(storage.engine.sync_engine, "before_cursor_execute", die_on_the_second_offer)
    assert inserts == 2  # the first offer and its call target were written before the cut
    assert await _rows(storage) == ([], [])
    made = await storage.worklists.next_offers([("c1", "V-1"), ("c1", "V-2")], NOW)
    # Each slot to its own patient, the one who waited longer first.
    assert [offer.phone for _, offer in made] == ["+79161234567", "+79167654321"]
    rows, called = await _rows(storage)
    assert [(r.appointment_id, r.entry_id) for r in rows] == [("V-1", 1), ("V-2", 2)] and len(called) == 2


async def test_a_slot_nobody_of_its_clinic_waits_for_is_answered_without_an_offers_transaction(
    storage: Storage,
) -> None:
    """Another clinic's waiting patient is no one to offer c1's slot to; with nobody of c1 waiting, no
    transaction is opened for it. Once a c1 patient waits, the slot is offered to them."""
    await _visits(storage, "V-1")
    await _waiting(storage, "+79161234567", clinic_id="c2")
    begun = 0

    def count(conn: Any) -> None:
        nonlocal begun
        begun += 1

    event.listen(storage.engine.sync_engine, "begin", count)
    try:
        assert await storage.worklists.next_offers([("c1", "V-1")], NOW) == []
        assert begun == 0
        await _waiting(storage, "+79167654321")
        made = await storage.worklists.next_offers([("c1", "V-1")], NOW)
    finally:
        event.remove(storage.engine.sync_engine, "begin", count)
    assert [(clinic, offer.phone) for clinic, offer in made] == [("c1", "+79167654321")] and begun >= 1


async def test_slots_leave_the_freed_list_when_handed_over_and_a_past_slot_is_offered_to_no_one(
    storage: Storage,
) -> None:
    """The freed slots are handed over in the offer's own transaction, offered or not. A slot whose time has
    passed (the service was down past it) is handed over and offered to no one."""
    await _visits(storage, "V-1", "V-2")
    await _waiting(storage, "+79161234567")
    async with storage.engine.begin() as conn:
        for appointment_id in ("V-1", "V-2"):
            await conn.execute(
                insert(freed_slots).values(clinic_id="c1", appointment_id=appointment_id, freed_at=NOW)
            )
    assert await storage.worklists.unoffered_slots() == [("c1", "V-1"), ("c1", "V-2")]
    assert await storage.worklists.next_offers([("c1", "V-1")], SLOT + timedelta(minutes=1)) == []
    assert await storage.worklists.unoffered_slots() == [("c1", "V-2")]
    made = await storage.worklists.next_offers([("c1", "V-2")], NOW)
    assert [offer.phone for _, offer in made] == ["+79161234567"]
    assert await storage.worklists.unoffered_slots() == []


async def test_a_declined_or_expired_offer_frees_its_slot_again_until_the_next_offer_takes_it(
    storage: Storage,
) -> None:
    """The slot of an offer that ends unbooked is stored as free with the offer's end, in one transaction: a
    stop before the next offer leaves it for the next start (`unoffered_slots`). A booked one frees nothing."""
    await _visits(storage, "V-1", "V-2")
    await _waiting(storage, "+79161234567", "+79167654321", "+79165550000")
    first = await storage.worklists.next_offers([("c1", "V-1"), ("c1", "V-2")], NOW)
    (_, declined), (_, booked) = first
    await storage.worklists.offer_state(declined.offer_id, OfferState.DECLINED, NOW)
    await storage.worklists.offer_state(
        booked.offer_id, OfferState.BOOKED, NOW, entry_state=WaitingState.BOOKED
    )
    assert await storage.worklists.unoffered_slots() == [("c1", "V-1")]  # as a stop here would leave it
    again = await storage.worklists.next_offers(await storage.worklists.unoffered_slots(), NOW)
    assert [(offer.phone, offer.slot_at) for _, offer in again] == [("+79165550000", SLOT)]
    assert await storage.worklists.unoffered_slots() == []
    rows, _ = await _rows(storage)
    assert [(r.appointment_id, r.state) for r in rows] == [
        ("V-1", "declined"),
        ("V-2", "booked"),
        ("V-1", "offered"),
    ]
    # The third offer expires too, with nobody left to ask: the slot is handed over and not kept.
    await storage.worklists.offer_state(again[0][1].offer_id, OfferState.EXPIRED, NOW)
    assert await storage.worklists.next_offers(await storage.worklists.unoffered_slots(), NOW) == []
    assert await storage.worklists.unoffered_slots() == []


async def test_a_visit_the_clinic_cancels_is_stored_as_a_freed_slot_with_the_cancellation(
    storage: Storage,
) -> None:
    """`POST /api/appointments/cancel` cancels through the store, then offers: the cancellation's own
    transaction keeps the time as free, so a stop before the offer leaves it for the next start."""
    await _visits(storage, "V-1")
    await _waiting(storage, "+79161234567")
    assert await storage.appointments.cancel("c1", "V-1", NOW)
    assert not await storage.appointments.cancel("c1", "V-1", NOW)  # once
    assert await storage.worklists.unoffered_slots() == [("c1", "V-1")]
    made = await storage.worklists.next_offers(await storage.worklists.unoffered_slots(), NOW)
    assert [offer.phone for _, offer in made] == ["+79161234567"]
    assert await storage.worklists.unoffered_slots() == []
