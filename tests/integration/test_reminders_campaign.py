"""One far end per behaviour, run through `dialer campaign run reminders --until-done` on the real Asterisk
sandbox, over its PJSIP trunk to the carrier (every SIP outcome, people, early pressers, a silent answer), with a
time-compressed plan, SMS through the official Twilio client to the local fake.

The outcome is asserted twice: from the service's database (a SQLite file, or PostgreSQL) and from Asterisk's own
events, read by an independent AMI connection.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.reminder_scenario import (
    EXPECTED,
    REMINDERS_UNTIL_DONE,
    RESULTS,
    campaign_config,
    run_cli,
    scenario_phones,
    scenario_rows,
)
from tests.support import DialerHome, appointments_csv, until

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]


# The campaign alone may take 400 s (its own limit below); it took 95 s on a loaded two-core machine.
@pytest.mark.timeout(900)
async def test_every_behaviour_gets_exactly_the_plan(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    rng = random.Random()
    phones = scenario_phones(rng)
    observer = await RawAmi.connect(sandbox.host, sandbox.port)
    await observer.login(sandbox.username, sandbox.secret)
    async with FakeTwilio(
        DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05, undelivered_suffix=phones["3"][-8:]
    ) as twilio:
        home = DialerHome(tmp_path, database_url=database_url)
        home.write(campaign_config(sandbox, twilio, free_port(), clinic, first=(-60, 50), second=(52, 100)))
        csv_path = tmp_path / "appointments.csv"
        csv_path.write_text(
            appointments_csv(scenario_rows(phones, tomorrow)),
            encoding="utf-8",
        )
        code, out, err = await run_cli(home, "import", "appointments", str(csv_path), timeout=60)
        assert code == 0, out + err
        code, out, err = await run_cli(home, *REMINDERS_UNTIL_DONE, tomorrow, timeout=400)
        assert code == 0, out + err[-3000:]
        sent_sms = list(twilio.messages)
    dialled = [
        r["attempt_id"] for r in home.query("select attempt_id from attempts where state != 'unplaced'")
    ]
    await until(lambda: observer.hung_up(dialled), "the end of every call on the observer's link")
    events = list(observer.events)
    await observer.close()
    # Each call's hangup record in AstDB, written for a service that loses its link mid-call, is deleted
    # once the call is stored: none is left behind to grow Asterisk's database.
    left = sandbox.rx("database show dialer")
    assert not [a for a in dialled if f"/dialer/{a} " in left], left[-2000:]

    # From the service's storage.
    rows = {
        r["appointment_id"]: r
        for r in home.query(
            "select a.appointment_id, a.reminder_status, t.target_id from appointments a "
            "join targets t on t.subject_id = a.appointment_id"
        )
    }
    for digit, (status, calls, sms) in EXPECTED.items():
        row = rows[f"A{digit}"]
        assert row["reminder_status"] == status, f"patient {digit}"
        attempts = home.query(
            "select * from attempts where target_id = ? and state != 'unplaced'", (row["target_id"],)
        )
        assert len(attempts) == calls, f"patient {digit}: {[dict(a) for a in attempts]}"
        stored_sms = home.query("select * from sms_messages where target_id = ?", (row["target_id"],))
        assert len(stored_sms) == sms, f"patient {digit}"
        assert sum(1 for m in sent_sms if m.to == phones[digit]) == sms, f"patient {digit} SMS at the gateway"

    # What the network said of each call, as the service classified it, and the SIP response in the call's log.
    for key, results in RESULTS.items():
        stored = home.query(
            "select result from attempts where target_id = ? and state != 'unplaced' order by n",
            (rows[f"A{key}"]["target_id"],),
        )
        assert [r["result"] for r in stored] == results, f"patient {key}"
    details = {
        r["appointment_id"]: r["detail"]
        for r in home.query(
            "select a.subject_id as appointment_id, e.detail from attempt_events e "
            "join attempts t on t.attempt_id = e.attempt_id join targets a on a.target_id = t.target_id "
            "where e.kind = 'ended'"
        )
    }
    assert details["Aoff"] == "unavailable, SIP 480"
    assert details["A0"] == "invalid_number, SIP 404"
    assert details["A2"] == "busy, SIP 486"
    assert details["A4"] == "congestion, SIP 503"
    # The clinic's own ring timeout: Asterisk's 480 of its own making is no answer, not a switched-off phone.
    assert details["A3"] == "no_answer, SIP 480"

    # From Asterisk's own events: one first-leg channel per attempt, never more.
    for digit, (_status, calls, _sms) in EXPECTED.items():
        target = rows[f"A{digit}"]["target_id"]
        ids = {home.attempt_id("reminders", target, n) for n in range(1, 10)}
        channels = [f for _, f in events if f.get("Event") == "Newchannel" and f.get("Uniqueid") in ids]
        assert len(channels) == calls, f"patient {digit}: Asterisk saw {len(channels)} calls"
        assert len({f["Uniqueid"] for f in channels}) == calls, f"patient {digit}: an attempt dialled twice"

    digits = {
        (f["AttemptId"], f["Digit"])
        for _, f in events
        if f.get("Event") == "UserEvent" and f.get("UserEvent") == "DialerDigit"
    }
    pressed = {a.split(":")[-2]: d for a, d in digits}
    assert pressed[str(rows["A1"]["target_id"])] == "1"
    assert pressed[str(rows["A5"]["target_id"])] == "2"
    assert pressed[str(rows["A6"]["target_id"])] == "3"
    assert pressed[str(rows["A8"]["target_id"])] == "9"

    # Keys pressed before the menu reached the service, and each patient pressed once.
    assert pressed[str(rows["Aearly1"]["target_id"])] == "1"
    assert pressed[str(rows["Aearly2gone"]["target_id"])] == "2"
    assert pressed[str(rows["Aquick12"]["target_id"])] == "1"
    # The second key of "12" is in the call's log, with the one taken.
    ignored = home.query(
        "select e.digit, e.detail from attempt_events e join attempts a on a.attempt_id = e.attempt_id "
        "where e.kind = 'digit_ignored' and a.target_id = ?",
        (rows["Aquick12"]["target_id"],),
    )
    assert [(e["digit"], e["detail"]) for e in ignored] == [("2", "taken 1")]
    assert len(home.query("select 1 from attempt_events where kind = 'digit_ignored'")) == 1

    # The patient who cancelled gets a follow-up for the administrators; the unknown number too.
    tasks = {(t["kind"], t["subject_id"]) for t in home.query("select kind, subject_id from admin_tasks")}
    assert ("reschedule", "A5") in tasks
    # Also the one who cancelled during the greeting and hung up at once.
    assert ("reschedule", "Aearly2gone") in tasks
    assert ("check_phone", "A0") in tasks

    # Delivered SMS are tracked to the end; nothing medical in them.
    sms_status = {r["phone"]: r["status"] for r in home.query("select phone, status from sms_messages")}
    # Patient 3's phone is one the gateway cannot deliver to: that status is tracked too.
    assert sms_status == {
        phones[k]: "undelivered" if k == "3" else "delivered" for k in ("2", "3", "4", "off", "dnc")
    }
    for message in sent_sms:
        assert "Иванова" not in message.body and "врач" not in message.body
        assert "Клиника «Улыбка»" in message.body

    # The export shows one row per appointment with the same facts.
    code, out, _ = await run_cli(
        home, "export", "outcomes", "--date", tomorrow, "--format", "csv", timeout=60
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert (
        lines[0] == "clinic,appointment_id,visit_date,visit_time,status,attempts,last_result,digit,sms_status"
    )
    exported = {line.split(",")[1]: line.split(",") for line in lines[1:]}
    assert exported["A2"][4:] == ["not_reached", "3", "busy", "", "delivered"]
    assert exported["A1"][4:] == ["confirmed", "1", "answered", "1", ""]
    assert exported["A0"][4:] == ["invalid_number", "1", "invalid_number", "", ""]
    assert exported["Aoff"][4:] == ["not_reached", "1", "unavailable", "", "delivered"]
