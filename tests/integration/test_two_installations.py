"""Two installations, each with its own database, on ONE Asterisk: both run the day's reminders at once with the
same numbering of targets and attempts, and each records exactly its own patients' calls.

A second case gives the second installation a copy of the first one's installation id (a database copied for a
staging server): its first Originate then reuses the id of the first installation's live call, Asterisk refuses
it, and the refusal is recorded as that attempt's failure while the first installation still records its own
call as it was."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port
from dialer.storage.repository import Storage
from dialer.storage.schema import installation as installation_table
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.reminder_scenario import REMINDERS_UNTIL_DONE, campaign_config, run_cli
from tests.support import DialerHome, appointments_csv, until

pytestmark = pytest.mark.asterisk

CONFIRMS = CarrierPatient(FarEnd.PERSON, key="1")
CANCELS = CarrierPatient(FarEnd.PERSON, key="2", voice=1)
STATUS = {"1": "confirmed", "2": "cancelled"}
RUN_LIMIT_S = 90.0
Frames = list[tuple[float, dict[str, str]]]


def serials(rng: random.Random) -> Iterator[int]:
    """Carrier serials, new each run and never two alike: a far end is told apart by its number."""
    return iter(rng.sample(range(10000), 20))


def rows(patients: list[CarrierPatient], numbers: Iterator[int], day: str) -> list[dict[str, str]]:
    return [
        {
            "appointment_id": f"A{n}",
            "clinic": "c1",
            "patient_name": f"Пациент Тестовый {n}",
            "phone": patient.number(next(numbers)),
            "visit_date": day,
            "visit_time": "10:30",
            "doctor": "Иванова Мария Петровна",
        }
        for n, patient in enumerate(patients, start=1)
    ]


async def installation(
    root: Path,
    sandbox: SandboxHandle,
    twilio: FakeTwilio,
    clinic: ClinicTime,
    appointments: list[dict[str, str]],
    database_url: str,
    installation_id: str | None = None,
) -> DialerHome:
    """A home with its own database and the day's appointments in it; `installation_id` forces the id a copy of
    another installation's database would carry."""
    home = DialerHome(root, database_url=database_url)
    if installation_id is not None:
        await given_installation_id(home.url, installation_id)
    home.write(campaign_config(sandbox, twilio, free_port(), clinic, first=(-60, 60), second=(62, 110)))
    (root / "a.csv").write_text(appointments_csv(appointments), encoding="utf-8")
    code, out, err = await run_cli(home, "import", "appointments", str(root / "a.csv"), timeout=60)
    assert code == 0, out + err
    return home


async def given_installation_id(url: str, installation_id: str) -> None:
    """The database made (migrated) with this installation id already in it, as in a copy of another's."""
    storage = await Storage.open(url)
    try:
        async with storage.engine.begin() as conn:
            await conn.execute(
                insert(installation_table).values(
                    slot=1, installation_id=installation_id, created_at=datetime.now(UTC)
                )
            )
    finally:
        await storage.close()


async def run_reminders(home: DialerHome, day: str) -> asyncio.subprocess.Process:
    return await home.start(
        *REMINDERS_UNTIL_DONE, day, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def finished(process: asyncio.subprocess.Process) -> str:
    out, err = await asyncio.wait_for(process.communicate(), RUN_LIMIT_S)
    assert process.returncode == 0, (out + err).decode()[-3000:]
    return out.decode()


def statuses(home: DialerHome) -> dict[str, str]:
    return {
        r["appointment_id"]: r["reminder_status"]
        for r in home.query("select appointment_id, reminder_status from appointments")
    }


def channels_made(events: Frames, attempt_id: str) -> int:
    """How many channels Asterisk made with this Uniqueid (the patient's call, not the Local ;2 half)."""
    return sum(1 for _, f in events if f.get("Event") == "Newchannel" and f.get("Uniqueid") == attempt_id)


def asterisk_talk_s(events: Frames, attempt_id: str) -> float:
    """From the answer to the hangup of the call with this Uniqueid, by Asterisk's own timestamps."""
    up = [
        float(f["Timestamp"])
        for _, f in events
        if f.get("Event") == "Newstate"
        and f.get("Uniqueid") == attempt_id
        and f.get("ChannelStateDesc") == "Up"
    ]
    down = [
        float(f["Timestamp"])
        for _, f in events
        if f.get("Event") == "Hangup" and f.get("Uniqueid") == attempt_id
    ]
    assert up and len(down) == 1, f"{attempt_id}: up {up}, hangups {down}"
    return down[0] - up[0]


def stored_talk_s(home: DialerHome, attempt_id: str) -> float:
    (row,) = home.query("select answered_at, ended_at from attempts where attempt_id = ?", (attempt_id,))
    return (
        datetime.fromisoformat(row["ended_at"]) - datetime.fromisoformat(row["answered_at"])
    ).total_seconds()


async def observed(sandbox: SandboxHandle) -> RawAmi:
    observer = await RawAmi.connect(sandbox.host, sandbox.port)
    await observer.login(sandbox.username, sandbox.secret)
    return observer


# Both runs together took about 30 s on a loaded two-core machine.
@pytest.mark.timeout(240)
async def test_two_installations_dial_at_once_and_each_records_only_its_own_calls(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    clinic = ClinicTime.morning()
    day = (clinic.today + timedelta(days=1)).isoformat()
    numbers = serials(random.Random())
    # The same target numbers and attempt numbers in both databases, with opposite answers: an outcome taken
    # from the other installation's call would show as the wrong status.
    patients = {"a": [CONFIRMS, CANCELS, CONFIRMS], "b": [CANCELS, CONFIRMS, CANCELS]}
    lists = {name: rows(them, numbers, day) for name, them in patients.items()}
    observer = await observed(sandbox)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        urls = {"a": database_url, "b": second_database_url}
        homes = {
            name: await installation(tmp_path / name, sandbox, twilio, clinic, appointments, urls[name])
            for name, appointments in lists.items()
        }
        started = time.monotonic()
        runs = [await run_reminders(home, day) for home in homes.values()]
        await asyncio.gather(*(finished(run) for run in runs))
        took = time.monotonic() - started
    ids = {name: home.query("select installation_id from installation")[0][0] for name, home in homes.items()}
    assert ids["a"] != ids["b"], ids
    placed = {
        name: [r["attempt_id"] for r in home.query("select attempt_id from attempts where state = 'ended'")]
        for name, home in homes.items()
    }
    await until(lambda: observer.hung_up([*placed["a"], *placed["b"]]), "every call's end on the observer")
    events = list(observer.events)
    await observer.close()

    for name, home in homes.items():
        expected = {f"A{n}": STATUS[p.key] for n, p in enumerate(patients[name], start=1)}
        assert statuses(home) == expected, f"installation {name}"
        # One call per patient, each answered: none was refused for an id the other installation had up.
        results = [r["result"] for r in home.query("select result from attempts order by attempt_id")]
        assert results == ["answered"] * len(patients[name]), f"installation {name}: {results}"
        assert len(placed[name]) == len(patients[name])
        for attempt_id in placed[name]:
            assert channels_made(events, attempt_id) == 1, (
                f"{attempt_id} placed {channels_made(events, attempt_id)}x"
            )
            talk, stored = asterisk_talk_s(events, attempt_id), stored_talk_s(home, attempt_id)
            assert abs(talk - stored) < 1.0, f"{attempt_id}: Asterisk {talk:.2f} s, stored {stored:.2f} s"
            assert attempt_id.startswith(f"{ids[name]}:reminders:"), attempt_id
        # Nothing of the other installation's calls got into this database, not even as an event.
        other = ids["b" if name == "a" else "a"]
        foreign = home.query("select attempt_id from attempt_events where attempt_id like ?", (f"{other}:%",))
        assert foreign == [], f"installation {name} logged the other's calls: {foreign}"
    # Both numbered their targets and attempts alike: the PBX told them apart only by the installation id.
    assert {a.split(":", 1)[1] for a in placed["a"]} & {b.split(":", 1)[1] for b in placed["b"]}
    assert took < RUN_LIMIT_S


# About 30 s: the first installation's call, and the second one's next call after the refused one.
@pytest.mark.timeout(240)
async def test_an_originate_refused_for_an_id_in_use_fails_that_attempt_and_leaves_the_live_call_to_its_owner(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str, second_database_url: str
) -> None:
    clinic = ClinicTime.morning()
    day = (clinic.today + timedelta(days=1)).isoformat()
    numbers = serials(random.Random())
    shared_id = f"{random.randrange(16**8):08x}"
    observer = await observed(sandbox)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        first = await installation(
            tmp_path / "a", sandbox, twilio, clinic, rows([CONFIRMS], numbers, day), database_url, shared_id
        )
        copy = await installation(
            tmp_path / "b",
            sandbox,
            twilio,
            clinic,
            rows([CANCELS], numbers, day),
            second_database_url,
            shared_id,
        )
        busy_id = first.attempt_id("reminders", 1, 1)
        assert copy.attempt_id("reminders", 1, 1) == busy_id
        first_run = await run_reminders(first, day)
        # The copy starts once the first installation's call is up on the PBX, so its first Originate meets it.
        await observer.wait_for(
            lambda f: f.get("Event") == "Newchannel" and f.get("Uniqueid") == busy_id, RUN_LIMIT_S
        )
        copy_run = await run_reminders(copy, day)
        await asyncio.gather(finished(first_run), finished(copy_run))
    await until(lambda: observer.hung_up([busy_id]), "the first installation's call's end on the observer")
    events = list(observer.events)
    await observer.close()

    # Asterisk made one channel with that id: the first installation's.
    assert channels_made(events, busy_id) == 1
    refusals = [
        f for _, f in events if f.get("Event") == "OriginateResponse" and f.get("Uniqueid") == busy_id
    ]
    assert [f.get("Response") for f in refusals].count("Failure") == 1, refusals

    # The first installation recorded its own call: answered, the patient's 1, the timings of its channel.
    assert statuses(first) == {"A1": "confirmed"}
    (own,) = first.query("select state, result, digit from attempts where attempt_id = ?", (busy_id,))
    assert (own["state"], own["result"], own["digit"]) == ("ended", "answered", "1")
    talk, stored = asterisk_talk_s(events, busy_id), stored_talk_s(first, busy_id)
    assert abs(talk - stored) < 1.0, f"Asterisk {talk:.2f} s, stored {stored:.2f} s"

    # The copy's attempt with that id failed, refused, without the other's answer or key; its plan went on
    # with a call of its own, under the next id, and reached its own patient.
    refused, *later = copy.query(
        "select attempt_id, state, result, digit, answered_at from attempts order by n"
    )
    assert refused["attempt_id"] == busy_id
    assert (refused["state"], refused["result"], refused["digit"], refused["answered_at"]) == (
        "ended",
        "failed",
        None,
        None,
    )
    (detail,) = copy.query(
        "select detail from attempt_events where attempt_id = ? and kind = 'ended'", (busy_id,)
    )
    assert "refused by Asterisk" in detail["detail"], detail["detail"]
    assert [r["attempt_id"] for r in later] == [copy.attempt_id("reminders", 1, 2)], later
    assert channels_made(events, later[0]["attempt_id"]) == 1
    assert statuses(copy) == {"A1": "cancelled"}
