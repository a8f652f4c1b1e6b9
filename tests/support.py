"""Helpers for tests that run the real `dialer` command against the real sandbox and a real database (a SQLite
file, or PostgreSQL by URL)."""

from __future__ import annotations

import asyncio
import inspect
import os
import random
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar, overload

from sqlalchemy.engine import make_url

from tests.db_rows import Record, read_rows

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


# Only a true answer is returned, so never None.
@overload
async def until(
    check: Callable[[], Awaitable[T | None]], what: str, *, timeout: float = 10.0, every: float = 0.1
) -> T: ...
@overload
async def until(
    check: Callable[[], T | None], what: str, *, timeout: float = 10.0, every: float = 0.1
) -> T: ...
async def until(
    check: Callable[[], T | Awaitable[T | None] | None],
    what: str,
    *,
    timeout: float = 10.0,
    every: float = 0.1,
) -> T:
    """Ask `check` (a plain or a coroutine function) every `every` seconds until its answer is true, and return
    that answer; fail the test, naming `what`, when `timeout` seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = check()
        value: T | None = await answer if inspect.isawaitable(answer) else answer
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(every)


def sim_phone(last_digit: int | str, rng: random.Random | None = None) -> str:
    """A Russian mobile number, different every run (the sandbox counts calls per number per day)."""
    rng = rng or random.Random()
    middle = "".join(str(rng.randrange(10)) for _ in range(6))
    return f"+7916{middle}{last_digit}"


@dataclass
class DialerHome:
    """A folder with a dialer.toml, for running the real CLI; its database is the SQLite file under the folder
    unless `database_url` names another (then every `dialer` started from here gets it as DIALER_DATABASE_URL)."""

    root: Path
    sections: dict[str, str] = field(default_factory=dict)
    database_url: str = ""

    @property
    def config(self) -> Path:
        return self.root / "dialer.toml"

    @property
    def db(self) -> Path:
        return self.root / "var" / "dialer.db"

    @property
    def url(self) -> str:
        """The database the service started from here writes to."""
        return self.database_url or f"sqlite+aiosqlite:///{self.db}"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of a `dialer` started from here: the caller's, the database's URL, then `extra`."""
        url = {"DIALER_DATABASE_URL": self.database_url} if self.database_url else {}
        return {**os.environ, **url, **(extra or {})}

    def has_database(self) -> bool:
        """Whether there is a database to read yet: the SQLite file appears with the service's first start."""
        url = make_url(self.url)
        return url.get_backend_name() != "sqlite" or Path(url.database or "").exists()

    @classmethod
    def one_clinic(cls, root: Path, database_url: str = "") -> DialerHome:
        """A home with the `ONE_CLINIC` config written."""
        home = cls(root, database_url=database_url)
        home.write(ONE_CLINIC)
        return home

    def write(self, text: str) -> None:
        """The config; its [service] table names this home's `database_url` when it has one, so that whatever
        reads the config (the CLI, `load_settings`) opens the same database."""
        if self.database_url and "[service]\n" in text and "database_url" not in text:
            text = text.replace("[service]\n", f'[service]\ndatabase_url = "{self.database_url}"\n', 1)
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
            env=self.env(env),
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
            env=self.env(env),
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "dialer", "--config", str(self.config), *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(env),
        )

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Record]:
        """The rows `sql` (with `?` placeholders) selects from this home's database, whichever it is."""
        return read_rows(self.url, sql, params)

    def attempt_id(self, campaign: str, target: int, n: int) -> str:
        """An attempt id as this installation's service makes it (its installation id first)."""
        (row,) = self.query("select installation_id from installation")
        return f"{row['installation_id']}:{campaign}:{target}:{n}"


def ami_section(host: str, port: int, username: str, secret: str) -> str:
    return f'[ami]\nhost = "{host}"\nport = {port}\nusername = "{username}"\nsecret = "{secret}"\nping_interval = 2\n'


def visits_csv(phones: dict[str, str], visit_date: str) -> str:
    """One visit of clinic c1 at 10:30 on `visit_date` per (appointment id, phone), as `dialer import` reads it."""
    return appointments_csv(
        [
            {
                "appointment_id": key,
                "clinic": "c1",
                "patient_name": f"Пациент {key}",
                "phone": phone,
                "visit_date": visit_date,
                "visit_time": "10:30",
                "doctor": "Иванова Мария Петровна",
            }
            for key, phone in phones.items()
        ]
    )


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
