"""The reminder funnel on a real SQLite file (and PostgreSQL with `--db`): a clinic's board counts that clinic's
visits only, the service's own progress line counts every clinic; calls by state, machines, SMS by status and the
targets still open are the day's reminders' own."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update

from dialer.core.alerts import AlertKind
from dialer.core.appointments import AppointmentRecord
from dialer.core.sla import ANSWER_TARGET_SECONDS, by_hour, figures
from dialer.core.sla_sums import hour_starts, summed_day
from dialer.storage.repository import Storage
from dialer.storage.schema import attempts, sms_messages, targets

DAY = date(2026, 12, 1)
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def visit(clinic: str, n: int) -> AppointmentRecord:
    return AppointmentRecord(
        clinic_id=clinic,
        appointment_id=f"{clinic}-{n}",
        patient_id=f"{clinic}-p{n}",
        patient_name="Пациент",
        phone=f"+7916000{n:04d}",
        visit_at=datetime(2026, 12, 1, 9, n, tzinfo=UTC),
        visit_day=DAY,
        doctor="Иванова",
        specialty="терапевт",
        high_value=False,
        consent_call=True,
        consent_sms=True,
        do_not_call=False,
    )


async def test_a_clinic_board_counts_its_own_visits_and_the_service_counts_all(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        await storage.appointments.upsert([visit("c1", n) for n in range(3)] + [visit("c2", 9)], NOW)
        await storage.reminders.ensure_targets(DAY, NOW)
        c1 = await storage.reminders.day_summary(DAY, "c1")
        c2 = await storage.reminders.day_summary(DAY, "c2")
        both = await storage.reminders.day_summary(DAY)
        assert (sum(c1.statuses.values()), c1.active_targets) == (3, 3)
        assert (sum(c2.statuses.values()), c2.active_targets) == (1, 1)
        assert (sum(both.statuses.values()), both.active_targets) == (4, 4)
    finally:
        await storage.close()


async def test_the_funnel_counts_the_days_calls_machines_sms_and_open_targets(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        await storage.appointments.upsert([visit("c1", n) for n in range(3)] + [visit("c2", 9)], NOW)
        await storage.reminders.ensure_targets(DAY, NOW)
        ids = await _target_ids(storage)
        calls = [  # (appointment, n, state, result)
            ("c1-0", 1, "ended", "machine"),
            ("c1-0", 2, "ended", "answered"),
            ("c1-1", 1, "ended", "machine"),
            ("c1-2", 1, "dialing", None),
            ("c2-9", 1, "ended", "machine"),
        ]
        async with storage.engine.begin() as conn:
            await conn.execute(
                insert(attempts),
                [
                    {
                        "attempt_id": f"{a}:{n}",
                        "clinic_id": a[:2],
                        "target_id": ids[a],
                        "n": n,
                        "phone": "+79160000000",
                        "trunk": "t",
                        "state": state,
                        "created_at": NOW,
                        "result": result,
                    }
                    for a, n, state, result in calls
                ],
            )
            await conn.execute(
                insert(sms_messages),
                [
                    {
                        "sms_key": f"sms-{a}",
                        "clinic_id": a[:2],
                        "target_id": ids[a],
                        "phone": "+79160000000",
                        "body": "напоминание",
                        "provider": "none",
                        "status": status,
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for a, status in (
                        ("c1-0", "delivered"),
                        ("c1-1", "delivered"),
                        ("c1-2", "failed"),
                        ("c2-9", "sent"),
                    )
                ],
            )
            await conn.execute(update(targets).where(targets.c.target_id == ids["c1-0"]).values(state="done"))
        c1 = await storage.reminders.day_summary(DAY, "c1")
        assert (c1.attempts, c1.machines, c1.sms, c1.active_targets) == (
            {"ended": 3, "dialing": 1},
            2,
            {"delivered": 2, "failed": 1},
            2,
        )
        both = await storage.reminders.day_summary(DAY)
        assert (both.attempts, both.machines, both.sms, both.active_targets) == (
            {"ended": 4, "dialing": 1},
            3,
            {"delivered": 2, "failed": 1, "sent": 1},
            3,
        )
        await _the_board_reads_the_same_in_one_go(storage)
        other_day = await storage.reminders.day_summary(date(2026, 12, 2), "c1")
        assert (other_day.attempts, other_day.machines, other_day.sms, other_day.active_targets) == (
            {},
            0,
            {},
            0,
        )
    finally:
        await storage.close()


async def _target_ids(storage: Storage) -> dict[str, int]:
    async with storage.engine.connect() as conn:
        return {str(r.subject_id): int(r.target_id) for r in await conn.execute(select(targets))}


async def _the_board_reads_the_same_in_one_go(storage: Storage) -> None:
    """A board's rows read on one connection are what each store gives on its own."""
    await storage.users.add(
        username="op",
        display_name="Оператор",
        role="operator",
        password_hash="x",
        interfaces=("PJSIP/101", "PJSIP/102"),
        clinics=["c1"],
        api_token_hash=None,
        now=NOW,
    )
    await storage.alerts.raise_("c1", AlertKind.WAITING.value, NOW, "много ждущих")
    tz = ZoneInfo("Europe/Moscow")
    hours = hour_starts(DAY, tz)
    end = datetime.combine(DAY + timedelta(days=1), time(0), tz)
    rows = await storage.board.board_rows("c1", hours, end, ANSWER_TARGET_SECONDS)
    calls, tasks = await storage.sla.rows("c1", hours[0].at, end)
    assert rows.tasks == tasks
    assert summed_day(rows.sums, rows.tasks, tz, NOW) == (
        figures(calls, tasks, NOW),
        by_hour(calls, tasks, tz, NOW),
    )
    assert rows.open_tasks == await storage.callbacks.open_tasks("c1")
    assert await storage.board.funnel("c1", DAY) == await storage.reminders.day_summary(DAY, "c1")
    assert rows.alerts == await storage.alerts.active("c1") != []
    assert rows.names == {"PJSIP/101": "Оператор", "PJSIP/102": "Оператор"}
