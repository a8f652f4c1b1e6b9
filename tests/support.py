"""Helpers for tests that run the real `dialer` command against the real sandbox and a real SQLite file."""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar
from zoneinfo import ZoneInfo

from dialer.core.calendar import WorkCalendar, working_morning
from dialer.core.clock import RehearsalClock

REPO = Path(__file__).resolve().parents[1]

T = TypeVar("T")
# Where a child process's output goes: a file, or asyncio.subprocess.PIPE and its kin.
Output = int | IO[Any] | None

# The smallest installation: one clinic, its data under the test's folder.
ONE_CLINIC = """
[service]
data_dir = "var"
[[clinics]]
id = "c1"
name = "Клиника"
timezone = "Europe/Moscow"
"""


async def until(
    check: Callable[[], T | Awaitable[T]], what: str, *, timeout: float = 10.0, every: float = 0.1
) -> T:
    """Ask `check` (a plain or a coroutine function) every `every` seconds until its answer is true, and return
    that answer; fail the test, naming `what`, when `timeout` seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = check()
        value: T = await answer if inspect.isawaitable(answer) else answer
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ClinicTime:
    """The clinic's clock for one test: 11:00 on a working day in the clinic's zone, whatever the host's hour.

    The service under test gets the same setting (`rehearsal()` in its TOML, or `clock()` in process), so the
    test and the service share one time line, and windows written as "now + 30 s" mean the same to both.
    """

    tz: ZoneInfo
    start: datetime  # the clinic's time when the host's clock read `host_start`
    host_start: datetime

    @classmethod
    def morning(
        cls, tz_name: str = "Europe/Moscow", at: time = time(11, 0), calendar: WorkCalendar | None = None
    ) -> ClinicTime:
        tz = ZoneInfo(tz_name)
        host = datetime.now(UTC)
        return cls(tz, working_morning(host, tz, calendar or WorkCalendar(skip_holidays=False), at), host)

    @property
    def offset(self) -> timedelta:
        return self.start - self.host_start

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def local_now(self) -> datetime:
        return self.now().astimezone(self.tz)

    @property
    def today(self) -> date:
        return self.local_now().date()

    def clock(self) -> RehearsalClock:
        return RehearsalClock(self.offset)

    def hhmmss(self, seconds: float) -> str:
        """The clinic's local time `seconds` from now, for a window or opening hours in a config."""
        return (self.local_now() + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    def rehearsal(self) -> str:
        """The config section that puts the service on this clock."""
        return (
            "[rehearsal]\n"
            f'clinic_time = "{self.start.isoformat()}"\n'
            f'at_host_time = "{self.host_start.isoformat()}"\n'
        )


def sim_phone(last_digit: int | str, rng: random.Random | None = None) -> str:
    """A Russian mobile number, different every run (the sandbox counts calls per number per day)."""
    rng = rng or random.Random()
    middle = "".join(str(rng.randrange(10)) for _ in range(6))
    return f"+7916{middle}{last_digit}"


@dataclass
class DialerHome:
    """A folder with a dialer.toml, for running the real CLI."""

    root: Path
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "dialer.toml"

    @property
    def db(self) -> Path:
        return self.root / "var" / "dialer.db"

    @classmethod
    def one_clinic(cls, root: Path) -> DialerHome:
        """A home with the `ONE_CLINIC` config written."""
        home = cls(root)
        home.write(ONE_CLINIC)
        return home

    def write(self, text: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(text, encoding="utf-8")

    def run(
        self, *args: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dialer", "--config", str(self.config), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )

    async def start(
        self, *args: str, stdout: Output = None, stderr: Output = None, env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        """`dialer` on this home's config, from its folder, as an asyncio child process."""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dialer",
            "--config",
            str(self.config),
            *args,
            cwd=self.root,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, **(env or {})},
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "dialer", "--config", str(self.config), *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            return list(conn.execute(sql, params))

    def attempt_id(self, campaign: str, target: int, n: int) -> str:
        """An attempt id as this installation's service makes it (its installation id first)."""
        (row,) = self.query("select installation_id from installation")
        return f"{row['installation_id']}:{campaign}:{target}:{n}"


def ami_section(host: str, port: int, username: str, secret: str) -> str:
    return f'[ami]\nhost = "{host}"\nport = {port}\nusername = "{username}"\nsecret = "{secret}"\nping_interval = 2\n'


def appointments_csv(rows: Sequence[dict[str, str]]) -> str:
    header = [
        "appointment_id",
        "clinic",
        "patient_name",
        "phone",
        "visit_date",
        "visit_time",
        "doctor",
        "high_value",
        "consent_call",
        "consent_sms",
        "do_not_call",
    ]
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(row.get(h, "") for h in header))
    return "\n".join(lines) + "\n"
