"""The reminder funnel on a real SQLite file: a clinic's board counts that clinic's visits only, the service's
own progress line counts every clinic."""

from __future__ import annotations

from datetime import UTC, date, datetime

from dialer.core.appointments import AppointmentRecord
from dialer.storage.repository import Storage

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
