"""A clinic chain's database for the web benchmarks: ~3 months of rows, written straight into SQLite.

The file is migrated by the product (`Storage.open` runs Alembic to head, indexes as shipped), then filled
in the column order of dialer/storage/schema.py (every column is looked up in the schema's Table, and the text
encoding of instants, days and booleans is checked against what SQLAlchemy writes through `UtcDateTime`), in
time order as a live service would have written them. The rows are made in chunks and appended to a scratch
file as they are made (`Stage`), then written into the migrated file table by table in time order, sorted by
SQLite on disk: memory stays at the patients and the window's call instants whatever the size (10M included). Users
are created through the product's own `users.add` (scrypt hash), so they can log in through /login.

Shape of the default volume (`Volume()`), four clinics weighted 40/30/20/10 %, Europe/Moscow, 92 days
ending now (today up to the current minute; "now" is 17:00 in the clinics' zone unless a clock says otherwise),
working hours 08-20 with morning and late-afternoon peaks, Saturday at half and Sunday at 15 % of a weekday:

* attempts: exactly `attempts` rows: reminder attempts (1-3 per reminder target, on the day before the
  visit, 11-16 and 18-20) and callback attempts (1-2 per callback task);
* inbound_calls: `missed / miss_share` calls, exactly `missed` of them missed (abandoned, queue timeout,
  IVR hang-up, ...), 5 % hidden numbers, 70 % from known patients;
* callback_tasks: one per missed call with a number, closed (contacted / not reached) except the last
  half hour's, which are open with their countdown;
* recalls (KOS): `recalls` patients to call back for a control visit (Звать 40 %, Записан, Отказ);
* contacts (wrap-ups): 80 % of answered calls and every contacted callback; sms_messages for unreached
  reminders and callbacks; appointments (with attended/no-show for the past), targets, patients
  (5 % of phones shared by two patients: families), a waiting list, a diary, a few alerts.
* Not generated: attempt_events, due_tasks, sms_events, wrapups, sessions, offers, feedback, webhook_outbox
  (none of the measured reads touches them).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from bench.webdb.columns import COLUMNS, ORDER, TIME_COLUMN, statement
from bench.webdb.names import NAMES, SURNAMES
from bench.webdb.rows import Rows
from bench.webdb.volume import (
    CACHE,
    PASSWORD,
    ZONE,
    Built,
    Volume,
    check_encoding,
    clinic_ids,
    operator_interface,
    operator_name,
)
from dialer.core.clock import Clock, RehearsalClock
from dialer.core.passwords import hash_password
from dialer.storage.journal_schema import all_tables
from dialer.storage.repository import Storage


class Stage:
    """A scratch SQLite file the rows are appended to as they are made, one untyped table per generated table:
    its rowids keep the order they were made in, so `load` can write each table in time order from disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.inserts: dict[str, str] = {}
        for name, columns in COLUMNS.items():
            self.db.execute(f"CREATE TABLE {name} ({', '.join(columns)})")
            self.inserts[name] = statement(all_tables().tables[name], columns)

    def add(self, name: str, rows: list[tuple[Any, ...]]) -> None:
        self.db.executemany(self.inserts[name], rows)

    def close(self) -> None:
        self.db.commit()
        self.db.close()


def load(path: Path, stage: Path) -> dict[str, int]:
    """The staged rows into the migrated file, table by table in time order (rows of the same instant, and rows
    of tables without one, in the order they were made: what a stable sort of the whole table gave). SQLite
    sorts on disk, so no table is ever held in memory."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")  # a failed load is regenerated; no journal as large as the file
    db.execute("PRAGMA synchronous=OFF")
    # 2 GB: the indexes' out-of-order inserts (phones, targets) hit memory, not the disk
    db.execute("PRAGMA cache_size=-2000000")
    db.execute("PRAGMA threads=2")
    db.execute("ATTACH DATABASE ? AS stage", (str(stage),))
    counts: dict[str, int] = {}
    for name in ORDER:
        columns = ", ".join(COLUMNS[name])
        statement(all_tables().tables[name], COLUMNS[name])  # every column is the schema's
        order = f"COALESCE({TIME_COLUMN[name]}, ''), rowid" if name in TIME_COLUMN else "rowid"
        with db:
            cursor = db.execute(
                f"INSERT INTO main.{name} ({columns}) SELECT {columns} FROM stage.{name} ORDER BY {order}"
            )
        counts[name] = cursor.rowcount
    db.execute("DETACH DATABASE stage")
    db.execute("PRAGMA journal_mode=WAL")  # what the product's file is in
    db.close()
    return counts


async def add_users(storage: Storage, volume: Volume, now: datetime) -> list[tuple[str, int, str]]:
    """The operators (one phone each) and a supervisor, through the product's users.add; one scrypt hash."""
    password_hash = hash_password(PASSWORD)
    made = []
    names = clinic_ids(volume)
    for i in range(volume.operators):
        interface = operator_interface(i)
        user_id = await storage.users.add(
            username=operator_name(i),
            display_name=f"{SURNAMES[i % len(SURNAMES)]} {NAMES[i % len(NAMES)]}",
            role="operator",
            password_hash=password_hash,
            interfaces=(interface,),
            clinics=(names[i % len(names)],),
            api_token_hash=None,
            now=now,
        )
        made.append((operator_name(i), user_id, interface))
    await storage.users.add(
        username="boss",
        display_name="Елена Старшая",
        role="supervisor",
        password_hash=password_hash,
        interfaces=(),
        clinics=("*",),
        api_token_hash=None,
        now=now,
    )
    return made


async def migrate(path: Path) -> None:
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    await storage.close()


def generate(path: Path, volume: Volume, clock: Clock, log: Callable[[str], None] = print) -> Built:
    """The chain's database at `path`, its window ending at the clock's now."""
    check_encoding()
    now = clock.now()
    t0 = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    asyncio.run(migrate(path))
    stage = Stage(path.with_name(path.name + "-stage"))
    try:
        Rows(volume, now, sink=stage.add).build()
        stage.close()
        log(f"  rows made and staged in {time.perf_counter() - t0:.1f} s; writing {path} in time order")
        counts = load(path, stage.path)
    finally:
        stage.path.unlink(missing_ok=True)

    async def users() -> list[tuple[str, int, str]]:
        storage = await Storage.open(f"sqlite+aiosqlite:///{path}", run_migrations=False)
        try:
            return await add_users(storage, volume, now)
        finally:
            await storage.close()

    made = asyncio.run(users())
    counts["users"] = len(made) + 1
    return Built(path, volume, now, counts, time.perf_counter() - t0, made)


AFTERNOON = dtime(17, 0)


def clinic_afternoon(host_now: datetime | None = None) -> RehearsalClock:
    """A clock reading 17:00 in the clinics' zone on today's date there, then running: the chain is generated
    and read at that hour whatever the host's, so "today" always holds a working day's calls up to 17:00
    (read at the host's 04:00 in Moscow, today would be empty)."""
    today = (host_now or datetime.now(UTC)).astimezone(ZONE).date()
    return RehearsalClock.reading(datetime.combine(today, AFTERNOON, ZONE), host_now)


def clock_of(built: Built) -> RehearsalClock:
    """A clock reading the moment the chain's rows end, then running: the service as it was then."""
    return RehearsalClock.reading(built.generated_at)


def cached(
    volume: Volume,
    log: Callable[[str], None] = print,
    *,
    fresh: bool = False,
    cache: Path = CACHE,
    clock: Clock | None = None,
) -> Built:
    """The generated file for this volume and today's date (today's rows end at the time of generation)."""
    clock = clock or clinic_afternoon()
    now = clock.now().astimezone(ZONE)
    path = cache / f"web-{volume.key()}-{now.date().isoformat()}-{now:%H%M}.db"
    meta = path.with_suffix(".json")
    if not fresh and path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return Built(
            path,
            volume,
            datetime.fromisoformat(m["generated_at"]),
            m["counts"],
            m["seconds"],
            [(str(u[0]), int(u[1]), str(u[2])) for u in m["users"]],
        )
    for old in cache.glob(f"web-{volume.key()}-*"):
        old.unlink()
    log(f"generating {path.name} ...")
    built = generate(path, volume, clock, log=log)
    meta.write_text(json.dumps(built.meta(), ensure_ascii=False))
    log(f"  done in {built.seconds:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in built.counts.items()))
    return built


def copy_db(src: Path, dst: Path) -> Path:
    """A private copy to write into (the cached file stays as generated)."""
    shutil.copyfile(src, dst)
    return dst


def sample(items: Iterable[str], k: int, seed: int) -> list[str]:
    pool = list(items)
    return random.Random(seed).sample(pool, min(k, len(pool)))
