"""Which waiting patient each freed slot goes to, for several freed slots at once.

A slot is offered to one waiting patient at a time, and a waiting patient holds at most one live offer: two
visits cancelled in the same moment never reach the same patient, and a visit cancelled twice is offered once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class FreedSlot:
    """A cancelled visit whose time is free again."""

    clinic_id: str
    appointment_id: str
    doctor: str
    visit_day: date
    slot_at: datetime


@dataclass(frozen=True)
class WaitingPatient:
    """An open waiting-list entry."""

    entry_id: int
    clinic_id: str
    doctor: str
    wanted_day: date | None  # None: any day suits
    priority: int
    created_at: datetime
    phone: str
    patient_id: str | None


@dataclass(frozen=True)
class OfferedBefore:
    """What the stored offers already say: the slots and patients with a live offer, and who each slot was
    offered to once (declined or expired offers included), never to be asked again for it."""

    live_slots: frozenset[tuple[str, str]]  # (clinic, appointment)
    live_entries: frozenset[int]
    asked: frozenset[tuple[str, int]]  # (appointment, entry)


def match_offers(
    freed: Sequence[FreedSlot], waiting: Iterable[WaitingPatient], before: OfferedBefore
) -> list[tuple[FreedSlot, WaitingPatient]]:
    """Each freed slot, in the order the cancellations came, with the first suitable patient by priority,
    then by who waited longer."""
    queue = sorted(waiting, key=lambda w: (-w.priority, w.created_at, w.entry_id))
    busy_slots = set(before.live_slots)
    busy_entries = set(before.live_entries)
    made: list[tuple[FreedSlot, WaitingPatient]] = []
    for slot in freed:
        key = (slot.clinic_id, slot.appointment_id)
        if key in busy_slots:
            continue
        patient = next((w for w in queue if _suits(slot, w, busy_entries, before.asked)), None)
        if patient is None:
            continue
        busy_slots.add(key)
        busy_entries.add(patient.entry_id)
        made.append((slot, patient))
    return made


def _suits(
    slot: FreedSlot, patient: WaitingPatient, busy: set[int], asked: frozenset[tuple[str, int]]
) -> bool:
    return (
        patient.clinic_id == slot.clinic_id
        and patient.doctor == slot.doctor
        and (patient.wanted_day is None or patient.wanted_day == slot.visit_day)
        and patient.entry_id not in busy
        and (slot.appointment_id, patient.entry_id) not in asked
    )
