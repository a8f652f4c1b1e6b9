"""The progressive mode: the real service dials the recalls and hands the answered patients to the queue."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.kos.world import (
    ADMINS,
    PASSWORD,
    Lines,
    ModeRun,
    Patient,
    Registry,
    Scale,
    is_patient_start,
)
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import (
    free_port,
    service_env,
    service_head,
    start_service,
    stop_service,
    wait_healthy,
)
from dialer.sandbox.sandbox import AmiCredentials


def service_config(
    creds: AmiCredentials, scale: Scale, port: int, clinic: ClinicTime, args: argparse.Namespace, dial: str
) -> str:
    return f"""{service_head(clinic, port, creds)}
[trunks.sim]
dial = "{dial}"
max_channels = {args.max_channels}
calls_per_second = 10
ring_timeout = "{round(scale.ring_timeout_wall * 1000)}ms"

[[clinics]]
id = "c1"
name = "Клиника «Улыбка»"
timezone = "{clinic.tz.key}"
phone = "+7 495 123-45-67"
trunk = "sim"
queues = ["{args.queue}"]
hours = []
skip_holidays = false

# A single clinic adopts every inbound call it sees: point it at a context nobody dials, so that other tests'
# callers on the shared sandbox never become callbacks here (they would take the administrators).
[inbound]
contexts = ["bench-progressive-none"]
staff_contexts = []

[campaigns.kos]
calls = 1
moves = 3
gap = "7d"
pacing = "{args.pacing}"
lookahead = "{args.lookahead}s"
ratio = {args.ratio}
wait_for_admin = "{args.wait_for_admin}s"
drop_cap = {args.drop_cap}
per_day = 1000
window = {{ start = "08:00", end = "21:00", min_gap = "3s" }}

[sms]
provider = "none"
"""


@dataclass
class Home:
    root: Path
    port: int

    @property
    def config(self) -> Path:
        return self.root / "dialer.toml"

    @property
    def db(self) -> Path:
        return self.root / "var" / "dialer.db"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "dialer", "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            env=service_env(),
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dialer {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def active_targets(self) -> int:
        with contextlib.closing(sqlite3.connect(self.db, timeout=2)) as conn:
            row = conn.execute("select count(*) from targets where state = 'active'").fetchone()
        return int(row[0])


def offset_target_ids(home: Home) -> None:
    """Start the service's target ids at a random high number: its attempt ids (`kos:<target>:1`, also the
    channels' uniqueids) must not equal those of a test's service on the same sandbox, or Asterisk refuses the
    second channel and each service follows the other's call. One placeholder row, in no campaign of the
    product's, long finished; SQLite numbers the next rows after it."""
    base = random.randrange(100_000, 900_000)
    with contextlib.closing(sqlite3.connect(home.db, timeout=10)) as conn, conn:
        conn.execute(
            "insert into targets (target_id, clinic_id, campaign, subject_id, patient_id, phone, state,"
            " created_at, updated_at) values (?, 'c1', 'bench-offset', 'offset', '', '', 'done', ?, ?)",
            (base, "2000-01-01 00:00:00.000000", "2000-01-01 00:00:00.000000"),
        )


def add_users(home: Home) -> str:
    """The administrators as operators with their phones (so pop-ups and wrap-up forms are made as in
    production), and a token for the clinic's system. Returns the token."""
    for i, admin in enumerate(ADMINS):
        home.cli(
            "users", "add", f"op{i + 1}", "--role", "operator", "--name", f"Администратор {i + 1}",
            "--phone", f"Local/{admin}@sandbox-agents", "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
    out = home.cli("users", "add", "crm", "--role", "admin", "--api-token")
    return out.split("API-токен (показан один раз): ")[1].split()[0]


def recall_rows(patients: list[Patient], today: str) -> list[dict[str, str]]:
    return [
        {
            "recall_id": f"K-{p.n:04d}",  # zero-padded: the service calls in recall_id order, as the list goes
            "clinic": "c1",
            "patient_name": f"Пациент {p.n}",
            "phone": p.phone,
            "doctor": "Петрова Анна Викторовна",
            "comment": "Контроль пломбы через полгода",
            "target_date": today,
        }
        for p in patients
    ]


async def post_recalls(home: Home, token: str, rows: list[dict[str, str]]) -> None:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(f"{home.base}/api/kos", json=rows) as r,
    ):
        reply = await r.json()
        if r.status != 200 or reply.get("imported") != len(rows):
            raise RuntimeError(f"POST /api/kos: {r.status} {reply}")


async def run_progressive(
    ami: RawAmi,
    creds: AmiCredentials,
    scale: Scale,
    patients: list[Patient],
    args: argparse.Namespace,
    registry: Registry,
) -> ModeRun:
    """`registry` is shared with the bench's Talks: both need to know whose call a trunk channel is."""
    started = time.time()
    clinic = ClinicTime.morning()
    today = clinic.today.isoformat()
    lines = Lines(patients, registry)
    ami.listeners.append(lines.on_event)
    with tempfile.TemporaryDirectory(prefix="bench-progressive-") as tmp:
        home = Home(Path(tmp), free_port())
        registry.db = home.db
        config = service_config(creds, scale, home.port, clinic, args, args.dial)
        home.config.write_text(config, encoding="utf-8")
        process = await start_service(home.root, home.config)
        try:
            await wait_healthy(home.base, process, root=home.root)
            await asyncio.to_thread(offset_target_ids, home)
            token = await asyncio.to_thread(add_users, home)
            sys.stderr.write(f"progressive: posting {len(patients)} recalls to the service...\n")
            posted = time.time()
            await post_recalls(home, token, recall_rows(patients, today))
            deadline = time.monotonic() + args.timeout
            while not lines.all_done:
                # Also over when the service has nothing left to dial (a call that never got a channel).
                if not lines.open and lines.dialled and await asyncio.to_thread(home.active_targets) == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"progressive: {len(lines.dialled)} of {len(patients)} dialled in time"
                    )
                await asyncio.sleep(0.5)
            ended = time.time()
            await asyncio.sleep(1.0)
            log = (home.root / "service.log").read_text(encoding="utf-8", errors="replace")
        finally:
            await stop_service(process)
            ami.listeners.remove(lines.on_event)
    first_dial = min(
        (float(f.get("Timestamp", t)) for t, f in ami.events if is_patient_start(f, registry)),
        default=posted,
    )
    notes = {
        "posted": posted,
        "log_drops": log.count("dropped: nobody free"),
        "log_hung_up_waiting": log.count("hung up while waiting for an administrator"),
        "log_errors": [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line][:20],
        "service_log": log,
        "channel_ids": dict(registry.by_id),
    }
    return ModeRun("progressive", patients, first_dial, started, ended, notes)
