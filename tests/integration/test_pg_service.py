"""The service on PostgreSQL against the real Asterisk sandbox: a small reminder campaign run by
`dialer campaign run reminders --until-done` over the sandbox's PJSIP trunk to its carrier, every outcome landing
in a real PostgreSQL database, checked there and against Asterisk's own events."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.reminder_scenario import (
    EXPECTED,
    REMINDERS_UNTIL_DONE,
    campaign_config,
    scenario_phones,
    scenario_rows,
)
from tests.support import DialerHome, appointments_csv, until

# Outcomes that settle within the first window: answered and confirmed, cancelled, a wrong number, a patient
# never to be called (texted instead), a key pressed during the greeting.
KEYS = ("1", "5", "0", "dnc", "early1")

pytestmark = [pytest.mark.asterisk]


async def dialer(home: DialerHome, *args: str, env: dict[str, str], timeout: float) -> tuple[int, str]:
    process = await home.start(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode()


async def query(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(text(sql), params)]
    finally:
        await engine.dispose()


@pytest.mark.timeout(300)
async def test_a_reminder_campaign_writes_its_outcomes_to_postgresql(
    sandbox: SandboxHandle, tmp_path: Path, postgres_url: str
) -> None:
    clinic = ClinicTime.morning()
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    phones = scenario_phones(random.Random())
    env = {"DIALER_DATABASE_URL": postgres_url}
    observer = await RawAmi.connect(sandbox.host, sandbox.port)
    await observer.login(sandbox.username, sandbox.secret)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        home = DialerHome(tmp_path)
        home.write(campaign_config(sandbox, twilio, free_port(), clinic, first=(-60, 50), second=(52, 100)))
        rows = [r for r in scenario_rows(phones, tomorrow) if r["appointment_id"][1:] in KEYS]
        csv_path = tmp_path / "appointments.csv"
        csv_path.write_text(appointments_csv(rows), encoding="utf-8")
        code, out = await dialer(home, "import", "appointments", str(csv_path), env=env, timeout=60)
        assert code == 0, out
        code, out = await dialer(home, *REMINDERS_UNTIL_DONE, tomorrow, env=env, timeout=240)
        assert code == 0, out[-3000:]
        sent = list(twilio.messages)
    assert not (tmp_path / "var" / "dialer.db").exists()  # nothing went to a SQLite file beside

    stored = await query(
        postgres_url,
        "select a.appointment_id, a.reminder_status, t.target_id, "
        "(select count(*) from attempts x where x.target_id = t.target_id and x.state != 'unplaced') as calls, "
        "(select count(*) from sms_messages s where s.target_id = t.target_id) as sms "
        "from appointments a join targets t on t.subject_id = a.appointment_id",
    )
    outcomes = {r["appointment_id"][1:]: (r["reminder_status"], r["calls"], r["sms"]) for r in stored}
    assert outcomes == {key: EXPECTED[key] for key in KEYS}
    assert [m.to for m in sent] == [phones["dnc"]]

    # Asterisk's own events: one channel per attempt the database holds, none it does not.
    dialled = {
        r["attempt_id"]
        for r in await query(postgres_url, "select attempt_id from attempts where state != 'unplaced'")
    }
    await until(lambda: observer.hung_up(sorted(dialled)), "the end of every call on the observer's link")
    events = list(observer.events)
    await observer.close()
    (installation,) = await query(postgres_url, "select installation_id from installation")
    ours = [
        f["Uniqueid"]
        for _, f in events
        if f.get("Event") == "Newchannel"
        and f.get("Uniqueid", "").startswith(installation["installation_id"])
    ]
    assert sorted(ours) == sorted(dialled)
