"""Conversations recorded on the real Asterisk: a patient calls the clinic, a simulated administrator answers
and talks for a known time, MixMonitor records the bridged conversation, and the running service compresses the
file into the clinic's folder with its row. The file's length (as soxi reads it) is checked against the bridged
time Asterisk reports (BridgeEnter to BridgeLeave). The administrators' line carries digital silence, so the
notice, said inside the conversation, shows as the only sound: in the recording and in what the patient heard."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.lib.carrier_numbers import TRUNK_DIAL, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from dialer.core.recording import KeptFile, RawRecording, recording_variables
from dialer.settings import RetentionSettings
from dialer.storage.recordings import SqlRecordingStore
from dialer.storage.repository import Storage
from dialer.storage.retention import purge
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.inbound_scenario import QUEUE, Service, carrier_phone, service_config
from tests.kos_scenario import kos_config, webhook_receiver
from tests.operators import add_user, api_token
from tests.service_toml import QUALITY_OFF
from tests.support import DialerHome, until

SPOOL = Path("var/spool/asterisk/monitor/dialer")  # inside the chroot: the dialplan's default
HEARD = Path("var/spool/asterisk/monitor/sim-heard")
TALK = 6  # seconds the administrator talks once they answer
DID = "100"


def _with_recording(text: str, spool: Path, *, record: bool, announce: bool) -> str:
    """The scenario's settings with the recordings spool and the clinic's [clinics.quality] switches."""
    quality = f"[clinics.quality]\nrecord = {str(record).lower()}\nannounce = {str(announce).lower()}\n"
    assert QUALITY_OFF in text
    text = text.replace("[service]\n", f'[service]\nrecordings_spool = "{spool}"\n', 1)
    return text.replace(QUALITY_OFF, quality, 1)


@contextlib.asynccontextmanager
async def recording_service(
    sandbox: SandboxHandle,
    root: Path,
    *,
    record: bool,
    announce: bool,
    extra: str = "",
    database_url: str = "",
) -> AsyncIterator[Service]:
    """`dialer run` beside the sandbox as tests/inbound_scenario.py starts it, with recording set up."""
    clinic = ClinicTime.morning()
    port = free_port()
    spool = sandbox.sandbox.layout.root / SPOOL / "done"
    async with (
        contextlib.AsyncExitStack() as links,
        FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio,
    ):
        home = DialerHome(root, database_url=database_url)
        home.write(
            _with_recording(
                service_config(sandbox, twilio, port, clinic, extra=extra, database_url=database_url),
                spool,
                record=record,
                announce=announce,
            )
        )
        ami = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
        links.push_async_callback(ami.close)
        service = Service(home, ami, sandbox, twilio, f"http://127.0.0.1:{port}", clinic)
        await service.set_global("DIALER_QUEUE_TIMEOUT", "30")
        await service.set_global("DIALER_INBOUND_QUEUE", QUEUE)
        await service.admins()
        service.process = await start_service(home.root, home.config)
        try:
            await wait_healthy(service.base, timeout=30)
            # The service has told the inbound dialplan this number's switches at its AMI login.
            (installation,) = service.home.query("select installation_id from installation")
            expected = f"c1:{int(record)}:{int(record and announce)}:{installation[0]}"
            await until(lambda: _switch(service, expected), "the DID's recording switch", timeout=15)
            yield service
        finally:
            await stop_service(service.process, grace=20)
            await service.admins()
            # Other tests call this number too: without the switch their calls are not recorded.
            await service.set_global(f"DIALER_RECORDING_{DID}", "")
            await service.set_global("SIM_VOICE_admin1", "")


async def _switch(service: Service, expected: str) -> bool:
    return await service.ami.getvar(f"DIALER_RECORDING_{DID}") == expected


async def _patient_calls(service: Service, heard: str, caller: str) -> None:
    """A patient calls the clinic's number and stays on the line, keeping what they hear in `heard`."""
    reply = await service.ami.send(
        "Originate",
        [
            ("Channel", f"Local/{DID}@clinic-inbound"),
            ("Context", "sim-listening-patient"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("CallerID", f'"Пациент" <{caller}>'),
            ("Variable", f"SIM_HEARD={heard}"),
            ("Variable", "SIM_PATIENCE=40"),
            ("Async", "true"),
        ],
    )
    assert reply.get("Response") == "Success", reply


def _bridged_seconds(service: Service, linkedid: str) -> float:
    """How long the patient and the administrator were bridged, from Asterisk's own events."""
    frames = service.ami.matching(lambda f: f.get("Linkedid") == linkedid)
    enters = [float(f["Timestamp"]) for f in frames if f.get("Event") == "BridgeEnter"]
    leaves = [float(f["Timestamp"]) for f in frames if f.get("Event") == "BridgeLeave"]
    assert enters and leaves, f"no bridge seen for {linkedid}"
    return max(leaves) - min(enters)


def _soxi_seconds(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


def _loudness(path: Path, start: float, length: float | None = None) -> float:
    """The RMS amplitude of a stretch of a recording, to its end without `length` (0 is silence, 1 full scale)."""
    stretch = [f"{start:.2f}"] + ([f"{length:.2f}"] if length is not None else [])
    out = subprocess.run(
        ["sox", str(path), "-n", "trim", *stretch, "stat"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    line = next(x for x in out.splitlines() if x.startswith("RMS     amplitude"))
    return float(line.split(":")[1])


def _greeting_seconds(sandbox: SandboxHandle) -> float:
    return _soxi_seconds(sandbox.sandbox.layout.prompts_dir / "inbound-greeting.wav")


async def _talk(service: Service, caller: str) -> str:
    """admin1 on shift with sound on the line; the patient calls and hangs up; the name of what they heard."""
    await service.set_global("SIM_VOICE_admin1", "1")
    await service.set_global("SIM_TALK_admin1", str(TALK))
    await service.add_admin("admin1", "answer")
    await service.set_global("SIM_TALK_admin1", str(TALK))
    heard = f"heard-{uuid.uuid4().hex[:12]}"
    await _patient_calls(service, heard, caller)
    return heard


def _caller() -> str:
    """A patient's number of its own for each test: the sandbox's spool may hold other calls' recordings."""
    return f"7916{uuid.uuid4().int % 10**7:07d}"


def _rows(service: Service, caller: str) -> list[Any]:
    if not service.home.has_database():
        return []
    return service.home.query("select * from recordings where phone = ? order by recording_id", (caller,))


@pytest.mark.asterisk
@pytest.mark.anyhour
async def test_an_answered_inbound_call_gives_one_recording_as_long_as_the_conversation_with_the_notice_heard(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with recording_service(
        sandbox, tmp_path, record=True, announce=True, database_url=database_url
    ) as svc:
        caller = _caller()
        heard = await _talk(svc, caller)
        rows = await until(lambda: _rows(svc, caller), "the recording's row", timeout=60, every=0.5)
        assert len(rows) == 1
        row = rows[0]
        assert (row["clinic_id"], row["kind"], row["phone"]) == ("c1", "inbound", caller)
        assert row["member"] == "Local/admin1@sandbox-agents"
        assert row["announced"] == 1
        stored = tmp_path / "var" / "recordings" / row["file_name"]
        assert stored.is_file() and stored.suffix == ".ogg"
        assert row["bytes"] == stored.stat().st_size
        seconds = _soxi_seconds(stored)
        assert abs(seconds - row["seconds"]) < 0.01
        bridged = _bridged_seconds(svc, row["call_ref"])
        assert abs(seconds - bridged) <= 1.0, (seconds, bridged)
        assert seconds >= TALK - 1
        # The raw file is gone from Asterisk's spool once stored.
        assert not list((sandbox.sandbox.layout.root / SPOOL / "done").rglob(f"*{row['call_ref']}*"))
        # The notice is in the recording: speech at its start, where the administrator's line is silent.
        assert _loudness(stored, 0.6, 1.5) > 0.02
        assert _loudness(stored, seconds - 2, 1.5) < 0.005
        # And the patient heard it: speech after the greeting, where there is silence without it.
        heard_file = sandbox.sandbox.layout.root / HEARD / f"{heard}.wav"
        await until(heard_file.is_file, "the patient's side of the call", timeout=20)
        assert _loudness(heard_file, _greeting_seconds(sandbox) + 0.8) > 0.02


@pytest.mark.asterisk
@pytest.mark.anyhour
async def test_without_the_notice_the_patient_hears_none_and_the_call_is_still_recorded(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with recording_service(
        sandbox, tmp_path, record=True, announce=False, database_url=database_url
    ) as svc:
        caller = _caller()
        heard = await _talk(svc, caller)
        rows = await until(lambda: _rows(svc, caller), "the recording's row", timeout=60, every=0.5)
        assert len(rows) == 1 and rows[0]["announced"] == 0
        assert _loudness(tmp_path / "var" / "recordings" / rows[0]["file_name"], 0.6, 1.5) < 0.005
        heard_file = sandbox.sandbox.layout.root / HEARD / f"{heard}.wav"
        await until(heard_file.is_file, "the patient's side of the call", timeout=20)
        assert _loudness(heard_file, _greeting_seconds(sandbox) + 0.8) < 0.005


@pytest.mark.asterisk
@pytest.mark.anyhour
async def test_a_clinic_that_does_not_record_leaves_no_file_and_no_row(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    done = sandbox.sandbox.layout.root / SPOOL / "done"
    before = set(done.glob("*")) if done.is_dir() else set()
    async with recording_service(
        sandbox, tmp_path, record=False, announce=True, database_url=database_url
    ) as svc:
        caller = _caller()
        await _talk(svc, caller)
        hangup = await svc.ami.wait_for(
            lambda f: f.get("Event") == "BridgeLeave" and "clinic-inbound" in f.get("Channel", ""), 40
        )
        await svc.hung_up(hangup["Uniqueid"], 10)
        await until(lambda: svc.home.query("select * from inbound_calls"), "the call in the log", timeout=20)
        await asyncio.sleep(4)
        assert svc.home.query("select * from recordings") == []
        after = set(done.glob("*")) if done.is_dir() else set()
        assert after == before


async def test_a_recording_is_kept_with_its_file_in_one_write_and_kept_again_in_the_same_row(
    database_url: str,
) -> None:
    """On a real SQLite file and a real PostgreSQL database: the row comes with its file's name, length and
    size (a page never lists one without its file); the same call kept again, after a crash before its spool
    copy was removed, is the same row."""
    storage = await Storage.open(database_url)
    try:
        store = SqlRecordingStore(storage.engine)
        started = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        raw = RawRecording("kos", "c1", "call-1", "PJSIP/101", started, False, "79161230001")
        first = await store.keep(raw, None, KeptFile(file_name="a.ogg", seconds=12.5, size=2000))
        again = await store.keep(raw, None, KeptFile(file_name="a.ogg", seconds=12.5, size=2001))
        assert again == first
        row = await store.get(first)
        assert row is not None
        assert (row.file_name, row.seconds, row.bytes) == ("a.ogg", 12.5, 2001)
        assert row.ended_at == started + timedelta(seconds=12.5)
        assert len(await store.for_day("c1", started, started + timedelta(days=1))) == 1
    finally:
        await storage.close()


async def test_the_retention_purge_deletes_old_recordings_files_and_rows_and_keeps_the_rest(
    tmp_path: Path, database_url: str
) -> None:
    """On a real SQLite file and a real PostgreSQL database: a recording a second past `[retention] recordings`
    goes, file and row; one a second inside stays; a dry run changes neither."""
    now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    policy = RetentionSettings(recordings=timedelta(days=90))
    folder = tmp_path / "recordings"
    storage = await Storage.open(database_url)
    try:
        store = SqlRecordingStore(storage.engine)
        kept: dict[str, int] = {}
        for label, started in (
            ("old", now - policy.recordings - timedelta(seconds=1)),
            ("fresh", now - policy.recordings + timedelta(seconds=1)),
        ):
            raw = RawRecording("inbound", "c1", f"call-{label}", "PJSIP/101", started, True, "79161230001")
            name = raw.stored_name(started)
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(b"OggS" + bytes(100))
            kept[label] = await store.keep(raw, None, KeptFile(file_name=str(name), seconds=5.0, size=104))
        files = sorted(folder.rglob("*.ogg"))
        dry = await purge(storage.engine, policy, now, dry_run=True, recordings_dir=folder)
        assert dry.counts.get("recordings") == 1
        assert sorted(folder.rglob("*.ogg")) == files
        assert await store.get(kept["old"]) is not None

        done = await purge(storage.engine, policy, now, recordings_dir=folder)
        assert (done.counts["recordings"], done.counts["recording_files"]) == (1, 1)
        assert await store.get(kept["old"]) is None
        fresh = await store.get(kept["fresh"])
        assert fresh is not None and (folder / fresh.file_name).is_file()
        assert [p.name for p in folder.rglob("*.ogg")] == [Path(fresh.file_name).name]
    finally:
        await storage.close()


@pytest.mark.asterisk
@pytest.mark.anyhour
async def test_a_callback_answered_by_the_patient_is_recorded_as_long_as_the_conversation(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.PERSON, random.Random())  # answers when the clinic calls back
    async with recording_service(
        sandbox, tmp_path, record=True, announce=True, database_url=database_url
    ) as svc:
        await svc.call_in(DID, phone, patience=1)  # nobody on shift: a missed call, a callback task
        await svc.until(svc.tasks, 20, "a callback task")
        await svc.set_global("SIM_VOICE_admin1", "1")
        await svc.add_admin("admin1", "answer")
        await svc.set_global("SIM_TALK_admin1", "12")
        digits = phone.lstrip("+")
        rows = await until(lambda: _rows(svc, digits), "the callback's recording", timeout=60, every=0.5)
        assert len(rows) == 1
        row = rows[0]
        assert (row["kind"], row["member"], row["announced"]) == (
            "callback",
            "Local/admin1@sandbox-agents",
            1,
        )
        attempt = svc.home.query("select attempt_id from attempts where leg_status = 'ANSWER'")[0]
        assert row["call_ref"] == attempt["attempt_id"]
        seconds = _soxi_seconds(tmp_path / "var" / "recordings" / row["file_name"])
        bridged = _bridged_seconds(svc, row["call_ref"])
        assert abs(seconds - bridged) <= 1.0, (seconds, bridged)
        assert seconds > 3


@pytest.mark.asterisk
@pytest.mark.anyhour
async def test_a_kos_call_is_recorded_under_the_administrator_who_took_it(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.PERSON, random.Random())
    async with (
        webhook_receiver(fail_first=0) as receiver,
        recording_service(
            sandbox,
            tmp_path,
            record=True,
            announce=False,
            extra=kos_config(receiver.port),
            database_url=database_url,
        ) as svc,
    ):
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents", clinics=["c1"])
        (anna,) = svc.home.query("select user_id from users where username = 'anna'")
        token = api_token(svc)
        await svc.set_global("SIM_VOICE_admin1", "1")
        await svc.add_admin("admin1", "answer")
        await svc.set_global("SIM_TALK_admin1", "8")
        recall = {
            "recall_id": "K-1",
            "clinic": "c1",
            "patient_name": "Пациент",
            "phone": phone,
            "doctor": "Петрова Анна Викторовна",
            "comment": "Контроль",
            "target_date": svc.clinic.today.isoformat(),
        }
        reply = await _post(svc, token, "/api/kos", [recall])
        assert reply[0] == 200, reply
        digits = phone.lstrip("+")
        rows = await until(lambda: _rows(svc, digits), "the KOS call's recording", timeout=90, every=0.5)
        assert len(rows) == 1
        row = rows[0]
        assert (row["kind"], row["user_id"], row["announced"]) == ("kos", anna["user_id"], 0)
        seconds = _soxi_seconds(tmp_path / "var" / "recordings" / row["file_name"])
        bridged = _bridged_seconds(svc, row["call_ref"])
        assert abs(seconds - bridged) <= 1.0, (seconds, bridged)
        assert seconds > 3


async def _post(svc: Service, token: str, path: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(
            f"{svc.base}{path}", data=json.dumps(body), headers={"Content-Type": "application/json"}
        ) as r,
    ):
        return r.status, await r.text()


@pytest.mark.asterisk
@pytest.mark.anyhour
async def test_a_reminder_patient_who_presses_3_is_recorded_with_the_administrator(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """The reminder IVR's «3» puts the patient in the queue; the conversation with whoever answers is recorded,
    with the switches the service's Originate carries (recording_variables)."""
    phone = carrier_phone(FarEnd.EARLY_PRESSER, random.Random(), "3")  # presses 3, hangs up 6 s later
    async with recording_service(
        sandbox, tmp_path, record=True, announce=True, database_url=database_url
    ) as svc:
        await svc.set_global("SIM_VOICE_admin1", "1")
        await svc.add_admin("admin1", "answer")
        await svc.set_global("SIM_TALK_admin1", "20")
        ours = svc.home.attempt_id("reminders", 998, 1)
        switches = recording_variables("c1", "reminders", phone, record=True, announce=True)
        reply = await svc.ami.send(
            "Originate",
            [
                ("Channel", TRUNK_DIAL.format(number=phone.lstrip("+"))),
                ("Context", "dialer-reminder"),
                ("Exten", "s"),
                ("Priority", "1"),
                ("Async", "true"),
                ("ChannelId", ours),
                ("Variable", f"DIALER_ATTEMPT={ours}"),
                ("Variable", f"DIALER_QUEUE={QUEUE}"),
                *(("Variable", f"{k}={v}") for k, v in switches.items()),
            ],
        )
        assert reply.get("Response") == "Success", reply
        digits = phone.lstrip("+")
        rows = await until(lambda: _rows(svc, digits), "the reminder call's recording", timeout=60, every=0.5)
        assert len(rows) == 1
        row = rows[0]
        assert (row["kind"], row["call_ref"], row["announced"]) == ("reminder", ours, 1)
        seconds = _soxi_seconds(tmp_path / "var" / "recordings" / row["file_name"])
        bridged = _bridged_seconds(svc, ours)
        assert abs(seconds - bridged) <= 1.0, (seconds, bridged)
