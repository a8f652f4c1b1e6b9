"""Calls on the trunk that the service did not place, on the real Asterisk and its carrier: an administrator
dials patients from their own phone over the PJSIP trunk, whose leg Asterisk creates in the trunk's inbound
context (`clinic-inbound`, Exten s). They make no missed call and no callback task; answered, they close the
patient's open task. A caller from the public network is still a missed call when nobody answers."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import STAFF_PHONE, running_service
from tests.support import sim_phone

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]


def carrier_number(rng: random.Random, last_two: str) -> str:
    """A patient's number whose last digits choose what the carrier's far end does (README: The carrier)."""
    return sim_phone(0, rng)[:-2] + last_two


async def test_an_administrators_calls_out_make_no_missed_call_and_the_answered_one_closes_the_task(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    rng = random.Random()
    patient = carrier_number(rng, "11")  # a person: answers after 2 s
    stranger = carrier_number(rng, "11")  # the same, with no task open
    unanswered = carrier_number(rng, "03")  # rings until the clinic gives up
    marker = carrier_number(rng, "11")
    tag = f"{int(time.time() * 1000) % 10**9:09d}"  # fixed width: a ChannelId must not prefix a live one
    async with running_service(sandbox, tmp_path, carrier_ami=True, database_url=database_url) as svc:
        await svc.set_global(f"SIM_MODE_{STAFF_PHONE}", "answer")
        await svc.set_global(f"SIM_TALK_{STAFF_PHONE}", "7")  # picks up in 1 s, talks until 8 s
        await svc.set_global("FREEPBX_OUT_RING", "4")
        # The patient calls in and hangs up during the greeting: a missed call, a task.
        await svc.call_from_public_network("100", patient, patience=2)
        (task,) = await svc.until(svc.tasks, 20, "the patient's callback task")
        assert (task["phone"], task["reason"], task["state"]) == (patient, "ivr_hangup", "open")
        (missed,) = svc.calls()
        assert (missed["caller"], missed["did"], missed["miss_reason"]) == (patient, "100", "ivr_hangup")

        # The administrator calls three people out over the trunk.
        calls = {f"staff-{tag}-{n}": number for n, number in enumerate((patient, stranger, unanswered))}
        for channel_id, number in calls.items():
            await svc.dial_out(number, channel_id)
        closed = await svc.until(
            lambda: [t for t in svc.tasks() if t["state"] != "open"], 20, "the task closed by the staff call"
        )
        assert (closed[0]["phone"], closed[0]["state"], closed[0]["close_reason"]) == (
            patient,
            "contacted",
            "staff_call",
        )
        for channel_id in calls:
            await svc.hung_up(channel_id, 20)
        legs = svc.ami.matching(
            lambda f: (
                f.get("Event") == "Newchannel" and f.get("Linkedid") in calls and "trunk-" in f["Channel"]
            )
        )
        # What made the phantom missed calls: the legs out are created in the trunk's inbound context.
        assert len(legs) == 3 and {(f["Context"], f["Exten"]) for f in legs} == {("clinic-inbound", "s")}

        # A caller after them: once the service has recorded it, it has seen everything before it.
        await svc.call_from_public_network("100", marker, patience=2)
        rows = await svc.until(lambda: len(svc.calls()) >= 2 and svc.calls(), 20, "the marker call")
        assert [(r["caller"], r["miss_reason"]) for r in rows] == [
            (patient, "ivr_hangup"),
            (marker, "ivr_hangup"),
        ]
        tasks = await svc.until(lambda: len(svc.tasks()) >= 2 and svc.tasks(), 10, "the marker's task")
        assert sorted(t["phone"] for t in tasks) == sorted([patient, marker])
