"""`dialer run` with no settings: the product doing its main job in front of the user, in about two minutes.

It brings up the Asterisk sandbox, starts the local Twilio-compatible SMS server, loads a sample clinic day
(config/sample/appointments.csv, moved to tomorrow), compresses the calling plan to "now", and runs the
service. The calls, the patients' answers and the SMS fallback show up as they happen; the service keeps
running afterwards with its API on http://127.0.0.1:8080/.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from dialer import cli
from dialer.app import Runtime
from dialer.campaigns.plan import window_rule
from dialer.core.appointments import HEADER_ALIASES
from dialer.core.calendar import zone_in_daytime
from dialer.core.csvfile import read_csv
from dialer.engine.importing import import_appointments
from dialer.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "config" / "demo.toml"
SAMPLE = ROOT / "config" / "sample" / "appointments.csv"
FAKE_TWILIO_PORT = 8765
DEMO_SPAN = timedelta(minutes=10)


def compressed_settings(base: Settings, now: datetime) -> Settings:
    """Two calls a minute apart, then one more in a second window, then SMS: the customer's plan, shrunk.

    The demo clinic moves to a Russian zone where it is daytime now, so the demo works at any hour.
    """
    clinic = base.clinic("demo")
    tz = clinic.timezone if _daytime(now, clinic.timezone) else zone_in_daytime(now, DEMO_SPAN)
    local = now.astimezone(tz)

    def at(seconds: int) -> str:
        return (local + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    windows = (
        window_rule({"start": at(-60), "end": at(50), "attempts": 2, "min_gap": "20s"}, "demo"),
        window_rule({"start": at(55), "end": at(150), "attempts": 1}, "demo"),
    )
    clinics = {**base.clinics, "demo": replace(clinic, timezone=tz)}
    return replace(base.with_reminder_windows(windows), clinics=clinics)


def _daytime(now: datetime, tz: ZoneInfo) -> bool:
    local, later = now.astimezone(tz), (now + DEMO_SPAN).astimezone(tz)
    return local.hour >= 9 and later.hour < 21 and later.date() == local.date()


def sample_rows(tomorrow: str) -> list[tuple[int, dict[str, str]]]:
    table = read_csv(SAMPLE.read_bytes(), HEADER_ALIASES)
    return [(n, {**row, "visit_date": tomorrow}) for n, row in table.rows]


@contextlib.asynccontextmanager
async def fake_sms_server(out: TextIO) -> AsyncIterator[bool]:
    """The test suite's Twilio-compatible server, when this is a source checkout; else SMS are skipped."""
    if not (ROOT / "tests" / "fakes" / "twilio_server.py").exists():
        out.write("Тестовый SMS-сервер не найден (нет папки tests/): SMS в демонстрации не отправляются.\n")
        yield False
        return
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.twilio_server",
        "--port",
        str(FAKE_TWILIO_PORT),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    try:
        assert process.stdout is not None
        ready = await asyncio.wait_for(process.stdout.readline(), 15)
        out.write(f"SMS уходят на локальный тестовый сервер Twilio: {ready.decode().strip()}\n")
        yield True
    finally:
        process.terminate()
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            await asyncio.wait_for(process.wait(), 5)


async def run_demo(out: TextIO, stop: asyncio.Event) -> int:
    base = load_settings(DEMO_CONFIG, env={k: v for k, v in os.environ.items() if k == "DIALER_AMI_PORT"})
    shutil.rmtree(base.service.data_dir, ignore_errors=True)  # every demo starts from a clean day
    out.write(
        "Демонстрация dialer: песочница Asterisk, пример дня клиники, сжатый по времени план обзвона.\n"
    )
    async with fake_sms_server(out):
        settings = compressed_settings(base, datetime.now().astimezone())
        return await cli.serve(settings, out, stop, after_start=lambda rt: _play(rt, out, stop))


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
    await cli.follow_day(rt, tomorrow, until_done=True, sms_wait=60, out=out, stop=stop)
    out.write(cli.summary_table(tomorrow, await rt.storage.reminders.day_summary(tomorrow)))
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
