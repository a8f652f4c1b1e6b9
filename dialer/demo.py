"""`dialer run` with no settings: the product doing its main job in front of the user, in about two minutes.

It brings up the Asterisk sandbox, starts the local Twilio-compatible SMS server, loads a sample clinic day
(config/sample/appointments.csv, moved to tomorrow), compresses the calling plan to "now", and runs the
service. The calls, the patients' answers and the SMS fallback show up as they happen; the service keeps
running afterwards with its API on http://127.0.0.1:8080/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from dialer.app import Runtime
from dialer.campaigns.plan import window_rule
from dialer.cli import exits, service
from dialer.core.appointments import HEADER_ALIASES
from dialer.core.calendar import working_morning
from dialer.core.clock import SystemClock
from dialer.core.csvfile import read_csv
from dialer.core.errors import DialerError, PeerFailed
from dialer.engine.importing import import_appointments
from dialer.sandbox.process import port_is_free
from dialer.settings import RehearsalSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config" / "demo.toml"
SAMPLE = ROOT / "config" / "sample" / "appointments.csv"
FAKE_TWILIO_PORT = 8765

log = logging.getLogger("dialer.demo")


def compressed_settings(base: Settings, host_now: datetime) -> Settings:
    """Two calls a minute apart, then one more in a second window, then SMS: the customer's plan, shrunk.

    The clinic keeps its own zone; the service's clock is set to 11:00 there on a working day, so the demo
    plays the same at any hour and in any host zone.
    """
    clinic = base.clinic("demo")
    morning = working_morning(host_now, clinic.timezone, clinic.calendar)
    local = morning.astimezone(clinic.timezone)

    def at(seconds: int) -> str:
        return (local + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    windows = (
        window_rule({"start": at(-60), "end": at(50), "attempts": 2, "min_gap": "20s"}, "demo"),
        window_rule({"start": at(55), "end": at(150), "attempts": 1}, "demo"),
    )
    rehearsal = RehearsalSettings(clinic_time=morning, at_host_time=host_now)
    return replace(base.with_reminder_windows(windows), rehearsal=rehearsal)


def sample_rows(tomorrow: str) -> list[tuple[int, dict[str, str]]]:
    table = read_csv(SAMPLE.read_bytes(), HEADER_ALIASES)
    return [(n, {**row, "visit_date": tomorrow}) for n, row in table.rows]


class DemoError(PeerFailed):
    """The demonstration cannot start; the message says what went wrong and what to do."""


@contextlib.asynccontextmanager
async def fake_sms_server(out: TextIO) -> AsyncIterator[bool]:
    """The test suite's Twilio-compatible server, when this is a source checkout; else SMS are skipped."""
    if not (ROOT / "tests" / "fakes" / "twilio_server.py").exists():
        out.write("Тестовый SMS-сервер не найден (нет папки tests/): SMS в демонстрации не отправляются.\n")
        yield False
        return
    if not port_is_free(FAKE_TWILIO_PORT):
        raise DemoError(_port_taken(FAKE_TWILIO_PORT, "тестового SMS-сервера"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.twilio_server",
        "--port",
        str(FAKE_TWILIO_PORT),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = await asyncio.wait_for(process.stdout.readline(), 15) if process.stdout else b""
        if not ready:
            raise DemoError(
                "тестовый SMS-сервер не запустился; проверьте, что `scripts/setup` прошёл без ошибок"
            )
        out.write(f"SMS уходят на локальный тестовый сервер Twilio: {ready.decode().strip()}\n")
        yield True
    finally:
        process.terminate()
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            await asyncio.wait_for(process.wait(), 5)


def _port_taken(port: int, what: str) -> str:
    return (
        f"порт {port} для {what} занят другой программой; остановите её "
        f"(`ss -ltnp 'sport = :{port}'` покажет, какая) и запустите демонстрацию снова"
    )


async def run_demo(out: TextIO, stop: asyncio.Event) -> int:
    """The demonstration; a failure at any point is one line saying what to do, never a traceback."""
    try:
        return await _run_demo(out, stop)
    except Exception as err:
        known = exits.first_known_error(err)
        if isinstance(known, DialerError):
            raise known from None
        if known is not None:
            raise DemoError(f"демонстрация остановилась: {known}") from None
        log.debug("the demonstration failed", exc_info=True)
        raise DemoError(
            f"демонстрация остановилась из-за внутренней ошибки ({type(err).__name__}: {err}); "
            "подробности: dialer run --log-level DEBUG"
        ) from err


async def _run_demo(out: TextIO, stop: asyncio.Event) -> int:
    base = load_settings(DEMO_CONFIG, env={k: v for k, v in os.environ.items() if k == "DIALER_AMI_PORT"})
    if not port_is_free(base.service.listen_port, base.service.listen_host):
        raise DemoError(_port_taken(base.service.listen_port, "веб-страниц сервиса"))
    shutil.rmtree(base.service.data_dir, ignore_errors=True)  # every demo starts from a clean day
    out.write(
        "Демонстрация dialer: песочница Asterisk, пример дня клиники, сжатый по времени план обзвона.\n"
    )
    async with fake_sms_server(out):
        settings = compressed_settings(base, SystemClock().now())
        clinic = settings.clinic("demo")
        if settings.rehearsal.clinic_time is not None:
            local = settings.rehearsal.clinic_time.astimezone(clinic.timezone)
            out.write(
                f"Часы демонстрации переведены на {local:%d.%m.%Y %H:%M} ({clinic.timezone.key}), "
                "рабочее утро клиники, — на компьютере может быть любое время.\n"
            )
        return await service.serve(settings, out, stop, after_start=lambda rt: _play(rt, out, stop))


async def _play(rt: Runtime, out: TextIO, stop: asyncio.Event) -> None:
    clinic = rt.settings.clinic("demo")
    tomorrow = (rt.clock.now().astimezone(clinic.timezone) + timedelta(days=1)).date()
    outcome = await import_appointments(
        sample_rows(tomorrow.isoformat()),
        settings=rt.settings,
        store=rt.storage.appointments,
        now=rt.clock.now(),
    )
    out.write(
        f"Загружен пример: {outcome.created} записей на {tomorrow.isoformat()} "
        f"({len(outcome.errors)} с ошибками)\n"
    )
    _build_doctor_prompts(await rt.storage.appointments.doctors(tomorrow), out)
    await rt.reminders.prepare_day(tomorrow)
    rt.worker.wake()
    await service.follow_day(rt, tomorrow, until_done=True, sms_wait=60, out=out, stop=stop)
    out.write(service.summary_table(tomorrow, await rt.storage.reminders.day_summary(tomorrow)))
    out.write(
        "Демонстрация закончена; сервис продолжает работать (Ctrl+C — остановить).\n"
        f"Результаты: dialer --config {DEMO_CONFIG} export outcomes --date {tomorrow.isoformat()}\n"
    )
    out.flush()


def _build_doctor_prompts(doctors: list[str], out: TextIO) -> None:
    from dialer.prompts import PromptError, build_prompts
    from dialer.sandbox import sandbox_prompts_dir

    target = sandbox_prompts_dir()
    if target is None:
        return
    try:
        build_prompts(target, doctors)
    except PromptError as err:
        out.write(f"Имена врачей не озвучены: {err}\n")
