"""The `dialer` commands. Each returns a process exit code; __main__ parses arguments and owns signals."""

from __future__ import annotations

import asyncio
import csv
import getpass
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from dialer.ami.connection import AmiAuthError
from dialer.app import Runtime, clock_for, open_runtime, resolve_ami, run_core, stop_core, web_server
from dialer.core import appointments, recalls
from dialer.core.csvfile import CsvError, formula_safe, formula_safe_row, read_csv
from dialer.core.errors import ConfigError, DialerError
from dialer.core.passwords import WeakPassword, hash_password, new_token, token_digest
from dialer.core.records import DaySummary, ReminderStatus
from dialer.core.sms import SmsStatus
from dialer.core.staff import ALL_CLINICS, AuditAction, UserExists
from dialer.engine.daily import DailyJob, run_daily
from dialer.engine.importing import ImportOutcome, import_appointments, import_recalls
from dialer.engine.loops import forever
from dialer.engine.reports import sla_report
from dialer.personal_data import daily_purge
from dialer.settings import Settings
from dialer.settings.safety import check_start
from dialer.storage.repository import Storage
from dialer.web.access import ROLES

log = logging.getLogger("dialer")

EXIT_OK, EXIT_ROWS_FAILED, EXIT_ERROR = 0, 1, 2


async def import_appointments_file(settings: Settings, path: Path, out: TextIO) -> int:
    def run(storage: Storage, rows: list[tuple[int, dict[str, str]]]) -> Awaitable[ImportOutcome]:
        return import_appointments(rows, settings=settings, store=storage.appointments, now=_now(settings))

    return await _import_file(
        settings, path, out, appointments.HEADER_ALIASES, appointments.missing_columns, run, "appointments"
    )


async def import_recalls_file(settings: Settings, path: Path, out: TextIO) -> int:
    def run(storage: Storage, rows: list[tuple[int, dict[str, str]]]) -> Awaitable[ImportOutcome]:
        return import_recalls(rows, settings=settings, store=storage.recalls, now=_now(settings))

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
        await storage.audit.record(cli_actor(), AuditAction.IMPORT, clinic, detail, _now(settings))
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
        await storage.audit.record(cli_actor(), AuditAction.EXPORT, clinic or "*", detail, _now(settings))
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
        await storage.audit.record(cli_actor(), AuditAction.EXPORT, clinic or "*", detail, _now(settings))
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


def progress_line(s: DaySummary) -> str:
    st = s.statuses
    reached = sum(st.get(k, 0) for k in ("confirmed", "cancelled", "to_admin", "reached_unconfirmed"))
    sent = sum(s.sms.get(k, 0) for k in ("queued", "sending", "sent", "delivered", "undelivered"))
    return (
        f"к обзвону {s.active_targets} · звоним {s.in_flight} · дозвонились {reached} · "
        f"подтвердили {st.get('confirmed', 0)} · отменили {st.get('cancelled', 0)} · "
        f"SMS отправлено {sent} / доставлено {s.sms.get('delivered', 0)}"
    )


def summary_table(day: date, s: DaySummary) -> str:
    lines = [f"Итог напоминаний на {day.isoformat()}:", f"  {'статус':<40}{'записей':>8}"]
    for status in ReminderStatus:
        count = s.statuses.get(status.value, 0)
        if count:
            lines.append(f"  {status.label:<40}{count:>8}")
    lines.append(f"  {'всего':<40}{s.total:>8}")
    calls = s.attempts.get("ended", 0)
    lines.append(f"  звонков сделано: {calls}")
    sms = ", ".join(f"{SmsStatus(k).label} {v}" for k, v in sorted(s.sms.items())) or "нет"
    lines.append(f"  SMS: {sms}")
    return "\n".join(lines) + "\n"


async def run_campaign(
    settings: Settings, day: date, *, until_done: bool, sms_wait: float, out: TextIO, stop: asyncio.Event
) -> int:
    _check_start(settings, listening=bool(settings.service.public_url))
    settings = resolve_ami(settings, out)
    async with open_runtime(settings) as rt, asyncio.TaskGroup() as group:
        tasks = await run_core(rt, group)
        try:
            async with _maybe_web(rt):
                count = await rt.reminders.prepare_day(day)
                out.write(f"Напоминания на {day.isoformat()}: {count} записей в работе\n")
                await follow_day(rt, day, until_done=until_done, sms_wait=sms_wait, out=out, stop=stop)
        finally:
            await stop_core(rt, tasks)
        summary = await rt.storage.reminders.day_summary(day)
    out.write(summary_table(day, summary))
    return EXIT_OK


def _maybe_web(rt: Runtime) -> AbstractAsyncContextManager[object]:
    # Delivery reports can only reach a foreground run that listens; without a public URL we poll instead.
    return web_server(rt) if rt.settings.service.public_url else nullcontext()


async def follow_day(
    rt: Runtime, day: date, *, until_done: bool, sms_wait: float, out: TextIO, stop: asyncio.Event
) -> None:
    tty = out.isatty()
    last = ""
    sms_deadline: float | None = None
    while not stop.is_set():
        summary = await rt.storage.reminders.day_summary(day)
        line = progress_line(summary)
        if line != last:
            out.write(("\r" + line + "\x1b[K") if tty else line + "\n")
            out.flush()
            last = line
        plan_done = summary.active_targets == 0 and summary.in_flight == 0 and rt.desk.in_flight == 0
        if until_done and plan_done:
            unsettled = await rt.sms.poll_once()
            if unsettled == 0:
                break
            sms_deadline = sms_deadline or rt.clock.monotonic() + sms_wait
            if rt.clock.monotonic() >= sms_deadline:
                out.write(f"\nОтчёты о доставке {unsettled} SMS не пришли за {sms_wait:.0f} с; завершаю.\n")
                break
        await rt.clock.sleep(0.5)
    if tty:
        out.write("\n")


async def serve(
    settings: Settings,
    out: TextIO,
    stop: asyncio.Event,
    after_start: Callable[[Runtime], Coroutine[Any, Any, None]] | None = None,
) -> int:
    _check_start(settings, listening=True)
    settings = resolve_ami(settings, out)
    async with open_runtime(settings) as rt, asyncio.TaskGroup() as group:
        tasks = await run_core(rt, group)
        tasks.append(group.create_task(_sweep(rt), name="list-builder"))
        tasks.append(group.create_task(run_daily(_daily_jobs(rt), rt.clock), name="daily-jobs"))
        try:
            async with web_server(rt):
                host, port = settings.service.listen_host, settings.service.listen_port
                out.write(
                    f"dialer работает: http://{host}:{port}/  (AMI {settings.ami.host}:{settings.ami.port})\n"
                )
                out.flush()
                if after_start is not None:
                    tasks.append(group.create_task(after_start(rt), name="after-start"))
                await stop.wait()
        finally:
            await stop_core(rt, tasks)
    return EXIT_OK


async def _sweep(rt: Runtime) -> None:
    """Lists imported while the service runs (e.g. by `dialer import` from cron) are picked up within a minute."""

    async def turn() -> None:
        await rt.prepare_due_days()
        await rt.clock.sleep(60)

    await forever("list-builder", turn, rt.clock)


def _check_start(settings: Settings, *, listening: bool) -> None:
    """No example secrets, no patients' data in cleartext to the network unless asked for (ConfigError)."""
    if check_start(settings, listening=listening):
        log.warning(
            "ВНИМАНИЕ: веб-страницы открыты на %s:%s по HTTP без шифрования (insecure_http = true): пароли и "
            'данные пациентов видны в сети. Поставьте обратный прокси с TLS и public_url = "https://…".',
            settings.service.listen_host or "*",
            settings.service.listen_port,
        )


def _daily_jobs(rt: Runtime) -> list[DailyJob]:
    """The purge of personal data, once a day at night in the (first) clinic's zone. Reminder lists need no
    daily job: the sweep builds each clinic's list within a minute of its list-build time."""
    retention = rt.settings.retention
    if not retention.enabled:
        return []
    zone = next((c.timezone for c in rt.settings.clinics.values()), ZoneInfo("UTC"))
    return [
        DailyJob(
            "retention-purge",
            retention.purge_time,
            zone,
            lambda: daily_purge(rt.storage, retention, rt.clock),
        )
    ]


def _now(settings: Settings) -> datetime:
    return clock_for(settings).now()


def cli_actor() -> str:
    """Who the audit log says ran a command: the system user, as the command line knows it."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):
        return "cli:?"


def first_known_error(exc: BaseException) -> BaseException | None:
    """Dig the error a user can act on out of a TaskGroup's exception group."""
    if isinstance(exc, (AmiAuthError, DialerError, ConfigError, OSError)):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_known_error(inner)
            if found is not None:
                return found
    return None


async def upgrade_db(settings: Settings, out: TextIO) -> int:
    storage = await Storage.open(settings.service.db_url)
    await storage.close()
    out.write(f"База данных обновлена: {settings.service.db_url_shown}\n")
    return EXIT_OK


def build_prompts(settings: Settings, out_dir: Path | None, out: TextIO) -> int:
    from dialer.prompts import prompts_command

    async def doctors() -> list[str]:
        storage = await Storage.open(settings.service.db_url)
        try:
            return await storage.appointments.doctors()
        finally:
            await storage.close()

    return prompts_command(out_dir, asyncio.run(doctors()), out)


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
            report = await sla_report(storage.sla, clinic, day, _now(settings))
            out.write(f"Уровень сервиса: {clinic.name} ({clinic.id}), {day.isoformat()}\n")
            whole = report.whole_day.as_dict()
            hours = {h: f.as_dict() for h, f in report.hours.items()}
            out.write("  " + f"{'':<34}{'день':>8}" + "".join(f"{h:>6}ч" for h in hours) + "\n")
            for key, label in SLA_ROWS:
                cells = "".join(f"{_cell(f[key]):>7}" for f in hours.values())
                out.write(f"  {label:<34}{_cell(whole[key]):>8}{cells}\n")
    finally:
        await storage.close()
    return EXIT_OK


def _cell(value: object) -> str:
    return "—" if value is None else str(value)


async def users_add(
    settings: Settings,
    *,
    username: str,
    role: str,
    name: str,
    interfaces: list[str],
    clinics: list[str],
    password: str | None,
    api_token: bool,
    out: TextIO,
) -> int:
    """Create a user; a password that was not given is made up and shown once, as is an API token."""
    if role not in ROLES:
        out.write(f"Роль: {', '.join(ROLES)}\n")
        return EXIT_ERROR
    held = user_clinics(settings, role, clinics, out)
    if held is None:
        return EXIT_ERROR
    made_up = password is None
    secret = password if password is not None else secrets.token_urlsafe(12)
    try:
        password_hash = hash_password(secret)
    except WeakPassword as err:
        out.write(f"Пароль не подходит: {err}\n")
        return EXIT_ERROR
    token = new_token() if api_token else None
    storage = await Storage.open(settings.service.db_url)
    try:
        await storage.users.add(
            username=username,
            display_name=name or username,
            role=role,
            password_hash=password_hash,
            interfaces=tuple(interfaces),
            clinics=held,
            api_token_hash=token_digest(token) if token else None,
            now=_now(settings),
        )
        detail = {"user": username, "role": role, "clinics": sorted(held), "api_token": bool(token)}
        only = next(iter(held)) if len(held) == 1 else ALL_CLINICS
        await storage.audit.record(cli_actor(), AuditAction.USER_ADD, only, detail, _now(settings))
    except UserExists:
        out.write(f"Пользователь {username!r} уже есть\n")
        return EXIT_ERROR
    finally:
        await storage.close()
    where = "все клиники" if ALL_CLINICS in held else ", ".join(sorted(held))
    out.write(f"Пользователь {username} ({role}; {where}) создан.\n")
    if made_up:
        out.write(f"Пароль (показан один раз): {secret}\n")
    if token:
        out.write(f"API-токен (показан один раз): {token}\n")
    return EXIT_OK


def user_clinics(settings: Settings, role: str, clinics: list[str], out: TextIO) -> frozenset[str] | None:
    """The clinics a new user works for. "*" is every clinic. Without --clinic: an admin gets every clinic, and
    so does anyone where only one clinic is set up; where there are several, an operator's or a supervisor's
    clinics must be named, so that nobody sees another clinic's patients by default."""
    unknown = [c for c in clinics if c != ALL_CLINICS and c not in settings.clinics]
    if unknown:
        known = ", ".join(settings.clinics) or "нет ни одной"
        out.write(f"Неизвестная клиника {unknown[0]!r} (настроены: {known})\n")
        return None
    if ALL_CLINICS in clinics:
        return frozenset({ALL_CLINICS})
    if clinics:
        return frozenset(clinics)
    if role == "admin" or len(settings.clinics) <= 1:
        return frozenset({ALL_CLINICS})
    out.write(
        "Укажите клиники пользователя: --clinic c1 (можно несколько раз), или --clinic '*' для всех клиник\n"
    )
    return None
