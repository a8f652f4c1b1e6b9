"""A callback the patient answers while no service follows it (the leader killed between the administrator's
pick-up and the patient's, or between the Originate and the patient's answer in automatic mode; the standby or
the restarted service not yet in charge) is contact all the same: the service in charge learns the patient's
answer from the dialplan's hangup record, closes the task, and never rings the patient again. Administrator
first: once with the call still up when the service comes back, once with it over."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.lib.carrier_numbers import FarEnd
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import Service, carrier_phone, running_service

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]


async def killed_before_the_patient_answers(svc: Service, state: str, what: str) -> str:
    """SIGKILL the service as soon as the callback's attempt is in `state`, check that the patient's answer came
    after it, and wait for that answer on Asterisk; the attempt's id."""
    (attempt,) = await svc.until(
        lambda: svc.home.query("select attempt_id from attempts where state = ?", (state,)), 60, what
    )
    await svc.kill()
    assert svc.home.query("select leg_status from attempts")[0]["leg_status"] is None, (
        "the patient's answer was seen before the kill: the scenario did not happen"
    )
    attempt_id = str(attempt["attempt_id"])
    await svc.ami.wait_for(
        lambda f: (
            f.get("UserEvent") == "DialerCallback"
            and f.get("AttemptId") == attempt_id
            and f.get("DialStatus") == "ANSWER"
        ),
        15,
    )
    return attempt_id


async def reached_once(svc: Service, attempt_id: str) -> None:
    """The task closed as answered, on that one attempt, its patient's leg answered."""
    (task,) = await svc.until(
        lambda: [t for t in svc.tasks() if t["state"] != "open"], 60, "the task to close"
    )
    assert (task["state"], task["close_reason"]) == ("contacted", "callback_answered")
    attempts = svc.home.query("select attempt_id, leg_status, result from attempts")
    assert [(a["attempt_id"], a["leg_status"], a["result"]) for a in attempts] == [
        (attempt_id, "ANSWER", "answered")
    ]


@pytest.mark.parametrize("still_up", [True, False], ids=["up-at-restart", "over-at-restart"])
async def test_a_patient_who_answers_a_callback_while_no_service_follows_it_is_reached_once(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str, still_up: bool
) -> None:
    phone = carrier_phone(FarEnd.PERSON, random.Random())  # rings 2 s, then answers
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="answer")
        await svc.set_global("SIM_TALK_admin1", "30" if still_up else "4")
        await svc.call_in("201", phone, patience=20, context="test-direct")
        # The administrator has picked up, so the patient's phone is about to ring: the service dies now.
        attempt_id = await killed_before_the_patient_answers(svc, "answered", "the administrator's pick-up")
        if not still_up:
            await svc.hung_up(attempt_id, timeout=15)
        await svc.restart()
        if still_up:
            live = svc.ami.matching(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == attempt_id)
            assert not live, "the call ended before the service came back"
        await reached_once(svc, attempt_id)
    # Asterisk rang the patient once: one Dial from the administrator's leg to the trunk.
    dials = svc.ami.matching(
        lambda f: f.get("Event") == "DialBegin" and phone.lstrip("+") in f.get("DialString", "")
    )
    assert len(dials) == 1, dials
    assert not [m for m in svc.twilio.messages if m.to == phone]


async def test_a_patient_who_answers_an_automatic_callback_while_no_service_follows_it_is_reached_once(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """Automatic mode (nobody free: the patient is dialled first and waits in the queue): the patient answers
    while the service is down and hangs up before it is back; the service reads the answer from the record."""
    phone = carrier_phone(FarEnd.PERSON, random.Random())
    async with running_service(sandbox, tmp_path, database_url=database_url, mode="auto") as svc:
        await svc.call_in("201", phone, patience=20, context="test-direct")
        attempt_id = await killed_before_the_patient_answers(svc, "dialing", "the callback placed")
        (channel,) = svc.ami.matching(
            lambda f: f.get("Event") == "Newchannel" and f.get("Uniqueid") == attempt_id
        )
        await svc.ami.send("Hangup", [("Channel", channel["Channel"])])  # the patient is gone meanwhile
        await svc.hung_up(attempt_id, timeout=15)
        await svc.restart()
        await reached_once(svc, attempt_id)
    assert not [m for m in svc.twilio.messages if m.to == phone]


async def test_a_callback_to_an_unknown_number_refused_while_no_service_follows_it_is_not_rung_again(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """The service dies while the administrator's phone rings; the administrator picks up, the carrier refuses
    the patient's number (404) and the call ends, all before the service is back. The restarted service reads
    the refusal and the patient's hangup cause from the hangup record: a wrong number, as when it follows the call
    (test_callback_outcomes), not a patient to ring again, and no SMS to it."""
    phone = carrier_phone(FarEnd.UNALLOCATED, random.Random())
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="answer")  # rings 1 s, then picks up
        await svc.call_in("201", phone, patience=20, context="test-direct")
        (attempt,) = await svc.until(
            lambda: svc.home.query("select attempt_id from attempts where state = 'dialing'"),
            60,
            "the callback",
        )
        await svc.kill()
        attempt_id = str(attempt["attempt_id"])
        assert svc.home.query("select state from attempts")[0]["state"] == "dialing", (
            "the administrator's pick-up was seen before the kill: the scenario did not happen"
        )
        refused = await svc.ami.wait_for(
            lambda f: f.get("UserEvent") == "DialerCallback" and f.get("AttemptId") == attempt_id, 15
        )
        assert refused.get("DialStatus") != "ANSWER"
        await svc.hung_up(attempt_id, timeout=15)
        await svc.restart()
        (task,) = await svc.until(
            lambda: [t for t in svc.tasks() if t["state"] != "open"], 60, "the task to end"
        )
        assert task["state"] == "not_reached"
        attempts = svc.home.query("select attempt_id, leg_status from attempts order by n")
        assert [(a["attempt_id"], a["leg_status"]) for a in attempts] == [(attempt_id, "UNALLOCATED")]
    assert not [m for m in svc.twilio.messages if m.to == phone]
