"""A callback over the trunk to a number the network does not know: the administrator picks up, the carrier
answers the patient's leg with 404, and the task ends there, with no second call and no SMS to a wrong number."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.lib.carrier_numbers import FarEnd
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import carrier_phone, running_service

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]


async def test_a_callback_to_an_unallocated_number_stops_without_an_sms(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.UNALLOCATED, random.Random())
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="answer")
        await svc.call_in("201", phone, patience=20, context="test-direct")
        done = await svc.until(
            lambda: svc.tasks() and svc.tasks()[0]["state"] != "open" and svc.tasks(), 40, "the task to end"
        )
        assert done[0]["state"] == "not_reached"
        attempts = svc.home.query("select leg_status, result from attempts order by n")
        # The administrator's leg was answered; the patient's was refused as unallocated: one call, not two.
        assert [(a["leg_status"], a["result"]) for a in attempts] == [("UNALLOCATED", "answered")]
        assert not [m for m in svc.twilio.messages if m.to == phone]
        assert not svc.home.query("select * from sms_messages")
