"""Patients' personal data: `dialer purge`, `dialer patients forget PHONE`, and the service's daily purge.

What each retention limit covers is in dialer/storage/retention.py. The commands print what was erased, rows
per table, and never a name or a number; the functions return it, so that a caller can keep an audit record.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TextIO

from dialer.core.clock import Clock
from dialer.core.errors import FieldError
from dialer.core.phones import normalize_phone
from dialer.core.privacy import describe_error, mask_phone
from dialer.settings import RetentionSettings, Settings
from dialer.storage.erasure import Erased
from dialer.storage.forgetting import forget
from dialer.storage.repository import Storage
from dialer.storage.retention import purge

log = logging.getLogger("dialer.retention")

EXIT_OK, EXIT_ERROR = 0, 2


def report(erased: Erased, out: TextIO, *, done: str, dry: str) -> None:
    out.write((dry if erased.dry_run else done) + "\n")
    if not erased.total:
        out.write("  ничего\n")
    for name, count in sorted(erased.counts.items()):
        if count:
            out.write(f"  {name:<28}{count:>10}\n")
    if erased.dry_run:
        out.write("Пробный прогон: ничего не изменено.\n")


async def purge_command(settings: Settings, clock: Clock, *, dry_run: bool, out: TextIO) -> int:
    storage = await Storage.open(settings.service.db_url)
    try:
        erased = await purge(
            storage.engine,
            settings.retention,
            clock.now(),
            dry_run=dry_run,
            recordings_dir=settings.service.recordings_dir,
        )
    finally:
        await storage.close()
    report(
        erased,
        out,
        done="Удалено или обезличено по срокам хранения ([retention]), строк по таблицам:",
        dry="Будет удалено или обезличено по срокам хранения ([retention]), строк по таблицам:",
    )
    return EXIT_OK


async def forget_command(settings: Settings, phone: str, *, dry_run: bool, out: TextIO) -> int:
    """Erase everything about the people on this number (152-FZ art. 21: the right to have one's data deleted)."""
    try:
        e164 = normalize_phone(phone)
    except FieldError as err:
        out.write(f"Номер не распознан: {err.message}\n")
        return EXIT_ERROR
    storage = await Storage.open(settings.service.db_url)
    try:
        erased = await forget(
            storage.engine, e164, dry_run=dry_run, recordings_dir=settings.service.recordings_dir
        )
    finally:
        await storage.close()
    shown = mask_phone(e164)
    report(
        erased,
        out,
        done=f"Данные пациентов с номером {shown} стёрты, строк по таблицам:",
        dry=f"Будут стёрты данные пациентов с номером {shown}, строк по таблицам:",
    )
    if not dry_run and erased.total:
        out.write(
            "Если сервис запущен, уже открытые карточки и звонки в эфире ещё показывают номер до их завершения.\n"
        )
    return EXIT_OK


async def daily_purge(
    storage: Storage, policy: RetentionSettings, clock: Clock, recordings_dir: Path | None = None
) -> Erased | None:
    """The service's scheduled purge. Logs counts only; a failure is logged by type, never by its text."""
    try:
        erased = await purge(storage.engine, policy, clock.now(), recordings_dir=recordings_dir)
    except Exception as exc:
        log.error("retention purge failed: %s; next try tomorrow", describe_error(exc))
        return None
    summary = ", ".join(f"{name} {count}" for name, count in sorted(erased.counts.items()) if count)
    log.info("retention purge: %d rows deleted or anonymised (%s)", erased.total, summary or "nothing")
    return erased
