"""Missed calls on the real Asterisk: simulated callers come in through the shipped inbound dialplan into a
queue of simulated administrators; the service turns every unanswered call into a callback task and works it.
Asserted against the service's storage and Asterisk's own events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import running_service
from tests.support import daytime_zone, sim_phone

pytestmark = pytest.mark.asterisk


def tz_name() -> str:
    return daytime_zone(datetime.now(UTC)).key


async def test_an_abandoned_caller_is_called_back_and_the_task_closes(sandbox: SandboxHandle, tmp_path: Path) -> None:
    phone = sim_phone(1, random.Random())  # answers when called
    async with running_service(sandbox, tmp_path, tz_name()) as svc:
        await svc.admins(admin1="ring")  # on shift, but does not pick up
        await svc.call_in("100", phone, patience=8)
        (task,) = await svc.until(svc.tasks, 20, "a callback task")
        assert (task["phone"], task["reason"], task["state"], task["missed_count"]) == (phone, "abandoned", "open", 1)
        (call,) = svc.calls()
        assert call["miss_reason"] == "abandoned" and call["queue"] == "reception" and call["caller"] == phone
        deadline = datetime.fromisoformat(task["deadline_at"]) - datetime.fromisoformat(task["first_missed_at"])
        assert deadline == timedelta(seconds=40)
        await svc.admins(admin2="answer")  # now someone picks up: the callback goes to them
        done = await svc.until(lambda: [t for t in svc.tasks() if t["state"] != "open"], 40, "the task to close")
        assert (done[0]["state"], done[0]["close_reason"]) == ("contacted", "callback_answered")
        # The first administrator let it ring out (not counted); the second one got the patient.
        attempts = await svc.until(lambda: [a for a in svc.home.query("select * from attempts")
                                            if a["state"] == "ended" and a["n"] == 2], 20, "the callback to end")
        assert attempts[0]["leg_status"] == "ANSWER"
        first = svc.home.query("select * from attempts where n = 1")[0]
        assert (first["result"], first["leg_status"]) == ("no_answer", None)
