"""The retention purge on a real SQLite file: for each `[retention]` limit, what is a second older than the
limit is deleted or anonymised, and what is a second inside it stays as it was."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.settings import RetentionSettings
from dialer.storage import journal_schema, schema
from dialer.storage.repository import Storage
from dialer.storage.retention import purge
from tests.people_db import Db, Person, add_target, fill
from tests.support import DialerHome, until

NOW = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)
D = timedelta(days=1)
# Every limit different, so that a row kept or purged by the wrong rule shows.
POLICY = RetentionSettings(
    attempts=10 * D,
    sms=20 * D,
    missed_calls=30 * D,
    appointments=40 * D,
    recalls=50 * D,
    contacts=60 * D,
    comments=15 * D,
)


def old(limit: timedelta) -> datetime:
    return NOW - limit - SECOND


def fresh(limit: timedelta) -> datetime:
    return NOW - limit + SECOND


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Db]:
    storage = await Storage.open(database_url)
    try:
        yield Db(storage.engine)
    finally:
        await storage.close()


async def by(db: Db, table: str, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in await db.rows(journal_schema.all_tables().tables[table])}


async def test_attempts_and_sms_lose_the_number_and_text_after_their_limits(db: Db) -> None:
    p = Person("A", "+79161230001", "Орлова Вера")
    old_t = await add_target(db, p, "callback", "1", old(POLICY.attempts))
    fresh_t = await add_target(db, p, "callback", "2", fresh(POLICY.attempts))
    active = await add_target(db, p, "callback", "3", old(POLICY.attempts), state="active")
    sms_old = await add_target(db, p, "callback", "4", old(POLICY.sms))
    sms_fresh = await add_target(db, p, "callback", "5", fresh(POLICY.sms))
    pending = await db.add(
        schema.sms_messages,
        sms_key="pending:sms",
        clinic_id="c1",
        phone=p.phone,
        body="ещё не отправлено",
        provider="smsaero",
        status="pending",
        created_at=old(POLICY.sms),
        updated_at=old(POLICY.sms),
    )

    erased = await purge(db.engine, POLICY, NOW)

    attempts = {r["target_id"]: r for r in await db.rows(schema.attempts)}
    assert attempts[old_t]["phone"] == "" and attempts[active]["phone"] == ""  # the number dialled, erased
    assert attempts[fresh_t]["phone"] == p.phone and attempts[old_t]["result"] == "answered"  # the fact stays
    targets = await by(db, "targets", "target_id")
    assert targets[old_t]["phone"] == "" and targets[fresh_t]["phone"] == p.phone
    assert targets[active]["phone"] == p.phone  # still being worked on: it keeps its number
    events = {r["attempt_id"] for r in await db.rows(schema.attempt_events)}
    assert events == {f"callback:{fresh_t}:1"}
    sms = await by(db, "sms_messages", "sms_key")
    assert (sms[f"callback:{sms_old}:sms"]["phone"], sms[f"callback:{sms_old}:sms"]["body"]) == ("", "")
    assert sms[f"callback:{sms_old}:sms"]["status"] == "delivered"
    assert sms[f"callback:{sms_fresh}:sms"]["phone"] == p.phone and sms[f"callback:{sms_fresh}:sms"]["body"]
    assert sms[f"callback:{old_t}:sms"]["body"]  # past the attempts limit, inside the SMS one
    assert sms[pending]["body"] == "ещё не отправлено"  # still to be sent: kept whole
    assert {r["sms_key"] for r in await db.rows(schema.sms_events)} == {
        f"callback:{t}:sms" for t in (old_t, fresh_t, active, sms_fresh)
    }
    assert erased.counts["attempts.phone"] == 4 and erased.counts["targets.phone"] == 3
    assert erased.counts["sms_messages.body"] == 1 and erased.counts["attempt_events"] == 4


async def test_missed_calls_lose_the_callers_number_and_keep_the_figures(db: Db) -> None:
    for n, (at, state) in enumerate(
        [
            (old(POLICY.missed_calls), "contacted"),
            (fresh(POLICY.missed_calls), "contacted"),
            (old(POLICY.missed_calls), "open"),
        ]
    ):
        task = await db.add(
            schema.callback_tasks,
            clinic_id="c1",
            phone=f"+7916123000{n}",
            state=state,
            reason="abandoned",
            first_call_id=f"L{n}",
            first_missed_at=at,
            last_missed_at=at,
            starts_at=at,
            deadline_at=at,
        )
        await db.add(
            schema.inbound_calls,
            call_id=f"L{n}",
            clinic_id="c1",
            caller=f"+7916123000{n}",
            started_at=at,
            ended_at=at,
            waited=12.0,
            task_id=task,
        )

    await purge(db.engine, POLICY, NOW)

    calls = await by(db, "inbound_calls", "call_id")
    assert [calls[f"L{n}"]["caller"] for n in range(3)] == ["", "+79161230001", ""]
    assert calls["L0"]["waited"] == 12.0  # the service level still counts it
    tasks = await by(db, "callback_tasks", "first_call_id")
    assert [tasks[f"L{n}"]["phone"] for n in range(3)] == ["", "+79161230001", "+79161230002"]  # open: kept


async def test_visits_go_with_everything_about_them_after_the_limit(db: Db) -> None:
    gone, kept = Person("O", "+79161230010", "Старая Запись"), Person("F", "+79161230011", "Свежая Запись")
    await fill(db, gone, old(POLICY.appointments))
    await fill(db, kept, fresh(POLICY.appointments))
    idle = old(POLICY.appointments)
    await db.add(
        schema.patients,
        clinic_id="c1",
        patient_id="IDLE",
        name="Никто",
        phone="+79161230012",
        updated_at=idle,
    )

    erased = await purge(db.engine, POLICY, NOW)

    assert set(await by(db, "appointments", "appointment_id")) == {kept.appointment_id}
    visit_targets = {
        r["subject_id"] for r in await db.rows(schema.targets) if r["campaign"] in ("reminders", "followup")
    }
    assert visit_targets == {kept.appointment_id}
    assert {r["appointment_id"] for r in await db.rows(journal_schema.feedback)} == {kept.appointment_id}
    assert [r["detail"] for r in await db.rows(schema.alerts)] == [
        f"оценка 1 из 5, запись {kept.appointment_id}"
    ]
    assert {r["subject_id"] for r in await db.rows(schema.admin_tasks)} == {kept.appointment_id}
    # The old patient still has a recall and contacts inside their own limits, so the patient row stays;
    # the idle one, with nothing left, goes.
    assert set(await by(db, "patients", "patient_id")) == {gone.patient_id, kept.patient_id}
    assert erased.counts["appointments"] == 1 and erased.counts["patients"] == 1
    assert erased.counts["offers"] == 1  # the old waiting-list offer's slot is long past


async def test_closed_recalls_go_after_their_limit_and_open_ones_stay(db: Db) -> None:
    rows = {}
    for name, status, at in [
        ("old-closed", "refused", old(POLICY.recalls)),
        ("fresh-closed", "booked", fresh(POLICY.recalls)),
        ("old-open", "call", old(POLICY.recalls)),
    ]:
        rows[name] = await db.add(
            journal_schema.recalls,
            clinic_id="c1",
            external_id=name,
            patient_id=name,
            patient_name="Имя",
            phone="+79161230020",
            doctor="Врач",
            target_day=at.date(),
            status=status,
            created_at=at,
            updated_at=at,
        )
        await add_target(db, Person(name, "+79161230020", "Имя"), "kos", f"{rows[name]}:{at.date()}", at)
        await db.add(
            journal_schema.webhook_outbox,
            clinic_id="c1",
            event_key=f"kos:{rows[name]}:1.0",
            kind="kos.status",
            payload="{}",
            next_at=at,
        )

    await purge(db.engine, POLICY, NOW)

    assert set(await by(db, "recalls", "external_id")) == {"fresh-closed", "old-open"}
    kos = {r["subject_id"].split(":")[0] for r in await db.rows(schema.targets)}
    assert kos == {str(rows["fresh-closed"]), str(rows["old-open"])}
    outbox = {r["event_key"] for r in await db.rows(journal_schema.webhook_outbox)}
    assert outbox == {f"kos:{rows['fresh-closed']}:1.0", f"kos:{rows['old-open']}:1.0"}


async def test_contacts_go_after_their_limit_and_their_comments_earlier(db: Db) -> None:
    for name, at in [
        ("old", old(POLICY.contacts)),
        ("mid", old(POLICY.comments)),  # inside the contacts limit, past the comments one
        ("new", fresh(POLICY.comments)),
    ]:
        await db.add(
            journal_schema.contacts,
            clinic_id="c1",
            phone="+79161230030",
            direction="in",
            call_ref=name,
            result="no_result",
            comment=f"{name}: просила перезвонить",
            created_at=at,
        )
        await db.add(
            journal_schema.wrapups,
            clinic_id="c1",
            user_id=1,
            call_ref=name,
            phone="+79161230030",
            direction="in",
            started_at=at,
        )
        for table, state in ((journal_schema.diary, "done"), (journal_schema.diary, "open")):
            await db.add(
                table,
                clinic_id="c1",
                phone="+79161230030",
                due_day=at.date(),
                comment=f"{name}/{state}",
                state=state,
                created_at=at,
            )
        await db.add(
            journal_schema.waiting_list,
            clinic_id="c1",
            phone="+79161230030",
            comment=f"{name}/booked",
            state="booked",
            created_at=at,
        )

    erased = await purge(db.engine, POLICY, NOW)

    contacts = {r["call_ref"]: r["comment"] for r in await db.rows(journal_schema.contacts)}
    assert contacts == {"mid": "", "new": "new: просила перезвонить"}
    assert {r["call_ref"] for r in await db.rows(journal_schema.wrapups)} == {"mid", "new"}
    diary = sorted(r["comment"] for r in await db.rows(journal_schema.diary))
    assert diary == ["", "mid/open", "new/done", "new/open", "old/open"]  # open entries are still work
    assert sorted(r["comment"] for r in await db.rows(journal_schema.waiting_list)) == ["", "new/booked"]
    assert erased.counts["contacts"] == 1 and erased.counts["contacts.comment"] == 1


async def test_a_dry_run_counts_what_the_purge_does_and_changes_nothing(db: Db) -> None:
    await fill(db, Person("O", "+79161230040", "Старая"), old(POLICY.contacts))
    await fill(db, Person("F", "+79161230041", "Свежая"), fresh(POLICY.attempts))
    before = {t.name: await db.rows(t) for t in journal_schema.all_tables().sorted_tables}

    dry = await purge(db.engine, POLICY, NOW, dry_run=True)

    assert {t.name: await db.rows(t) for t in journal_schema.all_tables().sorted_tables} == before
    done = await purge(db.engine, POLICY, NOW)
    assert dry.dry_run and dry.counts == done.counts and done.total > 0
    assert (await purge(db.engine, POLICY, NOW)).total == 0  # nothing left to do the second time


def test_the_purge_command_and_its_settings(tmp_path: Path, database_url: str) -> None:
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(
        '[service]\ndata_dir = "var"\n[[clinics]]\nid = "c1"\nname = "К"\ntimezone = "Europe/Moscow"\n'
        '[retention]\nattempts = "30d"\n'
    )
    result = home.run("purge", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "ничего" in result.stdout and "Пробный прогон" in result.stdout
    home.write('[retention]\nattempts = "12h"\n')
    refused = home.run("purge")
    assert refused.returncode == 2 and "retention.attempts: не меньше суток" in refused.stderr


async def purges(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    def lines() -> list[str]:
        found = [r.getMessage() for r in caplog.records if r.name == "dialer.retention"]
        return found if len(found) >= count else []

    return await until(lines, f"{count} purge lines in the log", every=0.05)


async def test_the_service_purges_every_night_and_logs_counts_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    import asyncio

    from dialer.app import open_runtime
    from dialer.core.clock import FakeClock
    from dialer.engine.daily import run_daily
    from dialer.settings import load_settings

    home = DialerHome(tmp_path, database_url=database_url)
    home.write(
        '[service]\ndata_dir = "var"\n[[clinics]]\nid = "c1"\nname = "К"\ntimezone = "Asia/Omsk"\n'
        '[retention]\npurge_time = "03:30"\n'
    )
    clock = FakeClock(datetime(2026, 11, 30, 21, 0, tzinfo=UTC))  # 03:00 in Omsk
    async with open_runtime(load_settings(home.config, env={}), clock=clock) as rt:
        (job,) = rt.day_jobs.daily
        assert (job.name, job.at, job.zone.key) == ("retention-purge", time(3, 30), "Asia/Omsk")
        person = Person("N", "+79161230050", "Ночная Очистка")
        await fill(Db(rt.storage.engine), person, old(RetentionSettings().contacts) - D)
        caplog.set_level(logging.INFO)
        nightly = asyncio.create_task(run_daily([job], clock))
        try:
            await clock.run_for(timedelta(minutes=29))  # 03:29 in Omsk
            assert not [r for r in caplog.records if r.name == "dialer.retention"]
            await clock.run_for(timedelta(minutes=2))
            [line] = await purges(caplog, 1)  # the purge itself writes to the real file: real time
            await clock.run_for(timedelta(days=1))  # and again the next night, once
            assert len(await purges(caplog, 2)) == 2
        finally:
            nightly.cancel()
    assert line.startswith("retention purge: ") and "rows deleted or anonymised (" in line
    assert "appointments 1" in line
    assert "9161230050" not in caplog.text and "Ночная" not in caplog.text
