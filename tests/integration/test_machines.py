"""Reminders answered by machines, over the sandbox's carrier on the real Asterisk: `dialer campaign run reminders
--until-done` with machines handled (the default), a plan of two calls then the SMS.

A voicemail hears the message after its beep and an assistant hears it once; both calls count as «автоответчик»
(result "machine"), the plan goes on and the SMS goes out as for a patient not reached. A person who waits for the
menu and one who presses at +1 s are not machines and their keys count. A silent line is not a machine either:
someone may be listening, so the IVR plays on and the call counts as answered. On the post-visit calls, under
`dialer run`, the follow-up (machines handled by default) gives an assistant the message and the survey (not
handled) lets its IVR play.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import Frame, RawAmi
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from dialer.campaigns.reminders import clinic_prompt
from dialer.sandbox.carrier import CARRIER_USERNAME
from dialer.storage.repository import Storage
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.reminder_scenario import REMINDERS_UNTIL_DONE, run_cli
from tests.service_toml import CARRIER_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, appointments_csv, until

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]

PATIENTS = {
    # The greeting that leaves the longest quiet (1.9 s) before its beep: the message must not start in it.
    "voicemail": CarrierPatient(FarEnd.VOICEMAIL, voice=1),
    "assistant": CarrierPatient(FarEnd.ASSISTANT),
    "person": CarrierPatient(FarEnd.PERSON, key="1"),
    "early": CarrierPatient(FarEnd.EARLY_PRESSER, key="1", press_at=1),
    "silent": CarrierPatient(FarEnd.SILENT),
}
# (final status, calls, SMS, calls that were machines)
EXPECTED = {
    "voicemail": ("not_reached", 2, 1, 2),
    "assistant": ("not_reached", 2, 1, 2),
    "person": ("confirmed", 1, 0, 0),
    "early": ("confirmed", 1, 0, 0),
    "silent": ("reached_unconfirmed", 2, 0, 0),
}
BEEP_S = 0.45  # dialer/sandbox/carrier_sounds.py: the beep's length


def _config(sandbox: SandboxHandle, twilio: FakeTwilio, web_port: int, clinic: ClinicTime) -> str:
    # One call in each window; the second window opens after the longest first call (a silent line hears the
    # whole IVR, about 35 s) has ended.
    w1 = f'{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(40)}", attempts=1}}'
    w2 = f'{{start="{clinic.hhmmss(45)}", end="{clinic.hhmmss(200)}", attempts=1}}'
    return service_toml(
        sandbox,
        twilio,
        web_port,
        clinic,
        trunk_table(CARRIER_TRUNK, ring_timeout="15s"),
        clinic_entry(clinic, CARRIER_TRUNK),
        f"""
[campaigns.reminders]
windows = [{w1}, {w2}]
same_day_confirmation = false
""",
    )


def _stamp(frame: Frame) -> float:
    return float(frame["Timestamp"])


def _beeps(carrier_events: list[tuple[float, Frame]], phone: str) -> list[float]:
    """When the carrier started each beep it played to `phone` (its channel's dialled number)."""
    digits = phone.lstrip("+")
    channels = {
        f["Uniqueid"]
        for _, f in carrier_events
        if f.get("Event") == "Newchannel" and f.get("Exten", "").lstrip("+") == digits
    }
    return [
        _stamp(f)
        for _, f in carrier_events
        if f.get("Event") == "Newexten"
        and f.get("Uniqueid") in channels
        and f.get("Application") == "Playback"
        and f.get("AppData") == "carrier/beep"
    ]


@pytest.mark.timeout(600)
async def test_machines_hear_the_message_and_count_apart_people_keep_their_keys(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    serial = random.Random().randrange(9000)
    phones = {key: p.number(serial + n) for n, (key, p) in enumerate(PATIENTS.items())}
    layout = sandbox.sandbox.layout
    observer = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
    carrier = await RawAmi.logged_in(sandbox.host, layout.carrier_ami_port, CARRIER_USERNAME, sandbox.secret)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        home = DialerHome(tmp_path, database_url=database_url)
        home.write(_config(sandbox, twilio, free_port(), clinic))
        rows = [
            {
                "appointment_id": f"A-{key}",
                "clinic": "c1",
                "patient_name": f"Пациент Тестовый {n}",
                "phone": phones[key],
                "visit_date": tomorrow,
                "visit_time": "10:30",
                "doctor": "Иванова Мария Петровна",
            }
            for n, key in enumerate(PATIENTS)
        ]
        csv_path = tmp_path / "appointments.csv"
        csv_path.write_text(appointments_csv(rows), encoding="utf-8")
        code, out, err = await run_cli(home, "import", "appointments", str(csv_path), timeout=60)
        assert code == 0, out + err
        # As an installer does: the prompts, the clinic's name among them, into the sandbox's sounds.
        code, out, err = await run_cli(home, "prompts", "build", timeout=120)
        assert code == 0, out + err
        code, out, err = await run_cli(home, *REMINDERS_UNTIL_DONE, tomorrow, timeout=400)
        assert code == 0, out + err[-3000:]
        assert "из них автоответчик: 4" in out, out
        sent_sms = list(twilio.messages)
    dialled = [
        r["attempt_id"] for r in home.query("select attempt_id from attempts where state != 'unplaced'")
    ]
    await until(lambda: observer.hung_up(dialled), "the end of every call on the observer's link")
    events, carrier_events = list(observer.events), list(carrier.events)
    await observer.close()
    await carrier.close()

    targets = {
        r["appointment_id"]: r
        for r in home.query(
            "select a.appointment_id, a.reminder_status, t.target_id from appointments a "
            "join targets t on t.subject_id = a.appointment_id"
        )
    }
    for key, (status, calls, sms, machines) in EXPECTED.items():
        row = targets[f"A-{key}"]
        attempts = home.query(
            "select * from attempts where target_id = ? and state != 'unplaced' order by n",
            (row["target_id"],),
        )
        results = [a["result"] for a in attempts]
        assert row["reminder_status"] == status, f"{key}: {results}"
        assert len(attempts) == calls, f"{key}: {results}"
        assert results.count("machine") == machines, f"{key}: {results}"
        if not machines:
            assert set(results) == {"answered"}, f"{key}: {results}"
        assert sum(1 for m in sent_sms if m.to == phones[key]) == sms, key
        logged = home.query(
            "select count(*) n from attempt_events e join attempts a on a.attempt_id = e.attempt_id "
            "where e.kind = 'machine' and a.target_id = ?",
            (row["target_id"],),
        )
        assert logged[0]["n"] == machines, key

    def said(user_event: str, key: str) -> list[Frame]:
        target = str(targets[f"A-{key}"]["target_id"])
        return [
            f
            for _, f in events
            if f.get("Event") == "UserEvent"
            and f.get("UserEvent") == user_event
            and f.get("AttemptId", "").split(":")[-2] == target
        ]

    # Once per call, only to the machines, and naming the clinic by its own name.
    for key, (_status, _calls, _sms, machines) in EXPECTED.items():
        assert len(said("DialerMachineMessage", key)) == machines, key
    named = {f.get("Clinic") for key in ("voicemail", "assistant") for f in said("DialerMachineMessage", key)}
    assert named == {clinic_prompt("Клиника «Улыбка»")}
    # The voicemail's message starts after its beep has ended, every time, and not long after.
    beeps = _beeps(carrier_events, phones["voicemail"])
    messages = [_stamp(f) for f in said("DialerMachineMessage", "voicemail")]
    assert len(beeps) == len(messages) == 2, (beeps, messages)
    for beep, spoken in zip(sorted(beeps), sorted(messages), strict=True):
        assert beep + BEEP_S <= spoken <= beep + BEEP_S + 4.0, (beep, spoken)
    # The people's keys were taken by the IVR, the early one's at about +1 s.
    for key in ("person", "early"):
        assert [f["Digit"] for f in said("DialerDigit", key)] == ["1"], key

    # The SMS names the clinic and nothing medical, as for any patient not reached.
    for message in sent_sms:
        assert "Иванова" not in message.body and "Клиника «Улыбка»" in message.body

    # The day report counts the machines apart; the list of visits not reached shows them per visit.
    storage = await Storage.open(home.url, run_migrations=False)
    try:
        today = clinic.local_now()
        start = today.replace(hour=0, minute=0, second=0, microsecond=0)
        metrics = await storage.reports.day_metrics("c1", start, start + timedelta(days=1), clinic.today)
        unreached = {
            v.appointment_id: v.machines
            for v in await storage.reports.unreached("c1", clinic.today + timedelta(days=1))
        }
    finally:
        await storage.close()
    assert metrics.machines == 4
    assert unreached == {"A-voicemail": 2, "A-assistant": 2, "A-silent": 0}


@pytest.mark.timeout(300)
async def test_a_follow_up_answered_by_an_assistant_hears_the_message_the_survey_leaves_machines_alone(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    # The follow-up handles machines by default, the survey does not: the same assistant answers both.
    clinic = ClinicTime.morning()
    yesterday = (clinic.today - timedelta(days=1)).isoformat()
    phone = CarrierPatient(FarEnd.ASSISTANT, voice=2).number(random.Random().randrange(9000, 9999))
    post_visit = """
[campaigns.followup]
days_after = 1
windows = [{ start = "08:00", end = "21:00", attempts = 1 }]

[campaigns.survey]
days_after = 1
windows = [{ start = "08:00", end = "21:00", attempts = 1 }]
"""
    observer = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        port = free_port()
        home = DialerHome(tmp_path, database_url=database_url)
        home.write(_config(sandbox, twilio, port, clinic) + post_visit)
        visit = {
            "appointment_id": "V-1",
            "clinic": "c1",
            "patient_name": "Пациент Тестовый",
            "phone": phone,
            "visit_date": yesterday,
            "visit_time": "10:00",
            "doctor": "Иванова Мария Петровна",
        }
        csv_path = tmp_path / "visits.csv"
        csv_path.write_text(appointments_csv([visit]), encoding="utf-8")
        code, out, err = await run_cli(home, "import", "appointments", str(csv_path), timeout=60)
        assert code == 0, out + err
        process = await start_service(home.root, home.config)
        try:
            await wait_healthy(f"http://127.0.0.1:{port}", process, root=home.root, timeout=30)

            def ended() -> bool:
                rows = home.query(
                    "select a.state from attempts a join targets t on t.target_id = a.target_id "
                    "where t.campaign in ('followup', 'survey')"
                )
                return len(rows) == 2 and all(r["state"] == "ended" for r in rows)

            await until(ended, "the follow-up and the survey calls end", timeout=150)
        finally:
            await stop_service(process)
    events = list(observer.events)
    await observer.close()
    results = {
        r["campaign"]: (r["attempt_id"], r["result"])
        for r in home.query(
            "select t.campaign, a.attempt_id, a.result from attempts a join targets t on t.target_id = a.target_id"
        )
    }
    assert {k: v[1] for k, v in results.items()} == {"followup": "machine", "survey": "answered"}

    def user_events(name: str) -> list[str]:
        return [
            f["AttemptId"] for _, f in events if f.get("Event") == "UserEvent" and f.get("UserEvent") == name
        ]

    followup_id = results["followup"][0]
    assert user_events("DialerMachine") == [followup_id]
    assert user_events("DialerMachineMessage") == [followup_id]
