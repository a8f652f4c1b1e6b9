"""`dialer campaign run` killed with SIGKILL mid-campaign, twice, and started again: the campaign finishes,
no attempt is dialled twice, no SMS is sent twice, no outcome is lost; on SQLite and (the PostgreSQL tier) on
PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.reminder_scenario import (
    EXPECTED,
    REMINDERS_UNTIL_DONE,
    campaign_config,
    run_cli,
    scenario_phones,
    scenario_rows,
)
from tests.service_toml import CARRIER_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, appointments_csv, until

pytestmark = pytest.mark.asterisk


async def start_run(home: DialerHome, day: str) -> asyncio.subprocess.Process:
    return await home.start(
        *REMINDERS_UNTIL_DONE, day, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


async def kill_when(process: asyncio.subprocess.Process, home: DialerHome, sql: str, timeout: float) -> bool:
    """SIGKILL the run as soon as the query returns a row; False if it never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.returncode is None:
        if home.has_database() and home.query(sql):
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
            return True
        await asyncio.sleep(0.05)
    return False


async def one_patient_home(
    sandbox: SandboxHandle,
    twilio: FakeTwilio,
    home: DialerHome,
    clinic: ClinicTime,
    phone: str,
    *,
    ring_timeout: str,
    window: str,
) -> str:
    """One clinic on the carrier's trunk and one reminder patient imported; returns the visit's date."""
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    home.write(
        service_toml(
            sandbox,
            twilio,
            free_port(),
            clinic,
            trunk_table(CARRIER_TRUNK, ring_timeout=ring_timeout),
            clinic_entry(clinic, CARRIER_TRUNK),
            f"[campaigns.reminders]\nwindows = [{window}]\nsame_day_confirmation = false\n",
        )
    )
    row = {
        "appointment_id": "A1",
        "clinic": "c1",
        "patient_name": "Пациент Тестовый",
        "phone": phone,
        "visit_date": tomorrow,
        "visit_time": "10:30",
        "doctor": "Иванова Мария Петровна",
    }
    (home.root / "a.csv").write_text(appointments_csv([row]), encoding="utf-8")
    code, out, err = await run_cli(home, "import", "appointments", str(home.root / "a.csv"), timeout=60)
    assert code == 0, out + err
    return tomorrow


async def killed_while_dialing(home: DialerHome, day: str) -> str:
    """Start a run and SIGKILL it as soon as its one call is dialling; returns that call's attempt id."""
    run = await start_run(home, day)
    assert await kill_when(run, home, "select 1 from attempts where state = 'dialing'", timeout=60)
    (attempt,) = [r["attempt_id"] for r in home.query("select attempt_id from attempts")]
    return str(attempt)


# Three runs with their own limits of 60, 150 and 300 s; the whole took 99 s on a loaded two-core machine.
@pytest.mark.timeout(900)
async def test_sigkill_mid_campaign_loses_nothing_and_repeats_nothing(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    phones = scenario_phones(random.Random())
    observer = await RawAmi.connect(sandbox.host, sandbox.port)
    await observer.login(sandbox.username, sandbox.secret)
    async with FakeTwilio(
        DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05, undelivered_suffix=phones["3"][-8:]
    ) as twilio:
        home = DialerHome(tmp_path, database_url=database_url)
        home.write(campaign_config(sandbox, twilio, free_port(), clinic, first=(-60, 60), second=(62, 110)))
        (tmp_path / "a.csv").write_text(
            appointments_csv(scenario_rows(phones, tomorrow)),
            encoding="utf-8",
        )
        code, out, err = await run_cli(home, "import", "appointments", str(tmp_path / "a.csv"), timeout=60)
        assert code == 0, out + err

        # Every run below reads the same dialer.toml, so each restarted process gets the same [rehearsal]
        # section: its clock reads the clinic's time line where the killed one left it.
        # Kill 1: while calls are in the air.
        first = await start_run(home, tomorrow)
        assert await kill_when(
            first,
            home,
            "select 1 from attempts where state in ('dialing', 'answered') group by 1 having count(*) >= 3",
            timeout=60,
        )
        # Kill 2: as soon as the first SMS is written, i.e. while it is being handed to the gateway.
        second = await start_run(home, tomorrow)
        killed_in_sms = await kill_when(second, home, "select 1 from sms_messages", timeout=150)
        if killed_in_sms:
            code, out, err = await run_cli(home, *REMINDERS_UNTIL_DONE, tomorrow, timeout=300)
            assert code == 0, out + err[-3000:]
        else:
            assert await second.wait() == 0
        sent = list(twilio.messages)
    dialled = [r["attempt_id"] for r in home.query("select attempt_id from attempts where state = 'ended'")]
    await until(lambda: observer.hung_up(dialled), "the end of every call on the observer's link")
    events = list(observer.events)
    await observer.close()
    assert killed_in_sms, "the second kill never happened: the scenario did not reach its SMS stage"

    targets = {
        r["subject_id"]: r["target_id"] for r in home.query("select subject_id, target_id from targets")
    }
    for digit, (status, calls, sms) in EXPECTED.items():
        target = targets[f"A{digit}"]
        (appt,) = home.query(
            "select reminder_status from appointments where appointment_id = ?", (f"A{digit}",)
        )
        assert appt["reminder_status"] == status, f"patient {digit}"
        rows = home.query(
            "select attempt_id, state, result, reason, cause, settled from attempts where target_id = ?",
            (target,),
        )
        assert all(r["state"] in ("ended", "unplaced") for r in rows), (
            f"patient {digit}: {[dict(r) for r in rows]}"
        )
        placed = [r["attempt_id"] for r in rows if r["state"] == "ended"]
        assert len(placed) == calls, f"patient {digit}: {[dict(r) for r in rows]}"
        seen = [
            f["Uniqueid"]
            for _, f in events
            if f.get("Event") == "Newchannel"
            and f.get("Uniqueid", "").startswith(home.attempt_id("reminders", target, 0)[:-1])
            and not f["Uniqueid"].endswith(";2")
        ]
        assert len(seen) == len(set(seen)), f"patient {digit}: an attempt was dialled twice: {seen}"
        assert sorted(seen) == sorted(placed), f"patient {digit}: Asterisk {seen} vs storage {placed}"
        assert sum(1 for m in sent if m.to == phones[digit]) == sms, f"patient {digit}: SMS sent {sms} times?"

    # The append-only log kept a record of every call through both kills.
    for row in home.query("select attempt_id, state from attempts"):
        kinds = [
            e["kind"]
            for e in home.query("select kind from attempt_events where attempt_id = ?", (row["attempt_id"],))
        ]
        assert kinds.count("originate") == 1, (row["attempt_id"], kinds)
        assert kinds.count("ended" if row["state"] == "ended" else "unplaced") == 1, (
            row["attempt_id"],
            kinds,
        )


@pytest.mark.timeout(300)
async def test_a_call_still_ringing_at_the_kill_that_rings_out_after_the_restart_is_no_answer(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """The restarted run takes over the call its dead predecessor placed. Asterisk's answer to that Originate
    (Reason 3: the clinic's ring timeout) goes to every manager session: without it, the 480 Asterisk puts on
    the hangup reads as «абонент недоступен», and the patient's next call waits an hour."""
    clinic = ClinicTime.morning()
    phone = CarrierPatient(FarEnd.RINGS_OUT).number(random.randrange(10000))
    observer = await RawAmi.connect(sandbox.host, sandbox.port)
    await observer.login(sandbox.username, sandbox.secret)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        home = DialerHome(tmp_path, database_url=database_url)
        tomorrow = await one_patient_home(
            sandbox,
            twilio,
            home,
            clinic,
            phone,
            # Long enough for a killed run to be back before Asterisk gives up ringing.
            ring_timeout="25s",
            window=f'{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(600)}", attempts=1}}',
        )
        attempt = await killed_while_dialing(home, tomorrow)
        restarted_at = time.time()
        second = await start_run(home, tomorrow)
        await until(lambda: home.query(ENDED, (attempt,)), "the adopted call's end in storage", timeout=90)
        second.send_signal(signal.SIGTERM)
        await second.wait()
    rang_out = [
        (at, f) for at, f in observer.events if f.get("Event") == "Hangup" and f.get("Uniqueid") == attempt
    ]
    await observer.close()
    assert rang_out and rang_out[0][0] > restarted_at, (
        "the call ended before the restart: nothing was taken over"
    )
    assert rang_out[0][1].get("TechCause") == "480"  # what Asterisk's own give-up looks like on the hangup
    (ended,) = home.query(ENDED, (attempt,))
    assert ended["result"] == "no_answer", dict(ended)


@pytest.mark.timeout(300)
async def test_a_switched_off_phone_whose_call_ended_while_no_run_was_up_is_unavailable_after_the_restart(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """Nobody heard the carrier's 480: the call ended between the kill and the restart. The restarted run knows
    it from the dialplan's hangup record alone, whose Q.850 cause (19) a phone nobody answers has too; taken for
    «не берёт трубку», the patient would be called again within seconds instead of in an hour."""
    clinic = ClinicTime.morning()
    phone = CarrierPatient(FarEnd.SWITCHED_OFF).number(random.randrange(10000))
    observer = await RawAmi.connect(sandbox.host, sandbox.port)
    await observer.login(sandbox.username, sandbox.secret)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        home = DialerHome(tmp_path, database_url=database_url)
        tomorrow = await one_patient_home(
            sandbox,
            twilio,
            home,
            clinic,
            phone,
            ring_timeout="8s",
            window=f'{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(600)}", attempts=2, min_gap="3s"}}',
        )
        attempt = await killed_while_dialing(home, tomorrow)
        await until(lambda: observer.hung_up([attempt]), "the carrier's refusal, with no run up", timeout=30)
        # An hour's wait runs past the window: the run ends with the patient texted.
        second = await start_run(home, tomorrow)
        assert await asyncio.wait_for(second.wait(), timeout=120) == 0
        texted = [m for m in twilio.messages if m.to == phone]
    (refusal,) = observer.matching(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == attempt)
    await observer.close()
    assert refusal.get("TechCause") == "480"
    (ended,) = home.query(ENDED, (attempt,))
    assert ended["result"] == "unavailable", dict(ended)
    assert [r["attempt_id"] for r in home.query("select attempt_id from attempts")] == [attempt]
    assert len(texted) == 1


ENDED = "select result, reason, cause from attempts where attempt_id = ? and state = 'ended'"
