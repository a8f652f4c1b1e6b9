"""`dialer patients forget PHONE` (152-FZ art. 21) on a real SQLite file: the person on that number leaves no
trace in any table, nor in the database's files, and nobody else's rows change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from dialer.storage import journal_schema, quality_schema
from dialer.storage.forgetting import forget
from dialer.storage.repository import Storage
from tests.people_db import PERSONAL_COLUMNS, STAFF, Db, Person, fill
from tests.support import DialerHome

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def forgotten() -> Person:
    return Person("X", "+79161234567", "Смирнова Анна Сергеевна")


def other() -> Person:
    return Person("Y", "+79031112233", "Кузнецов Игорь Петрович")


async def snapshot(db: Db, person: Person) -> dict[str, list[dict[str, object]]]:
    """Every row that names this person, table by table."""
    marks = person.traces()
    return {
        t.name: [
            r
            for r in await db.rows(t)
            if any(isinstance(v, str) and m in v for v in r.values() for m in marks)
        ]
        for t in journal_schema.all_tables().sorted_tables
    }


async def test_the_fill_reaches_every_table_that_can_hold_a_patient(storage: Storage) -> None:
    db = Db(storage.engine)
    x = forgotten()
    await fill(db, x, AT)
    personal = {
        t.name
        for t in journal_schema.all_tables().sorted_tables
        if t.name not in STAFF and PERSONAL_COLUMNS & set(t.c.keys())
    }
    filled = {t.name for t in journal_schema.all_tables().sorted_tables if await db.rows(t)}
    assert personal - filled == set(), "a new table may hold a patient's data: add it to tests/people_db.fill"
    assert "ami_gaps" not in personal and "patients" in personal


async def test_forgetting_a_phone_leaves_no_trace_in_any_table_and_spares_everyone_else(
    storage: Storage,
) -> None:
    db = Db(storage.engine)
    x, y = forgotten(), other()
    await fill(db, x, AT)
    await fill(db, y, AT)
    y_before = await snapshot(db, y)
    assert all((await db.where_found(*x.traces())).values())  # the search does find them before

    erased = await forget(storage.engine, x.phone)

    left = await db.where_found(*x.traces())  # table by table, every text column
    assert left == {mark: [] for mark in x.traces()}
    assert await snapshot(db, y) == y_before  # the other patient's rows, untouched
    assert erased.counts["patients"] == 1 and erased.counts["appointments"] == 1
    assert erased.counts["attempts"] == 6  # reminder, follow-up, КОС, callback, diary and offer calls
    assert set(erased.counts) >= {
        "patients", "appointments", "targets", "attempts", "attempt_events", "due_tasks", "sms_messages",
        "sms_events", "feedback", "alerts", "admin_tasks", "recalls", "webhook_outbox", "callback_tasks",
        "inbound_calls", "contacts", "wrapups", "diary", "waiting_list", "offers",
    }  # fmt: skip


async def test_another_patient_offered_the_forgotten_visit_keeps_the_offer_without_the_link(
    storage: Storage,
) -> None:
    db = Db(storage.engine)
    x, y = forgotten(), other()
    await fill(db, x, AT)
    await fill(db, y, AT)
    slot = await db.add(
        journal_schema.offers,
        clinic_id="c1",
        appointment_id=x.appointment_id,  # X cancelled; the slot went to Y on the waiting list
        doctor="Петров А. Н.",
        slot_at=AT,
        entry_id=y.ids["waiting"],
        created_at=AT,
    )

    erased = await forget(storage.engine, x.phone)

    [offer] = [r for r in await db.rows(journal_schema.offers) if r["offer_id"] == slot]
    assert offer["entry_id"] == y.ids["waiting"] and offer["appointment_id"] == f"forgotten-{slot}"
    assert erased.counts["offers.appointment_id"] == 1


async def test_their_recordings_files_go_after_the_rows_and_nobody_elses(
    storage: Storage, tmp_path: Path
) -> None:
    db = Db(storage.engine)
    x, y = forgotten(), other()
    await fill(db, x, AT)
    await fill(db, y, AT)
    folder = tmp_path / "recordings"
    files = {}
    for person in (x, y):
        [row] = [r for r in await db.rows(quality_schema.recordings) if r["phone"] == person.phone]
        files[person.tag] = folder / row["file_name"]
        files[person.tag].parent.mkdir(parents=True, exist_ok=True)
        files[person.tag].write_bytes(b"OggS")
    outside = tmp_path / "elsewhere.ogg"
    outside.write_bytes(b"OggS")
    await db.add(  # a row whose name would lead out of the folder: never followed
        quality_schema.recordings, clinic_id="c1", call_ref="odd", kind="inbound", phone=x.phone,
        file_name="../elsewhere.ogg", started_at=AT,
    )  # fmt: skip

    dry = await forget(storage.engine, x.phone, dry_run=True, recordings_dir=folder)
    assert files["X"].exists() and "recording_files" not in dry.counts

    erased = await forget(storage.engine, x.phone, recordings_dir=folder)

    assert not files["X"].exists() and files["Y"].exists() and outside.exists()
    assert erased.counts["recordings"] == 2 and erased.counts["recording_files"] == 1
    assert erased.counts["call_scores"] == 1 and erased.counts["complaints"] == 1
    left = await db.rows(quality_schema.recordings)
    assert [r["phone"] for r in left] == [y.phone]


async def test_a_dry_run_counts_the_same_and_changes_nothing(storage: Storage) -> None:
    db = Db(storage.engine)
    x = forgotten()
    await fill(db, x, AT)
    before = {t.name: await db.rows(t) for t in journal_schema.all_tables().sorted_tables}

    dry = await forget(storage.engine, x.phone, dry_run=True)

    assert {t.name: await db.rows(t) for t in journal_schema.all_tables().sorted_tables} == before
    assert dry.dry_run and dry.counts == (await forget(storage.engine, x.phone)).counts


async def test_nothing_forgotten_stays_in_the_database_files(tmp_path: Path) -> None:
    """Deleted rows are overwritten (secure_delete) and the write-ahead log emptied: a copy of the files taken
    after the erasure holds neither the number nor the name."""
    home = DialerHome.one_clinic(tmp_path)
    storage = await Storage.open(f"sqlite+aiosqlite:///{home.db}")
    try:
        db = Db(storage.engine)
        x, y = forgotten(), other()
        await fill(db, x, AT)
        await fill(db, y, AT)
        await forget(storage.engine, x.phone)
        files = b"".join(p.read_bytes() for p in home.db.parent.iterdir() if p.name.startswith("dialer.db"))
    finally:
        await storage.close()
    assert y.phone.encode() in files and y.name.encode() in files  # the search can see what is there
    for mark in x.traces():
        assert mark.encode() not in files, mark


def test_the_command_prints_what_it_erased_per_table(tmp_path: Path, database_url: str) -> None:
    home = DialerHome.one_clinic(tmp_path, database_url)

    async def seed() -> None:
        storage = await Storage.open(home.url)
        try:
            await fill(Db(storage.engine), forgotten(), AT)
            await fill(Db(storage.engine), other(), AT)
        finally:
            await storage.close()

    asyncio.run(seed())

    dry = home.run("patients", "forget", "8 (916) 123-45-67", "--dry-run")
    done = home.run("patients", "forget", "8 (916) 123-45-67")
    again = home.run("patients", "forget", "+7 916 123 45 67")
    bad = home.run("patients", "forget", "12345")

    assert dry.returncode == done.returncode == again.returncode == 0, dry.stderr + done.stderr
    assert "Пробный прогон: ничего не изменено." in dry.stdout
    lines = dict(line.split() for line in done.stdout.splitlines() if line.startswith("  "))
    assert lines["patients"] == "1" and lines["appointments"] == "1" and lines["recalls"] == "1"
    assert lines == dict(line.split() for line in dry.stdout.splitlines() if line.startswith("  "))
    assert "+7916*****67" in done.stdout and "9161234567" not in done.stdout + done.stderr
    assert "ничего" in again.stdout
    assert bad.returncode == 2 and "Номер не распознан" in bad.stdout
    assert len(home.query("select * from patients")) == 1
