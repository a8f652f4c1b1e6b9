"""`dialer db copy-from-sqlite`: an installation's SQLite file, filled through the product, moved into a real
PostgreSQL with every row of every table, its integer keys continuing after the copied ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from dialer.storage import journal_schema
from dialer.storage.copying import copy_database
from dialer.storage.installation import installation_id
from dialer.storage.repository import Storage
from tests.people_db import Db, Person, add_target, fill
from tests.staff import add_staff
from tests.support import DialerHome

pytestmark = pytest.mark.pg

AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
PEOPLE = [
    Person("X", "+79161234567", "Смирнова Анна Сергеевна"),
    Person("Y", "+79031112233", "Кузнецов Игорь Петрович", clinic="c2"),
]


async def everything(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in an order both databases agree on."""
    storage = await Storage.open(url)
    try:
        db = Db(storage.engine)
        tables = journal_schema.all_tables().sorted_tables
        return {t.name: sorted((tuple(r.values()) for r in await db.rows(t)), key=repr) for t in tables}
    finally:
        await storage.close()


async def seed(file: Path) -> str:
    storage = await Storage.open(f"sqlite+aiosqlite:///{file}")
    try:
        for person in PEOPLE:
            await fill(Db(storage.engine), person, AT)
        await add_staff(storage, "admin1", "admin", token=True, display_name="Администратор", now=AT)
        return await installation_id(storage.engine, AT)
    finally:
        await storage.close()


def counts(stdout: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in stdout.splitlines() if line.startswith("  "))}


def test_an_installation_moves_to_postgresql_with_every_row(tmp_path: Path, postgres_url: str) -> None:
    home = DialerHome.one_clinic(tmp_path)
    file = tmp_path / "old.db"
    made = asyncio.run(seed(file))
    env = {"DIALER_DATABASE_URL": postgres_url}

    done = home.run("db", "copy-from-sqlite", str(file), env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    source, target = (
        asyncio.run(everything(f"sqlite+aiosqlite:///{file}")),
        asyncio.run(everything(postgres_url)),
    )
    assert target == source
    printed = counts(done.stdout)
    assert printed == {name: len(rows) for name, rows in source.items()}
    assert printed["patients"] == 2 and printed["attempts"] >= 2 and printed["users"] == 1
    assert "+7916" not in done.stdout + done.stderr  # the copy reports counts, never what it copied

    async def after() -> tuple[str, int, int]:
        storage = await Storage.open(postgres_url)
        try:
            # A new row after the copy takes the next key rather than colliding with a copied one.
            new = await add_target(Db(storage.engine), PEOPLE[0], "reminders", "APPT-NEW", AT)
            return await installation_id(storage.engine, AT), new, max(r[0] for r in target["targets"])
        finally:
            await storage.close()

    same_installation, new_key, highest = asyncio.run(after())
    assert same_installation == made and new_key > highest


def test_a_database_in_use_is_refused_unless_forced(tmp_path: Path, postgres_url: str) -> None:
    home = DialerHome.one_clinic(tmp_path)
    file = tmp_path / "old.db"
    asyncio.run(seed(file))
    env = {"DIALER_DATABASE_URL": postgres_url}
    assert home.run("db", "copy-from-sqlite", str(file), env=env).returncode == 0

    again = home.run("db", "copy-from-sqlite", str(file), env=env)
    forced = home.run("db", "copy-from-sqlite", str(file), "--force", env=env)
    to_sqlite = home.run("db", "copy-from-sqlite", str(file))
    missing = home.run("db", "copy-from-sqlite", str(tmp_path / "nothing.db"), env=env)

    assert again.returncode == 2 and "уже есть данные (admin_tasks 2," in again.stderr, again.stderr
    assert "--force" in again.stderr and not counts(again.stdout)
    assert forced.returncode == 0 and counts(forced.stdout)["patients"] == 2, forced.stderr
    assert to_sqlite.returncode == 2 and "PostgreSQL" in to_sqlite.stderr
    assert missing.returncode == 2 and "нет файла" in missing.stderr
    assert asyncio.run(everything(postgres_url)) == asyncio.run(everything(f"sqlite+aiosqlite:///{file}"))


async def test_rows_go_over_in_batches_and_a_failed_copy_leaves_the_target_as_it_was(
    tmp_path: Path, postgres_url: str
) -> None:
    file = tmp_path / "old.db"
    await seed(file)
    source, target = await Storage.open(f"sqlite+aiosqlite:///{file}"), await Storage.open(postgres_url)
    try:
        copied = await copy_database(source.engine, target.engine, batch=3)  # several batches for most tables
        assert {c.table: c.target_rows for c in copied}["attempts"] > 3
        assert all(c.ok for c in copied)
        # A row the target cannot take (a state the schema refuses) fails the copy: nothing of it is kept.
        async with source.engine.begin() as conn:
            await conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            await conn.exec_driver_sql(
                "UPDATE attempts SET state = 'lost' WHERE rowid = (SELECT max(rowid) FROM attempts)"
            )
        before = await everything(postgres_url)
        with pytest.raises(IntegrityError):
            await copy_database(source.engine, target.engine, force=True, batch=3)
        assert await everything(postgres_url) == before
    finally:
        await source.close()
        await target.close()
