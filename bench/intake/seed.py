"""The full-runtime variant's clinic: its settings, its database seeded with the recorded calls' attempts,
the calls placed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, text

from bench.campaign import CYRILLIC_CALLER_ID
from bench.lib.clinic import ClinicTime
from dialer.app import Runtime
from dialer.campaigns.kinds import CampaignKind
from dialer.core.followups import (
    FinishTarget,
    FollowUpWrite,
    FreeSlot,
    OpenAdminTask,
    ScheduleDue,
    SetVisitStatus,
)
from dialer.core.ids import AttemptId
from dialer.core.outcomes import classify
from dialer.core.records import (
    AttemptBatch,
    AttemptEnd,
    AttemptRow,
    AttemptState,
    DueTask,
    EventRow,
    ReminderStatus,
    Settled,
    TaskKind,
)
from dialer.settings import Settings, parse_settings
from dialer.storage.journal_schema import freed_slots
from dialer.storage.repository import Storage
from dialer.storage.schema import admin_tasks, appointments, attempt_events, due_tasks, patients, targets
from dialer.storage.schema import attempts as attempts_table

TRUNK = "sim"


CLINIC = "c1"


def phone_of(target: int) -> str:
    return f"+7916{target:07d}"


def bench_settings(home: Path, calls: int, clinic: ClinicTime) -> Settings:
    """One clinic on its morning (the runtime gets `clinic.clock()`), a calling window open now, one attempt
    per patient, a trunk wide and fast enough that placing the stream's calls before the clock starts takes
    no time."""
    local = clinic.local_now()
    return parse_settings(
        {
            "service": {"data_dir": str(home)},
            "ami": {"host": "127.0.0.1", "secret": "bench"},  # never connected: the replay feeds the protocol
            "trunks": {
                TRUNK: {
                    "dial": "Local/{number}@patients",
                    "max_channels": calls,
                    "calls_per_second": 1e6,
                    "ring_timeout": "20s",
                    "caller_id": CYRILLIC_CALLER_ID,
                }
            },
            "clinics": [
                {
                    "id": CLINIC,
                    "name": "Клиника «Улыбка»",
                    "timezone": str(local.tzinfo),
                    "phone": "+7 495 123-45-67",
                    "trunk": TRUNK,
                    "skip_holidays": False,
                }
            ],
            "campaigns": {
                "reminders": {
                    "windows": [
                        {
                            "start": (local - timedelta(minutes=2)).strftime("%H:%M:%S"),
                            "end": (local + timedelta(hours=2)).strftime("%H:%M:%S"),
                            "attempts": 1,
                        }
                    ],
                    "same_day_confirmation": False,
                    "sms_when_not_reached": False,
                }
            },
            "sms": {"provider": "none"},
        }
    )


async def seed_db(storage: Storage, settings: Settings, attempt_ids: Sequence[str], now: datetime) -> None:
    """Patients, tomorrow's appointments and their reminder targets, with the stream's target ids."""
    tz = settings.clinic(CLINIC).timezone
    local = now.astimezone(tz)
    visit = datetime.combine(local.date() + timedelta(days=1), local.time().replace(microsecond=0), tz)
    ids = [AttemptId.parse(a) for a in attempt_ids]
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(patients),
            [
                {
                    "clinic_id": CLINIC,
                    "patient_id": f"P{a.target}",
                    "name": f"Пациентова Анна {a.target}",
                    "phone": phone_of(a.target),
                    "consent_call": True,
                    "consent_sms": True,
                    "do_not_call": False,
                    "updated_at": now,
                }
                for a in ids
            ],
        )
        await conn.execute(
            insert(appointments),
            [
                {
                    "clinic_id": CLINIC,
                    "appointment_id": f"B{a.target}",
                    "patient_id": f"P{a.target}",
                    "visit_at": visit.astimezone(UTC),
                    "visit_day": visit.date(),
                    "doctor": "Иванова Мария Петровна",
                    "specialty": "",
                    "high_value": False,
                    "reminder_status": "pending",
                    "imported_at": now,
                    "updated_at": now,
                }
                for a in ids
            ],
        )
        await conn.execute(
            insert(targets),
            [
                {
                    "target_id": a.target,
                    "clinic_id": CLINIC,
                    "campaign": CampaignKind.REMINDERS,
                    "subject_id": f"B{a.target}",
                    "patient_id": f"P{a.target}",
                    "phone": phone_of(a.target),
                    "state": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for a in ids
            ],
        )
        if (
            conn.dialect.name == "postgresql"
        ):  # the ids were given, not drawn: targets opened later follow them
            await conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('targets', 'target_id'), max(target_id)) FROM targets"
                )
            )


async def place_calls(rt: Runtime, attempt_ids: Sequence[str]) -> None:
    """Dial the stream's attempts the way the worker does (ReminderFlow.run_dial -> CallDesk.place)."""
    now = rt.clock.now()
    for attempt_id in attempt_ids:
        target = AttemptId.parse(attempt_id).target
        await rt.reminders.run_dial(
            DueTask(
                AttemptId.parse(attempt_id).due_task_id,
                CLINIC,
                TaskKind.DIAL,
                CampaignKind.REMINDERS,
                target,
                now,
            )
        )
    if rt.desk.in_flight != len(attempt_ids):
        raise RuntimeError(
            f"placed {rt.desk.in_flight} of {len(attempt_ids)} calls: the calling window is "
            "not open? (see bench_settings)"
        )


async def warm_statements(storage: Storage, attempt_ids: Sequence[str]) -> None:
    """Warm AttemptStore.apply up as a long-running service has it after its first calls (each replay opens a
    new Storage): on SQLite its own connection opened and its statements in sqlite3's statement cache
    (dialer/storage/fastbatch.py), elsewhere compiled into the engine's cache. Two attempts of the first
    target, made up for it, go through a batch (two rows each, as executemany is cached apart from a single
    execute), and are deleted again. On SQLite the WAL is then written back to the file."""
    now = datetime.now(UTC)
    target = AttemptId.parse(attempt_ids[0]).target
    rows = [
        AttemptRow(
            attempt_id=f"{CampaignKind.REMINDERS}:{target}:{n}",
            clinic_id=CLINIC,
            target_id=target,
            n=n,
            phone=phone_of(target),
            trunk=TRUNK,
            state=AttemptState.DIALING,
            created_at=now,
        )
        for n in (98, 99)
    ]
    for row in rows:
        await storage.attempts.create(row)
    ids = [row.attempt_id for row in rows]
    result = classify(answered=True, reason=4, cause=16)
    await storage.attempts.apply(
        AttemptBatch(
            answered=[(a, now) for a in ids],
            digits=[(a, "1", Settled.OPEN) for a in ids],
            legs=[(a, "Up", Settled.OPEN) for a in ids],
            ends=[AttemptEnd(a, now, 4, 16, result, True, a) for a in ids],
        ),
        [EventRow(CLINIC, a, now, "warm-up") for a in ids],
    )
    async with storage.engine.begin() as conn:
        await conn.execute(delete(attempt_events).where(attempt_events.c.attempt_id.in_(ids)))
        await conn.execute(delete(attempts_table).where(attempts_table.c.attempt_id.in_(ids)))
    await warm_follow_ups(storage, target, now)
    if storage.engine.dialect.name == "postgresql":
        # The seeded tables' statistics, as autovacuum gathers them within a minute of the seeding: without
        # them the planner takes each table for nearly empty and joins the flow's 150 targets by nested loops.
        async with storage.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
    if storage.engine.dialect.name == "sqlite":
        # The seeding's pages written back to the file now, as a running service's earlier writes are: else
        # the checkpoint SQLite makes at the first commit past 1,000 pages in its WAL falls in the replay and
        # charges it with the seeding's write-back (about 6 ms of a replay of ~60).
        async with storage.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# Made up for the warm-up: no such targets or visits exist, so that its updates change nothing.
_WARM_TARGETS = (10**9, 10**9 + 1)
_WARM_VISIT = "warm-up"


async def warm_follow_ups(storage: Storage, target: int, now: datetime) -> None:
    """Warm the reminder flow's batch up the same way: its view read of one real target, and one write of every
    kind for two made-up targets, each with a visit of its own (a run of two rows that name two rows: the form a
    batch takes), whose inserted rows are deleted again. On PostgreSQL a cold statement costs a prepare round
    trip on the connection; a running service's pooled connections have them."""
    await storage.reminders.follow_up_view([target])
    writes: list[FollowUpWrite] = []
    for made_up in _WARM_TARGETS:
        visit = f"{_WARM_VISIT}:{made_up}"
        due = DueTask(f"{_WARM_VISIT}:{made_up}", CLINIC, TaskKind.DIAL, CampaignKind.REMINDERS, made_up, now)
        writes += [
            SetVisitStatus(made_up, CLINIC, visit, ReminderStatus.CONFIRMED, "1", now),
            OpenAdminTask(made_up, CLINIC, visit, visit, _WARM_VISIT, str(made_up), "", now),
            FreeSlot(made_up, CLINIC, visit, now),
            ScheduleDue(due),
            FinishTarget(made_up, CLINIC, visit, ReminderStatus.CONFIRMED, _WARM_VISIT, now),
        ]
    await storage.reminders.write_follow_ups(writes)
    made_up_visit = f"{_WARM_VISIT}:%"
    async with storage.engine.begin() as conn:
        await conn.execute(delete(admin_tasks).where(admin_tasks.c.subject_id.like(made_up_visit)))
        await conn.execute(delete(freed_slots).where(freed_slots.c.appointment_id.like(made_up_visit)))
        await conn.execute(delete(due_tasks).where(due_tasks.c.target_id.in_(_WARM_TARGETS)))
