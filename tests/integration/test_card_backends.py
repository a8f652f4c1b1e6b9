"""The caller's pop-up card through `Storage`, on a real SQLite file (read by sqlite3 on the event loop) and (with
`--db=postgresql` or `--db=both`) a real PostgreSQL, where it is read in one statement: the same card from both,
with the clinic's wall, the limits and the orders of each part, and on each the same card as the seven queries
give through SQLAlchemy on the same rows."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Table, insert

from dialer.core.cards import PatientCard
from dialer.storage.cards import _read_card
from dialer.storage.journal_schema import contacts, diary, recalls, waiting_list
from dialer.storage.repository import Storage
from dialer.storage.schema import appointments, callback_tasks, patients
from dialer.storage.sqlitecard import SqliteCardReader

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
PHONE = "+79131234567"
LONELY = "+79137654321"  # only in the КОС journal
OTHER = "+79130000000"


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    store = await Storage.open(database_url)
    try:
        await fill(store)
        yield store
    finally:
        await store.close()


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


async def fill(storage: Storage) -> None:
    """Two clinics share the number (a family: two patients in c1, one in c2); more of everything than a card
    shows, and rows of another number and closed rows it must not show."""
    people = [("c1", "p1", "Яковлева Анна"), ("c1", "p2", "Абрамов Пётр"), ("c2", "q1", "Борисова Вера")]
    rows: dict[Table, list[dict[str, Any]]] = {
        patients: [
            {
                "clinic_id": c,
                "patient_id": p,
                "name": n,
                "phone": PHONE,
                "do_not_call": p == "p2",
                "updated_at": NOW,
            }
            for c, p, n in people
        ]
        + [
            {
                "clinic_id": "c1",
                "patient_id": "x",
                "name": "Чужой",
                "phone": OTHER,
                "do_not_call": False,
                "updated_at": NOW,
            }
        ],
        appointments: [
            {
                "clinic_id": c,
                "appointment_id": f"{c}-{p}-{i}",
                "patient_id": p,
                "visit_at": at(24 * i - 30 + k),
                "visit_day": at(24 * i - 30 + k).date(),
                "doctor": f"Доктор {i}",
                "reminder_status": "pending",
                "reminder_digit": "1" if i == 2 else None,
                "imported_at": NOW,
                "updated_at": NOW,
            }
            for k, (c, p, _) in enumerate(people)
            for i in range(8)  # two past visits, then six ahead: more than three a patient
        ],
        callback_tasks: [
            {
                "clinic_id": c,
                "phone": PHONE,
                "state": state,
                "reason": "abandoned",
                "missed_count": n,
                "first_call_id": f"call-{c}-{n}",
                "first_missed_at": at(-n),
                "last_missed_at": at(-n),
                "starts_at": at(-n),
                "deadline_at": at(-n + 0.25),
                "first_attempt_at": at(-n + 0.1) if n == 2 else None,
            }
            for c, state, n in (
                ("c1", "open", 1),
                ("c1", "open", 2),
                ("c1", "contacted", 3),
                ("c2", "open", 4),
            )
        ],
        contacts: [
            {
                "clinic_id": "c1" if i % 3 else "c2",
                "phone": PHONE,
                "direction": "in" if i % 2 else "out",
                "flags": "КОС" if i == 4 else "",
                "result": "booked",
                "reason": "",
                "comment": f"разговор {i}",
                "created_at": at(-i),
            }
            for i in range(1, 10)
        ],
        waiting_list: [
            {
                "clinic_id": c,
                "phone": PHONE,
                "doctor": d,
                "wanted_day": w,
                "comment": "",
                "state": s,
                "created_at": NOW,
            }
            for c, d, w, s in (
                ("c1", "Терапевт", date(2026, 12, 9), "open"),
                ("c1", "Хирург", None, "booked"),
                ("c2", "Ортодонт", None, "open"),
            )
        ],
        diary: [
            {"clinic_id": c, "phone": PHONE, "due_day": d, "comment": m, "state": s, "created_at": NOW}
            for c, d, m, s in (
                ("c1", date(2026, 12, 3), "перезвонить", "open"),
                ("c1", date(2026, 12, 4), "сделано", "done"),
                ("c2", date(2026, 12, 5), "уточнить", "open"),
            )
        ],
        recalls: [
            {
                "clinic_id": c,
                "external_id": f"k{i}",
                "patient_id": p,
                "patient_name": n,
                "phone": phone,
                "doctor": "Ортопед",
                "comment": "контроль",
                "target_day": d,
                "status": s,
                "moves": i,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i, (c, p, n, phone, d, s) in enumerate(
                (
                    ("c1", "p1", "Яковлева Анна", PHONE, date(2026, 12, 20), "call"),
                    ("c1", "p2", "Абрамов Пётр", PHONE, date(2026, 12, 10), "call"),
                    ("c1", "p1", "Яковлева Анна", PHONE, date(2026, 12, 1), "booked"),
                    ("c2", "k9", "Одинокова Зоя", LONELY, date(2026, 12, 15), "call"),
                )
            )
        ],
    }
    async with storage.engine.begin() as conn:
        for table, values in rows.items():
            await conn.execute(insert(table), values)


async def through_seven_queries(storage: Storage, phone: str, clinic: str | None) -> PatientCard:
    async with storage.engine.connect() as conn:
        return await conn.run_sync(_read_card, phone, NOW, clinic)


async def test_a_shared_number_shows_each_clinic_its_own_within_the_cards_limits(storage: Storage) -> None:
    card = await storage.cards.card(PHONE, NOW, "c1")
    assert [(p.patient_id, p.do_not_call) for p in card.patients] == [("p2", True), ("p1", False)]  # by name
    assert [v.appointment_id for v in card.visits] == [
        f"c1-{p}-{i}" for i in (2, 3, 4) for p in ("p1", "p2")
    ]  # next visits only, three a patient, soonest first
    assert card.visits[0].visit_at == at(18) and card.visits[0].reminder_digit == "1"
    assert card.callback is not None and (card.callback.missed_count, card.callback.first_attempt_at) == (
        2,
        at(-1.9),
    )
    assert [c.comment for c in card.contacts] == [
        f"разговор {i}" for i in (1, 2, 4, 5, 7)
    ]  # newest five of c1
    assert card.contacts[2].flags == "КОС" and card.contacts[0].created_at == at(-1)
    assert [(w.doctor, w.wanted_day) for w in card.waiting_list] == [("Терапевт", date(2026, 12, 9))]
    assert [(d.due_day, d.comment) for d in card.diary] == [(date(2026, 12, 3), "перезвонить")]
    assert card.recall is not None and (card.recall.patient_id, card.recall.target_day) == (
        "p2",
        date(2026, 12, 10),
    )

    everywhere = await storage.cards.card(PHONE, NOW)
    assert {p.clinic_id for p in everywhere.patients} == {"c1", "c2"}
    assert len(everywhere.visits) == 9 and everywhere.callback is not None
    assert everywhere.callback.missed_count == 4  # the earliest deadline of any clinic
    assert len(everywhere.contacts) == 5 and len(everywhere.waiting_list) == 2 and len(everywhere.diary) == 2


async def test_a_number_known_only_from_the_recall_journal_and_an_unknown_one(storage: Storage) -> None:
    lonely = await storage.cards.card(LONELY, NOW, "c2")
    assert [(p.patient_id, p.name) for p in lonely.patients] == [("k9", "Одинокова Зоя")]
    assert lonely.visits == [] and lonely.callback is None and lonely.recall is not None
    assert (await storage.cards.card(LONELY, NOW, "c1")).recall is None  # another clinic's journal
    unknown = await storage.cards.card("+79990001122", NOW, "c1")
    assert unknown == PatientCard(
        phone="+79990001122",
        patients=[],
        visits=[],
        callback=None,
        contacts=[],
        waiting_list=[],
        diary=[],
        recall=None,
    )


async def test_the_card_is_the_one_the_seven_queries_give(storage: Storage) -> None:
    for phone in (PHONE, LONELY, OTHER):
        for clinic in ("c1", "c2", None):
            expected = await through_seven_queries(storage, phone, clinic)
            assert await storage.cards.card(phone, NOW, clinic) == expected, (phone, clinic)


async def test_a_card_the_loop_cannot_read_at_once_is_read_through_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a SQLite file the card is read on the event loop with no busy wait; when that read finds the file busy
    (a checkpoint, a recovery after a crash) it is read again through the thread that may wait."""
    storage = await Storage.open(f"sqlite+aiosqlite:///{tmp_path / 'dialer.db'}")
    try:
        await fill(storage)
        await read_while_busy(storage, monkeypatch)
    finally:
        await storage.close()


async def read_while_busy(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    assert storage.cards.loop_reader is not None
    expected = await through_seven_queries(storage, PHONE, "c1")
    assert await storage.cards.card(PHONE, NOW, "c1") == expected
    busy: list[str] = []

    def locked(phone: str, now: datetime, clinic_id: str | None) -> None:
        busy.append(phone)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(SqliteCardReader, "rows", lambda self, *args: locked(*args))
    assert await storage.cards.card(PHONE, NOW, "c1") == expected
    assert busy == [PHONE]


@pytest.mark.pg
async def test_a_new_postgresql_connection_reads_its_first_card_without_asking_the_server_for_types(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg learns how to decode an array of rows (the card's one statement) by a query to the server, ~8 ms,
    once per connection; a connection the pool makes has learnt it before it is handed out."""
    storage = await Storage.open(postgres_url)
    try:
        await fill(storage)
        await first_card_of_a_new_connection(storage, monkeypatch)
    finally:
        await storage.close()


async def first_card_of_a_new_connection(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    await storage.engine.dispose()  # the next checkout makes a new connection
    async with storage.engine.connect():
        pass
    asked: list[object] = []
    introspect = asyncpg.connection.Connection._introspect_types

    async def counted(self: Any, typeoids: Any, timeout: Any) -> Any:
        asked.append(typeoids)
        return await introspect(self, typeoids, timeout)

    monkeypatch.setattr(asyncpg.connection.Connection, "_introspect_types", counted)
    card = await storage.cards.card(PHONE, NOW, "c1")
    assert len(card.patients) == 2
    assert asked == []
