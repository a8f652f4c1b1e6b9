"""`dialer report`, `dialer db upgrade` and `dialer prompts build`."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import TextIO

from dialer.cli.audit import command_time
from dialer.cli.exits import EXIT_OK
from dialer.engine.reports import sla_report
from dialer.settings import Settings
from dialer.storage.repository import Storage


async def upgrade_db(settings: Settings, out: TextIO) -> int:
    storage = await Storage.open(settings.service.db_url)
    await storage.close()
    out.write(f"База данных обновлена: {settings.service.db_url_shown}\n")
    return EXIT_OK


def build_prompts(settings: Settings, out_dir: Path | None, out: TextIO) -> int:
    from dialer.prompts import prompts_command
    from dialer.sandbox import sandbox_prompts_dir

    async def doctors() -> list[str]:
        storage = await Storage.open(settings.service.db_url)
        try:
            return await storage.appointments.doctors()
        finally:
            await storage.close()

    clinics = [clinic.name for clinic in settings.clinics.values()]
    return prompts_command(
        out_dir, asyncio.run(doctors()), out, sandbox_dir=sandbox_prompts_dir(), clinics=clinics
    )


SLA_ROWS = (
    ("calls", "звонков"),
    ("answered", "отвечено"),
    ("missed", "пропущено"),
    ("missed_pct", "пропущено, %"),
    ("answered_in_target_pct", "отвечено за 20 с, %"),
    ("avg_wait", "среднее ожидание, с"),
    ("hidden", "со скрытым номером"),
    ("callbacks", "задач на перезвон"),
    ("first_attempt_in_deadline_pct", "первый перезвон в срок, %"),
    ("contacted_in_deadline_pct", "связались в срок, %"),
    ("breaches", "нарушений срока"),
    ("median_first_attempt", "медиана до перезвона, с"),
    ("p95_first_attempt", "95% до перезвона, с"),
    ("median_contact", "медиана до связи, с"),
)


async def report_sla(settings: Settings, day: date, clinic_id: str | None, out: TextIO) -> int:
    clinics = [settings.clinic(clinic_id)] if clinic_id else list(settings.clinics.values())
    storage = await Storage.open(settings.service.db_url)
    try:
        for clinic in clinics:
            report = await sla_report(storage.sla, clinic, day, command_time(settings))
            out.write(f"Уровень сервиса: {clinic.name} ({clinic.id}), {day.isoformat()}\n")
            hours = report.hours
            out.write("  " + f"{'':<34}{'день':>8}" + "".join(f"{h:>6}ч" for h in hours) + "\n")
            for key, label in SLA_ROWS:
                cells = "".join(f"{_cell(getattr(f, key)):>7}" for f in hours.values())
                out.write(f"  {label:<34}{_cell(getattr(report.whole_day, key)):>8}{cells}\n")
    finally:
        await storage.close()
    return EXIT_OK


def _cell(value: object) -> str:
    return "—" if value is None else str(value)
