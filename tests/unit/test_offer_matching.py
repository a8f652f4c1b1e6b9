"""Which waiting patient each freed slot goes to, when several slots are freed at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dialer.core.offer_matching import FreedSlot, OfferedBefore, WaitingPatient, match_offers

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
NOTHING = OfferedBefore(frozenset(), frozenset(), frozenset())


def slot(appointment_id: str, doctor: str = "Иванова", clinic: str = "c1") -> FreedSlot:
    return FreedSlot(clinic, appointment_id, doctor, AT.date(), AT)


def patient(
    entry_id: int, priority: int = 0, doctor: str = "Иванова", wanted: date | None = None, clinic: str = "c1"
) -> WaitingPatient:
    created = AT - timedelta(days=10) + timedelta(minutes=entry_id)
    return WaitingPatient(entry_id, clinic, doctor, wanted, priority, created, f"+7916000000{entry_id}", None)


def pairs(made: list[tuple[FreedSlot, WaitingPatient]]) -> list[tuple[str, int]]:
    return [(s.appointment_id, p.entry_id) for s, p in made]


def test_priority_first_then_who_waited_longer_and_each_patient_one_slot() -> None:
    waiting = [patient(1), patient(2, priority=5), patient(3)]
    assert pairs(match_offers([slot("V-1"), slot("V-2"), slot("V-3")], waiting, NOTHING)) == [
        ("V-1", 2),
        ("V-2", 1),
        ("V-3", 3),
    ]


def test_a_slot_cancelled_twice_is_offered_once() -> None:
    assert pairs(match_offers([slot("V-1"), slot("V-1")], [patient(1), patient(2)], NOTHING)) == [("V-1", 1)]


def test_the_doctor_the_day_and_the_clinic_must_suit() -> None:
    waiting = [
        patient(1, doctor="Петров"),
        patient(2, wanted=AT.date() + timedelta(days=1)),
        patient(3, clinic="c2"),
        patient(4, wanted=AT.date()),
    ]
    assert pairs(match_offers([slot("V-1")], waiting, NOTHING)) == [("V-1", 4)]


def test_what_the_stored_offers_say_is_kept() -> None:
    before = OfferedBefore(
        live_slots=frozenset({("c1", "V-1")}), live_entries=frozenset({1}), asked=frozenset({("V-2", 2)})
    )
    made = match_offers([slot("V-1"), slot("V-2")], [patient(1), patient(2), patient(3)], before)
    assert pairs(made) == [("V-2", 3)]  # V-1 is out already; 1 holds an offer; 2 said no to V-2
