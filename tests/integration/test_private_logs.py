"""No patient's name or unmasked phone in a log line or an error message, even when a write fails.

The database is made to refuse a write in the middle of real work: a missed call becoming a callback task, a
callback closed by the patient calling again, an import through the API and one through the command line. On
SQLite a trigger raises an error, as a full disk would; on PostgreSQL (`--db=postgresql`) a CHECK that no row
passes, whose error names the failing row, phone and name included, as PostgreSQL's constraint errors do. A
failed statement's text carries the values bound to it; none of that may reach the log.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from dialer.__main__ import QUIET_LIBRARIES, quiet_libraries
from dialer.app import Runtime, build_web_app, open_runtime
from dialer.core.clock import SystemClock
from dialer.core.inbound import InboundEnded, MissReason
from dialer.core.records import CloseReason
from dialer.settings import load_settings
from dialer.storage.repository import Storage
from dialer.storage.schema import patients
from tests.staff import add_staff
from tests.support import DialerHome, until

NAME = "Смирнова Анна Сергеевна"
PHONE = "+79161234567"
TYPED = "8 (916) 123-45-67"
HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def assert_private(text: str) -> None:
    assert text, "nothing was logged: the failure went unnoticed"
    for secret in (NAME, "Смирнова", PHONE, PHONE[1:], PHONE[2:], "916) 123"):
        assert secret not in text, f"{secret!r} in:\n{text}"


async def refuse(url: str, table: str, operation: str = "INSERT") -> None:
    """From now on the database refuses this kind of write to this table (on PostgreSQL: inserts and updates)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split(":///", 1)[1]) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse_{table}_{operation.lower()} BEFORE {operation} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
            )
        return
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))
    finally:
        await engine.dispose()


def causes(error: BaseException) -> Iterator[BaseException]:
    """The errors under `error`, nearest first."""
    seen = error.__cause__ or error.__context__
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


@pytest.fixture(autouse=True)
def service_logging() -> Iterator[None]:
    """The library log levels `dialer` sets for itself, whatever the level asked for (DEBUG here)."""
    before = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    quiet_libraries()
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> DialerHome:
    return DialerHome.one_clinic(tmp_path, database_url)


@pytest.fixture
async def rt(home: DialerHome) -> AsyncIterator[Runtime]:
    async with open_runtime(load_settings(home.config, env={})) as runtime:
        yield runtime


def missed_call(call_id: str) -> InboundEnded:
    now = SystemClock().now()
    return InboundEnded(
        call_id=call_id,
        context="clinic-inbound",
        did="74951234567",
        queue="reception",
        caller=PHONE,
        started_at=now - timedelta(seconds=40),
        ended_at=now,
        answered_at=None,
        answered_by="",
        waited=40.0,
        miss=MissReason.ABANDONED,
    )


async def wait_for_error(caplog: pytest.LogCaptureFixture) -> None:
    await until(
        lambda: any(r.levelno >= logging.ERROR for r in caplog.records), "an error logged", every=0.02
    )


async def test_a_missed_call_whose_callback_task_cannot_be_written(
    rt: Runtime, home: DialerHome, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await refuse(home.url, "callback_tasks")
    loop = asyncio.create_task(rt.inbound.run())
    try:
        rt.intake.inbound_facts.put_nowait(missed_call("1700000000.1"))
        await wait_for_error(caplog)
    finally:
        loop.cancel()
    assert "IntegrityError" in caplog.text  # the failure is still told: its kind and where
    assert_private(caplog.text)


async def test_a_callback_that_cannot_be_closed_when_the_patient_calls_again(
    rt: Runtime, home: DialerHome, caplog: pytest.LogCaptureFixture
) -> None:
    await rt.inbound.handle(missed_call("1700000000.2"))  # an open callback task for the number
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    await refuse(home.url, "callback_tasks", "UPDATE")
    loop = asyncio.create_task(rt.callbacks.run())
    try:
        rt.callbacks.contact(PHONE, CloseReason.PATIENT_CALLED_IN, SystemClock().now())
        await wait_for_error(caplog)
    finally:
        loop.cancel()
    assert_private(caplog.text)


async def test_an_api_import_that_cannot_be_written(
    rt: Runtime, home: DialerHome, caplog: pytest.LogCaptureFixture
) -> None:
    token = (
        await add_staff(rt.storage, "crm", "admin", password_hash=HASH, display_name="CRM", token=True)
    ).token
    await refuse(home.url, "patients")
    caplog.set_level(logging.DEBUG)
    row = {
        "appointment_id": "A-1",
        "clinic": "c1",
        "patient_name": NAME,
        "phone": TYPED,
        "visit_date": "2026-12-24",
        "visit_time": "10:00",
        "doctor": "Иванова М. П.",
    }
    async with TestClient(
        TestServer(build_web_app(rt)), headers={"Authorization": f"Bearer {token}"}
    ) as client:
        response = await client.post("/api/appointments", json=[row])
        body = await response.text()
    assert response.status == 500
    assert_private(caplog.text + body)


async def test_a_command_line_import_that_cannot_be_written(home: DialerHome) -> None:
    storage = await Storage.open(home.url)
    await storage.close()
    await refuse(home.url, "patients")
    path = home.root / "day.csv"
    path.write_text(
        "appointment_id,clinic,patient_name,phone,visit_date,visit_time,doctor\n"
        f'A-1,c1,{NAME},"{TYPED}",2026-12-24,10:00,Иванова\n',
        encoding="utf-8",
    )
    result = await asyncio.to_thread(home.run, "import", "appointments", str(path))
    assert result.returncode == 2
    assert "внутренняя ошибка: IntegrityError" in result.stderr
    assert_private(result.stdout + result.stderr)


async def test_a_failed_statements_own_text_carries_no_values(home: DialerHome) -> None:
    """The engine hides bound values from its errors, for whatever path might still print one."""
    storage = await Storage.open(home.url)
    try:
        await refuse(home.url, "patients")
        with pytest.raises(IntegrityError) as failed:
            async with storage.engine.begin() as conn:
                await conn.execute(
                    insert(patients).values(
                        clinic_id="c1",
                        patient_id="P-1",
                        name=NAME,
                        phone=PHONE,
                        updated_at=SystemClock().now(),
                    )
                )
    finally:
        await storage.close()
    assert "parameters hidden" in str(failed.value)
    assert_private(str(failed.value))
    if not home.url.startswith("sqlite"):
        # The driver's own error under it names the failing row, phone and all: no path may print it.
        under = [str(e) for e in causes(failed.value)]
        assert any(PHONE in text for text in under), under
