"""A clinic chain's database for the web benchmarks: ~3 months of rows, written straight into SQLite.

The file is migrated by the product (`Storage.open` runs Alembic to head, indexes as shipped), then filled
with plain `sqlite3.executemany` in the column order of dialer/storage/schema.py (every column is looked up
in the schema's Table, and the text encoding of instants, days and booleans is checked against what
SQLAlchemy writes through `UtcDateTime`), in time order as a live service would have written them. Users
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


def load(path: Path, rows: Rows) -> dict[str, int]:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    counts: dict[str, int] = {}
    with db:
        for name in ORDER:
            data = rows.tables[name]
            if name in TIME_COLUMN:
                i = COLUMNS[name].index(TIME_COLUMN[name])
                data.sort(key=lambda r, i=i: r[i] or "")  # type: ignore[misc]
            db.executemany(statement(all_tables().tables[name], COLUMNS[name]), data)
            counts[name] = len(data)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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
    rows = Rows(volume, now)
    rows.build()
    log(f"  rows made in {time.perf_counter() - t0:.1f} s; writing {path}")
    counts = load(path, rows)
    del rows

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
