"""A caller who hangs up while the AMI link is down, on the real Asterisk: the link runs through a proxy the
test cuts (tests/ami_proxy.py) while the patient waits in the queue and an administrator's phone rings with
their card up; the patient hangs up during the gap; the link comes back. The call is recorded once and
called back, no inbound call stays open in the service, and the card closes on the administrator's screen.

The clinic has no opening hours (always open), so nothing here depends on the host's hour or the clinic's.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp
import pytest

from tests.ami_proxy import AmiProxy
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import Service, running_service
from tests.operators import add_user, operators
from tests.support import sim_phone, until

pytestmark = pytest.mark.asterisk


async def health(svc: Service) -> dict[str, object]:
    async with aiohttp.ClientSession() as http, http.get(f"{svc.base}/api/health") as r:
        return dict(await r.json())


@pytest.mark.parametrize("queue_log", [True, False], ids=["told-by-queue-log", "without-queue-log"])
async def test_a_caller_who_hangs_up_while_the_link_is_down_is_missed_once_and_the_card_closes(
    sandbox: SandboxHandle, tmp_path: Path, queue_log: bool, database_url: str
) -> None:
    phone = sim_phone(3, random.Random())
    number = phone.lstrip("+")
    proxy = await AmiProxy(sandbox.host, sandbox.port).start()
    try:
        async with running_service(
            sandbox, tmp_path, ami_proxy_port=proxy.port, queue_log=queue_log, database_url=database_url
        ) as svc:
            add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
            async with operators(svc, "anna") as people:
                anna = people["anna"]
                await svc.admins(admin1="ring")  # on shift; her phone rings, she does not pick up
                await svc.call_in("100", phone, patience=16)  # greeting ~5 s, then the queue
                joined = await svc.ami.wait_for(
                    lambda f: f.get("Event") == "QueueCallerJoin" and f.get("CallerIDNum") == number, 20
                )
                call = joined["Linkedid"]
                await anna.card(lambda c: c["call"] == call and c["state"] == "ringing", 15, "ringing")

                proxy.cut(refuse_for=120)  # the link is lost, and stays lost until reopened
                await svc.ami.wait_for(
                    lambda f: f.get("Event") == "QueueCallerAbandon" and f.get("Linkedid") == call, 20
                )
                await svc.ami.wait_for(
                    lambda f: (
                        f.get("Event") == "Hangup" and f.get("Linkedid") == call and f.get("Uniqueid") == call
                    ),
                    10,
                )
                await svc.admins()  # nobody on shift now: the callback waits, and rings no one meanwhile
                assert call in anna.cards, "the card closed before the link was back: nothing was cut"
                connections = proxy.connections
                proxy.reopen()

                calls = await svc.until(svc.calls, 30, "the call recorded after the gap")
                assert proxy.connections > connections  # it did come back through the proxy
                (row,) = calls  # once, not again from queue_log
                expected = ("abandoned", "queue_log") if queue_log else ("ended_unseen", "link_gap")
                assert (row["call_id"], row["caller"], row["answered_at"]) == (call, phone, None)
                assert (row["miss_reason"], row["source"]) == expected
                (task,) = await svc.until(svc.tasks, 20, "a callback task")
                assert (task["phone"], task["reason"], task["missed_count"], task["state"]) == (
                    phone,
                    expected[0],
                    1,
                    "open",
                )
                assert (await health(svc))["inbound_calls_open"] == 0
                await until(
                    lambda: call not in anna.cards, "the card of the call that is over to leave the screen"
                )
                await asyncio.sleep(
                    3
                )  # and nothing is told twice a little later: the quiet period is the point
                assert len(svc.calls()) == 1 and len(svc.tasks()) == 1
    finally:
        await proxy.stop()
