"""A callback close to its deadline goes ahead of the queue on the real Asterisk: the administrator who frees up
is paused («перезвон») before the queue can offer them the caller waiting there, rings for the callback, and is
unpaused when it ends; the waiting caller is answered after it. Asserted against Asterisk's own events."""

from __future__ import annotations

import functools
import random
from pathlib import Path

import pytest

from bench.lib.carrier_numbers import FarEnd
from bench.lib.rawami import Frame
from bench.lib.service import SERVICE_LOG
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import QUEUE, Service, carrier_phone, running_service

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]

ADMIN1, ADMIN2 = "Local/admin1@sandbox-agents", "Local/admin2@sandbox-agents"


def index_of(svc: Service, predicate: object) -> int:
    """The position of the first matching event in the order Asterisk sent them; -1 when none came."""
    return next((n for n, (_, f) in enumerate(svc.ami.events) if predicate(f)), -1)  # type: ignore[operator]


def caller_is(frame: Frame, event: str, phone: str) -> bool:
    return frame.get("Event") == event and frame.get("CallerIDNum", "") == phone.lstrip("+")


async def test_a_callback_near_its_deadline_takes_the_freed_administrator_before_the_waiting_caller(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    rng = random.Random()
    talking_a, talking_b, missed, waiting = (carrier_phone(FarEnd.PERSON, rng) for _ in range(4))
    # The deadline is a minute and the margin as long: the task is inside its margin from the moment of the miss.
    async with running_service(
        sandbox, tmp_path, deadline="60s", extra='priority_margin = "60s"', database_url=database_url
    ) as svc:
        try:
            await svc.admins(admin1="answer", admin2="answer")
            await svc.set_global("SIM_TALK_admin1", "20")
            await svc.set_global("SIM_TALK_admin2", "90")  # busy all along: the queue is never left empty
            await svc.call_in("100", talking_a, patience=120)
            await svc.call_in("100", talking_b, patience=120)
            for phone in (talking_a, talking_b):
                await svc.ami.wait_for(functools.partial(caller_is, event="AgentConnect", phone=phone), 20)
            await svc.call_in("100", missed, patience=7)  # waits behind both, gives up: a callback task
            await svc.call_in("100", waiting, patience=90)  # waits in the queue all along
            (task,) = await svc.until(svc.tasks, 20, "the callback task")
            assert task["phone"] == missed
            await svc.set_global("SIM_TALK_admin1", "4")  # the callback's talk, once admin1 is free again
            await svc.ami.wait_for(lambda f: caller_is(f, "QueueCallerJoin", waiting), 10)

            done = await svc.until(
                lambda: [t for t in svc.tasks() if t["state"] != "open"],
                60,
                "the callback to reach the patient",
            )
            assert (done[0]["state"], done[0]["close_reason"]) == ("contacted", "callback_answered")
            await svc.ami.wait_for(lambda f: caller_is(f, "AgentConnect", waiting), 30)

            (attempt,) = svc.home.query("select attempt_id from attempts")
            callback_id = attempt["attempt_id"]
            paused = index_of(
                svc,
                lambda f: (
                    f.get("Event") == "QueueMemberPause"
                    and f.get("Interface") == ADMIN1
                    and f.get("Paused") == "1"
                    and f.get("PausedReason") == "перезвон"
                ),
            )
            rang = index_of(
                svc,
                lambda f: (
                    f.get("Event") == "Newchannel"
                    and f.get("Uniqueid") == callback_id
                    and f.get("Channel", "").startswith(ADMIN1)
                ),
            )
            ended = index_of(svc, lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == callback_id)
            unpaused = index_of(
                svc,
                lambda f: (
                    f.get("Event") == "QueueMemberPause"
                    and f.get("Interface") == ADMIN1
                    and f.get("Paused") == "0"
                ),
            )
            offered = index_of(svc, lambda f: caller_is(f, "AgentCalled", waiting))
            answered = index_of(svc, lambda f: caller_is(f, "AgentConnect", waiting))
            # Paused first, then the callback rang admin1; only after it ended and admin1 was unpaused was the
            # waiting caller offered to anyone.
            assert -1 < paused < rang < ended < unpaused < offered < answered, (
                paused,
                rang,
                ended,
                unpaused,
                offered,
                answered,
            )
            connect = svc.ami.events[answered][1]
            assert connect.get("Interface") == ADMIN1
            status = sandbox.rx(f"queue show {QUEUE}")
            admin1_line = next(line for line in status.splitlines() if ADMIN1 in line)
            assert "paused" not in admin1_line.lower(), status
            log = (svc.home.root / SERVICE_LOG).read_text(encoding="utf-8")
            assert f"callback {task['task_id']} goes ahead of the queue to {ADMIN1}" in log
        finally:
            sandbox.rx("channel request hangup all")


async def test_at_start_up_the_service_unpauses_only_the_administrators_it_paused_itself(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        await svc.admins(admin1="answer", admin2="answer")
        # As a run that was killed in the middle of a callback leaves them; admin2 paused themselves for lunch.
        for admin, reason in ((ADMIN1, "перезвон"), (ADMIN2, "обед")):
            reply = await svc.ami.send(
                "QueuePause", [("Interface", admin), ("Paused", "true"), ("Reason", reason)]
            )
            assert reply.get("Response") == "Success", reply
        await svc.kill()
        await svc.restart()

        def paused(admin: str) -> bool:
            status = sandbox.rx(f"queue show {QUEUE}")
            return "paused" in next(line for line in status.splitlines() if admin in line).lower()

        await svc.until(lambda: not paused(ADMIN1), 20, "admin1 to be unpaused")
        assert paused(ADMIN2)
