"""`dialer run` and `dialer campaign run`: the service, or one day's reminders, in the foreground."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import date
from typing import Any, TextIO

from dialer.app import Runtime, open_runtime, run_core, stop_core, web_server
from dialer.app.nodes import Standby, run_every_node
from dialer.cli.exits import EXIT_OK
from dialer.core.records import DaySummary, ReminderStatus
from dialer.core.sms import SmsStatus
from dialer.environment import resolve_ami
from dialer.settings import Settings
from dialer.settings.safety import check_start

log = logging.getLogger("dialer")


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
    if s.machines:
        lines.append(f"  из них автоответчик: {s.machines}")
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
    asked_at: float | None = None
    async with open_runtime(settings) as rt, asyncio.TaskGroup() as group:
        # Every node serves the pages; the one that holds the dialing lease also dials (dialer/app/nodes.py).
        standby = Standby(rt, group, also_lead=[rt.day_jobs.run])
        tasks = [*run_every_node(rt, group), group.create_task(standby.run(), name="standby")]
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
                asked_at = rt.clock.monotonic()
                log.info("stopping: closing the pages, the link to Asterisk and the loops")
        finally:
            await stop_core(rt, tasks + standby.leader_tasks)
        clock = rt.clock
    # Its length in the log: a stop that nears the service manager's grace shows before it is killed.
    if asked_at is not None:
        log.info("stopped in %.1f s", clock.monotonic() - asked_at)
    return EXIT_OK


def _check_start(settings: Settings, *, listening: bool) -> None:
    """No example secrets, no patients' data in cleartext to the network unless asked for (ConfigError)."""
    if check_start(settings, listening=listening):
        log.warning(
            "ВНИМАНИЕ: веб-страницы открыты на %s:%s по HTTP без шифрования (insecure_http = true): пароли и "
            'данные пациентов видны в сети. Поставьте обратный прокси с TLS и public_url = "https://…".',
            settings.service.listen_host or "*",
            settings.service.listen_port,
        )
