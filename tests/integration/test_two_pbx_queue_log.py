"""Two real Asterisks (two sandboxes), the clinic «Восток» on the second one, whose AMI link runs through a proxy
the test cuts. Two patients call «Восток» and give up in its queue while that link is down: one the service was
following when the link went, one who called and hung up entirely inside the gap. `[pbx.east] queue_log` (that
Asterisk's own file) tells both: each is recorded once, as abandoned, under the ids the service gives that
Asterisk's channels (`east/…`), each with a callback task of «Восток».

The clinics have no opening hours (always open) and the clock is a rehearsal at 11:00 on a working day, so
nothing depends on the host's hour.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import Frame, RawAmi
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from tests.ami_proxy import AmiProxy
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.inbound_scenario import ADMINS, QUEUE, call_in, in_queue, no_calls_left
from tests.service_toml import SIM_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, sim_phone, until

pytestmark = pytest.mark.asterisk


def queue_log_of(box: SandboxHandle) -> Path:
    return box.sandbox.layout.root / "var/log/asterisk/queue_log"


def config(west: SandboxHandle, east: SandboxHandle, proxy_port: int, twilio: FakeTwilio, port: int) -> str:
    clinic = ClinicTime.morning()
    return service_toml(
        west,
        twilio,
        port,
        clinic,
        f"""
[pbx.east]
host = "{east.host}"
port = {proxy_port}
username = "{east.username}"
secret = "{east.secret}"
ping_interval = 1
reconnect_max_delay = 1
queue_log = "{queue_log_of(east)}"
""",
        trunk_table(SIM_TRUNK),
        """
[trunks.sim_east]
dial = "Local/{number}@patients"
""",
        clinic_entry(clinic, SIM_TRUNK, clinic_id="west", name="Запад"),
        clinic_entry(
            clinic,
            "sim_east",
            clinic_id="east",
            name="Восток",
            settings=f'pbx = "east"\ndids = ["100"]\nqueues = ["{QUEUE}"]\ncallback_mode = "agent_first"\n',
        ),
        f"""
[inbound]
contexts = ["clinic-inbound"]
queue_log = "{queue_log_of(west)}"
""",
    )


async def gave_up(ami: RawAmi, joined: Frame) -> None:
    await ami.wait_for(
        lambda f: f.get("Event") == "QueueCallerAbandon" and f.get("Uniqueid") == joined["Uniqueid"], 30
    )


async def health(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/health") as r:
        return dict(await r.json())


async def test_callers_who_give_up_on_the_second_asterisk_while_its_link_is_down_are_told_by_its_queue_log(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    west, east = sandbox, second_sandbox
    rng = random.Random()
    followed, unseen = sim_phone(3, rng), sim_phone(3, rng)
    await no_calls_left(east)
    east_ami = await RawAmi.logged_in(east.host, east.port, east.username, east.secret)
    proxy = await AmiProxy(east.host, east.port).start()
    port = free_port()
    process = None
    try:
        await east_ami.send("Setvar", [("Variable", "DIALER_QUEUE_TIMEOUT"), ("Value", "60")])
        await east_ami.send("Setvar", [("Variable", "DIALER_INBOUND_QUEUE"), ("Value", QUEUE)])
        for admin in ADMINS:
            east.rx(f"queue remove member Local/{admin}@sandbox-agents from {QUEUE}")
        # One administrator of «Восток» on shift, whose phone rings and is never picked up: the queue takes
        # callers (it refuses them with nobody in it), and nobody answers them.
        await east_ami.send("Setvar", [("Variable", "SIM_MODE_admin1"), ("Value", "ring")])
        east.rx(f"queue add member Local/admin1@sandbox-agents to {QUEUE}")
        async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
            home = DialerHome(tmp_path, database_url=database_url)
            home.write(config(west, east, proxy.port, twilio, port))
            base = f"http://127.0.0.1:{port}"
            process = await start_service(home.root, home.config)
            await wait_healthy(base, timeout=30)
            await until(lambda: proxy.connections > 0, "the link to east through the proxy", timeout=20)

            await call_in(east_ami, followed, patience=14)  # the greeting, then about 9 s in the queue
            first = await in_queue(east_ami, followed)
            while (await health(base))["inbound_calls_open"] != 1:  # the service follows the call
                await asyncio.sleep(0.25)
            proxy.cut(refuse_for=120)
            await gave_up(east_ami, first)
            await call_in(east_ami, unseen, patience=8)  # joins and gives up while nobody watches
            second = await gave_up_after_joining(east_ami, unseen)
            # Off shift before the link is back: the callbacks wait, and ring nobody meanwhile.
            east.rx(f"queue remove member Local/admin1@sandbox-agents from {QUEUE}")
            connections = proxy.connections
            proxy.reopen()

            rows = await until(
                lambda: calls(home) if len(calls(home)) >= 2 else None,
                "both calls recorded after the gap",
                timeout=40,
            )
            assert proxy.connections > connections  # it did come back through the proxy
            assert [
                (r["call_id"], r["caller"], r["clinic_id"], r["miss_reason"], r["source"], r["queue_channel"])
                for r in rows
            ] == [
                (f"east/{first['Linkedid']}", followed, "east", "abandoned", "queue_log", f"east/{first['Uniqueid']}"),
                (f"east/{second['Uniqueid']}", unseen, "east", "abandoned", "queue_log", f"east/{second['Uniqueid']}"),
            ]  # fmt: skip
            tasks = await until(
                lambda: (
                    home.query("select * from callback_tasks order by task_id")
                    if len(home.query("select * from callback_tasks")) >= 2
                    else None
                ),
                "the callback tasks",
                timeout=20,
            )
            assert sorted((t["phone"], t["clinic_id"], t["reason"]) for t in tasks) == sorted(
                [(followed, "east", "abandoned"), (unseen, "east", "abandoned")]
            )
            await asyncio.sleep(3)
            assert len(calls(home)) == 2  # and nothing is told twice a little later
    finally:
        east.rx(f"queue remove member Local/admin1@sandbox-agents from {QUEUE}")
        if process is not None:
            await stop_service(process)
        await proxy.stop()
        await east_ami.close()


async def gave_up_after_joining(ami: RawAmi, caller: str) -> Frame:
    joined = await in_queue(ami, caller)
    await gave_up(ami, joined)
    return joined


def calls(home: DialerHome) -> list[Any]:
    return home.query("select * from inbound_calls order by started_at") if home.has_database() else []
