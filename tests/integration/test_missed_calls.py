"""Missed calls on the real Asterisk: simulated callers come in through the shipped inbound dialplan into a
queue of simulated administrators; the service turns every unanswered call into a callback task and works it.
Asserted against the service's storage and Asterisk's own events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.lib.carrier_numbers import TRUNK_DIAL, FarEnd
from bench.lib.clinic import ClinicTime
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import carrier_phone, running_service
from tests.support import appointments_csv

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]


async def test_an_abandoned_caller_is_called_back_and_the_task_closes(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.PERSON, random.Random())  # answers when called
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="ring")  # on shift, but does not pick up
        await svc.call_in("100", phone, patience=8)
        (task,) = await svc.until(svc.tasks, 20, "a callback task")
        assert (task["phone"], task["reason"], task["state"], task["missed_count"]) == (
            phone,
            "abandoned",
            "open",
            1,
        )
        (call,) = svc.calls()
        assert (
            call["miss_reason"] == "abandoned"
            and call["queue"] == "test-reception"
            and call["caller"] == phone
        )
        deadline = datetime.fromisoformat(task["deadline_at"]) - datetime.fromisoformat(
            task["first_missed_at"]
        )
        assert deadline == timedelta(seconds=40)
        # The callback's first call goes to the administrator on shift. Until its row is written the service
        # may still be choosing her (her phone rang for the caller a moment ago), and a second administrator
        # put on shift meanwhile would be the first one rung.
        await svc.until(
            lambda: svc.home.query("select * from attempts where n = 1"), 20, "the callback's first call"
        )
        await svc.admins(admin2="answer")  # now someone picks up: the callback goes to them
        done = await svc.until(
            lambda: [t for t in svc.tasks() if t["state"] != "open"], 40, "the task to close"
        )
        assert (done[0]["state"], done[0]["close_reason"]) == ("contacted", "callback_answered")
        # The first administrator let it ring out (not counted); the second one got the patient.
        attempts = await svc.until(
            lambda: [
                a for a in svc.home.query("select * from attempts") if a["state"] == "ended" and a["n"] == 2
            ],
            20,
            "the callback to end",
        )
        assert attempts[0]["leg_status"] == "ANSWER"
        first = svc.home.query("select * from attempts where n = 1")[0]
        assert (first["result"], first["leg_status"]) == ("no_answer", None)


async def test_queue_timeout_direct_dial_ivr_hangup_and_hidden_number(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    rng = random.Random()
    timeout_caller, direct_caller, busy_caller, ivr_caller = (
        carrier_phone(FarEnd.RINGS_OUT, rng) for _ in range(4)
    )
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="ring")
        await svc.set_global("DIALER_QUEUE_TIMEOUT", "4")
        await svc.call_in("100", timeout_caller, patience=20)  # stays on: the queue gives up after 4 s
        await svc.call_in("201", direct_caller, patience=20, context="test-direct")  # extension never answers
        await svc.call_in("202", busy_caller, patience=20, context="test-direct")  # extension busy
        await svc.call_in("100", ivr_caller, patience=1)  # hangs up during the greeting
        await svc.call_in("100", "", patience=3)  # hidden number
        calls = await svc.until(lambda: len(svc.calls()) == 5 and svc.calls(), 40, "five finished calls")
        reasons = {c["caller"]: c["miss_reason"] for c in calls}
        assert reasons == {
            timeout_caller: "queue_timeout",
            direct_caller: "not_answered",
            busy_caller: "not_answered",
            ivr_caller: "ivr_hangup",
            "": "ivr_hangup",
        }
        hidden = [c for c in calls if c["hidden"]]
        assert len(hidden) == 1 and hidden[0]["task_id"] is None  # counted, but cannot be called back
        tasks = {
            t["phone"]: t for t in await svc.until(lambda: len(svc.tasks()) == 4 and svc.tasks(), 10, "tasks")
        }
        assert {p: t["reason"] for p, t in tasks.items()} == {
            timeout_caller: "queue_timeout",
            direct_caller: "not_answered",
            busy_caller: "not_answered",
            ivr_caller: "ivr_hangup",
        }
        assert {c["did"] for c in calls} == {"100", "201", "202"}


async def test_two_misses_from_one_number_make_one_task(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.RINGS_OUT, random.Random())
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins()  # nobody on shift: nobody can call back either
        await svc.call_in("100", phone, patience=1)
        await svc.until(lambda: len(svc.calls()) == 1, 20, "the first miss")
        await svc.call_in("100", phone, patience=1)
        await svc.until(lambda: len(svc.calls()) == 2, 20, "the second miss")
        await svc.until(lambda: svc.tasks() and svc.tasks()[0]["missed_count"] == 2, 10, "the count")
        (task,) = svc.tasks()
        assert task["state"] == "open" and task["missed_count"] == 2
        await svc.until(
            lambda: {c["task_id"] for c in svc.calls()} == {task["task_id"]}, 10, "both calls on it"
        )


async def test_an_answered_call_makes_no_task_and_closes_the_callers_open_one(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.RINGS_OUT, random.Random())
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin2="ring")  # on shift, never picks up (the callback to them rings out too)
        await svc.call_in("100", phone, patience=1)
        await svc.until(svc.tasks, 20, "a task")
        # The patient calls again; an administrator comes on shift while they wait and answers.
        await svc.call_in("100", phone, patience=12)
        await svc.ami.wait_for(lambda f: f.get("Event") == "QueueCallerJoin", 15)
        await svc.add_admin("admin1", "answer")
        closed = await svc.until(
            lambda: svc.tasks()[0]["state"] != "open" and svc.tasks(), 20, "the task to close"
        )
        assert (closed[0]["state"], closed[0]["close_reason"]) == ("contacted", "patient_called_in")
        calls = await svc.until(lambda: len(svc.calls()) == 2 and svc.calls(), 20, "the answered call")
        answered = [c for c in calls if c["miss_reason"] is None]
        assert len(answered) == 1 and answered[0]["answered_by"] == "Local/admin1@sandbox-agents"
        assert len(svc.tasks()) == 1  # the answered call made no task of its own


async def test_an_administrators_own_call_answered_closes_the_task(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.PERSON, random.Random())  # answers
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins()
        await svc.call_in("100", phone, patience=1)
        await svc.until(svc.tasks, 20, "a task")
        await svc.staff_call(phone)
        closed = await svc.until(
            lambda: svc.tasks()[0]["state"] != "open" and svc.tasks(), 20, "the task to close"
        )
        assert closed[0]["close_reason"] == "staff_call"


async def test_a_callback_not_answered_twice_ends_with_an_sms(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.RINGS_OUT, random.Random())  # never picks up
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="answer")
        await svc.set_global("DIALER_QUEUE_TIMEOUT", "30")
        await svc.call_in("201", phone, patience=20, context="test-direct")
        done = await svc.until(
            lambda: svc.tasks() and svc.tasks()[0]["state"] != "open" and svc.tasks(), 60, "the task to end"
        )
        assert (done[0]["state"], done[0]["close_reason"]) == ("not_reached", "not_reached")
        attempts = svc.home.query("select * from attempts order by n")
        assert [(a["leg_status"], a["result"]) for a in attempts] == [("NOANSWER", "answered")] * 2
        gap = datetime.fromisoformat(attempts[1]["created_at"]) - datetime.fromisoformat(
            attempts[0]["created_at"]
        )
        assert gap >= timedelta(seconds=3)
        messages = [m for m in svc.twilio.messages if m.to == phone]
        assert len(messages) == 1 and "не дозвонились" in messages[0].body
        assert "Клиника «Улыбка»" in messages[0].body


async def test_a_call_after_hours_gets_an_sms_at_once_and_a_deadline_from_opening(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    opening = (clinic.local_now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    hours = f'"пн-вс {opening:%H:%M}-{(opening + timedelta(minutes=30)):%H:%M}"'
    phone = carrier_phone(FarEnd.PERSON, random.Random())
    async with running_service(sandbox, tmp_path, clinic, hours=hours, database_url=database_url) as svc:
        await svc.admins(admin1="answer")
        await svc.call_in("100", phone, patience=1)
        (task,) = await svc.until(svc.tasks, 20, "a task")
        assert task["reason"] == "after_hours" and task["after_hours"] == 1
        assert datetime.fromisoformat(task["starts_at"]).replace(tzinfo=UTC) == opening.astimezone(UTC)
        assert datetime.fromisoformat(task["deadline_at"]).replace(tzinfo=UTC) == (
            opening + timedelta(seconds=40)
        ).astimezone(UTC)
        message = await svc.until(lambda: [m for m in svc.twilio.messages if m.to == phone], 20, "the SMS")
        assert "нерабочее время" in message[0].body and f"{opening:%H:%M}" in message[0].body
        assert not svc.home.query("select * from attempts"), "nobody is called back before opening time"


async def test_a_caller_on_file_who_said_no_to_sms_gets_no_after_hours_sms(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    opening = (clinic.local_now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    hours = f'"пн-вс {opening:%H:%M}-{(opening + timedelta(minutes=30)):%H:%M}"'
    rng = random.Random()
    declined, stranger = carrier_phone(FarEnd.PERSON, rng), carrier_phone(FarEnd.PERSON, rng)
    schedule = tmp_path / "schedule.csv"
    schedule.write_text(  # a visit a month away: no reminder is due meanwhile
        appointments_csv(
            [
                {
                    "appointment_id": "7001",
                    "clinic": "c1",
                    "patient_name": "Пациент 7001",
                    "phone": declined,
                    "visit_date": f"{clinic.today + timedelta(days=30):%Y-%m-%d}",
                    "visit_time": "10:30",
                    "doctor": "Иванова Мария Петровна",
                    "consent_sms": "нет",
                }
            ]
        ),
        encoding="utf-8",
    )
    async with running_service(sandbox, tmp_path, clinic, hours=hours, database_url=database_url) as svc:
        imported = svc.home.run("import", "appointments", str(schedule))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        await svc.admins(admin1="answer")
        await svc.call_in("100", declined, patience=1)
        await svc.call_in("100", stranger, patience=1)
        tasks = await svc.until(lambda: len(svc.tasks()) == 2 and svc.tasks(), 20, "two tasks")
        assert {t["phone"]: t["reason"] for t in tasks} == {declined: "after_hours", stranger: "after_hours"}
        await svc.until(
            lambda: [m for m in svc.twilio.messages if m.to == stranger], 20, "the stranger's SMS"
        )
        texted = svc.home.query("select target_id from sms_messages")
        dial_planned = svc.home.query(
            "select target_id from due_tasks where kind = 'dial' and campaign = 'callback'"
        )
        assert [m.to for m in svc.twilio.messages] == [stranger]
    targets = {t["phone"]: t["target_id"] for t in tasks}
    assert [r["target_id"] for r in texted] == [targets[stranger]]
    # The caller who said no to SMS is still called back at opening.
    assert {r["target_id"] for r in dial_planned} == set(targets.values())


async def test_the_services_own_reminder_calls_make_no_task(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """A reminder patient who presses 3 waits in the reception queue and gives up: that is our own call, though
    its trunk channel starts in the inbound context, as every call out over the trunk does."""
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="ring")
        await svc.set_global("DIALER_QUEUE_TIMEOUT", "3")
        ours = svc.home.attempt_id("reminders", 999, 1)
        reply = await svc.ami.send(
            "Originate",
            [
                (
                    "Channel",
                    TRUNK_DIAL.format(number=carrier_phone(FarEnd.EARLY_PRESSER, random.Random(), "3")),
                ),
                ("Context", "dialer-reminder"),
                ("Exten", "s"),
                ("Priority", "1"),
                ("Async", "true"),
                ("ChannelId", ours),
                ("Variable", f"DIALER_ATTEMPT={ours}"),
                ("Variable", "DIALER_QUEUE=test-reception"),
            ],
        )
        assert reply.get("Response") == "Success"
        await svc.ami.wait_for(
            lambda f: f.get("Event") == "QueueCallerJoin" and f.get("Linkedid") == ours, 30
        )
        await svc.ami.wait_for(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == ours, 40)
        await svc.call_in("100", "", patience=1)  # a marker call after it, to know the intake has caught up
        await svc.until(svc.calls, 20, "the marker call")
        assert len(svc.calls()) == 1 and not svc.tasks()


async def test_a_restart_loses_no_missed_call_and_dials_no_callback_twice(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    rng = random.Random()
    before, during, waiting = (
        [carrier_phone(FarEnd.PERSON, rng) for _ in range(2)],
        carrier_phone(FarEnd.PERSON, rng),
        carrier_phone(FarEnd.PERSON, rng),
    )
    async with running_service(sandbox, tmp_path, deadline="3m", database_url=database_url) as svc:
        await svc.admins(admin1="ring")
        for phone in before:
            await svc.call_in("100", phone, patience=8)  # the greeting takes 5 s, then 3 s in the queue
        await svc.until(lambda: len(svc.tasks()) == 2, 30, "two tasks before the crash")
        await svc.until(lambda: svc.home.query("select * from attempts"), 20, "a callback in the air")
        await svc.call_in("100", waiting, patience=12)  # waiting in the queue when the service dies
        await svc.ami.wait_for(
            lambda f: f.get("Event") == "QueueCallerJoin" and f.get("CallerIDNum") == waiting.lstrip("+"), 15
        )
        await svc.kill()
        deadlines = {t["phone"]: t["deadline_at"] for t in svc.tasks()}
        await svc.call_in("100", during, patience=8)  # comes and goes while nobody watches
        await svc.ami.wait_for(
            lambda f: f.get("Event") == "QueueCallerAbandon" and f.get("CallerIDNum") == during.lstrip("+"),
            20,
        )
        await svc.ami.wait_for(
            lambda f: f.get("Event") == "QueueCallerAbandon" and f.get("CallerIDNum") == waiting.lstrip("+"),
            20,
        )
        await svc.admins(admin2="answer")
        await svc.restart()
        tasks = await svc.until(
            lambda: len(svc.tasks()) == 4 and svc.tasks(), 30, "the missed calls recovered"
        )
        assert {t["phone"] for t in tasks} == {*before, during, waiting}
        recovered = {c["caller"] for c in svc.calls() if c["source"] == "queue_log"}
        assert recovered == {during, waiting}
        assert len(svc.calls()) == 4  # the calls seen live were not counted again from the log
        for phone, deadline in deadlines.items():  # deadlines stored before the crash are kept as they were
            assert next(t for t in svc.tasks() if t["phone"] == phone)["deadline_at"] == deadline
        await svc.until(lambda: all(t["state"] == "contacted" for t in svc.tasks()), 120, "every callback")
    # Asterisk saw each callback attempt once.
    ids = [
        a["attempt_id"] for a in svc.home.query("select attempt_id from attempts where state != 'unplaced'")
    ]
    channels = [
        f["Uniqueid"]
        for _, f in svc.ami.events
        if f.get("Event") == "Newchannel"
        and f.get("Uniqueid", "").split(":")[1:2] in (["callback"], ["autocb"])
        and not f["Uniqueid"].endswith(";2")
    ]
    assert sorted(channels) == sorted(ids)
    assert len(set(channels)) == len(channels)
