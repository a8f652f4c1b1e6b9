"""`dialer import` and `dialer export`: the clinic's lists in, the results out, each written to the audit log."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from pathlib import Path
from typing import TextIO

from dialer.cli.audit import cli_actor, command_time
from dialer.cli.exits import EXIT_ERROR, EXIT_OK, EXIT_ROWS_FAILED
from dialer.core import appointments, recalls
from dialer.core.csvfile import CsvError, formula_safe, formula_safe_row, read_csv
from dialer.core.staff import AuditAction
from dialer.engine.importing import ImportOutcome, import_appointments, import_recalls
from dialer.settings import Settings
from dialer.storage.repository import Storage


async def import_appointments_file(settings: Settings, path: Path, out: TextIO) -> int:
    def run(storage: Storage, rows: list[tuple[int, dict[str, str]]]) -> Awaitable[ImportOutcome]:
        return import_appointments(
            rows, settings=settings, store=storage.appointments, now=command_time(settings)
        )

    return await _import_file(
        settings, path, out, appointments.HEADER_ALIASES, appointments.missing_columns, run, "appointments"
    )


async def import_recalls_file(settings: Settings, path: Path, out: TextIO) -> int:
    def run(storage: Storage, rows: list[tuple[int, dict[str, str]]]) -> Awaitable[ImportOutcome]:
        return import_recalls(rows, settings=settings, store=storage.recalls, now=command_time(settings))

    return await _import_file(
        settings, path, out, recalls.HEADER_ALIASES, recalls.missing_columns, run, "recalls"
    )


async def _import_file(
    settings: Settings,
    path: Path,
    out: TextIO,
    aliases: Mapping[str, str],
    missing_columns: Callable[[list[str]], list[str]],
    run: Callable[[Storage, list[tuple[int, dict[str, str]]]], Awaitable[ImportOutcome]],
    kind: str,
) -> int:
    try:
        table = read_csv(await asyncio.to_thread(path.read_bytes), aliases)
    except (OSError, CsvError) as err:
        out.write(f"{path}: {err}\n")
        return EXIT_ERROR
    missing = missing_columns(table.header)
    if missing:
        out.write(f"{path}: строка 1: нет обязательных столбцов: {', '.join(missing)}\n")
        return EXIT_ERROR
    storage = await Storage.open(settings.service.db_url)
    try:
        outcome = await run(storage, table.rows)
        clinic, detail = outcome.audit(kind, "file")
        detail["file"] = path.name
        await storage.audit.record(cli_actor(), AuditAction.IMPORT, clinic, detail, command_time(settings))
    finally:
        await storage.close()
    for error in outcome.errors:
        out.write(f"{path}: {error}\n")
    out.write(
        f"Загружено записей: {outcome.created + outcome.updated} из {outcome.rows} "
        f"(новых {outcome.created}, обновлено {outcome.updated}, с ошибками {len(outcome.errors)}); "
        f"кодировка {table.encoding}\n"
    )
    return EXIT_OK if outcome.ok else EXIT_ROWS_FAILED


KOS_COLUMNS = (
    "recall_id",
    "clinic",
    "patient_id",
    "doctor",
    "status",
    "status_label",
    "reason",
    "comment",
    "target_date",
    "booked_date",
    "moves",
)


async def export_recalls(settings: Settings, clinic: str | None, out: TextIO) -> int:
    """The KOS journal with the dialer's results, for the clinic's own system."""
    storage = await Storage.open(settings.service.db_url)
    try:
        rows = await storage.recalls.export(clinic)
        detail = {"report": "kos", "via": "cli", "rows": len(rows)}
        await storage.audit.record(
            cli_actor(), AuditAction.EXPORT, clinic or "*", detail, command_time(settings)
        )
    finally:
        await storage.close()
    writer = csv.DictWriter(out, KOS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: formula_safe("" if v is None else v) for k, v in r.public().items()})
    return EXIT_OK


EXPORT_COLUMNS = (
    "clinic",
    "appointment_id",
    "visit_date",
    "visit_time",
    "status",
    "attempts",
    "last_result",
    "digit",
    "sms_status",
)


async def export_outcomes(settings: Settings, day: date, clinic: str | None, out: TextIO) -> int:
    storage = await Storage.open(settings.service.db_url)
    try:
        rows = await storage.appointments.outcomes(day, clinic)
        detail = {"report": "outcomes", "date": day.isoformat(), "via": "cli", "rows": len(rows)}
        await storage.audit.record(
            cli_actor(), AuditAction.EXPORT, clinic or "*", detail, command_time(settings)
        )
    finally:
        await storage.close()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        tz = settings.clinics[r.clinic_id].timezone if r.clinic_id in settings.clinics else None
        local = r.visit_at.astimezone(tz) if tz else r.visit_at
        writer.writerow(
            formula_safe_row(
                [
                    r.clinic_id,
                    r.appointment_id,
                    local.date().isoformat(),
                    local.strftime("%H:%M"),
                    r.status,
                    r.attempts,
                    r.last_result,
                    r.digit,
                    r.sms_status,
                ]
            )
        )
    return EXIT_OK
