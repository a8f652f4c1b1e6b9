"""Two real Asterisks (two sandboxes) whose clinics both answer from a queue called «test-reception», each with an
administrator on the same interface, Local/admin1@sandbox-agents. A patient waits in the second Asterisk's queue
while its admin1's phone rings: the supervisor of «Восток» sees the caller waiting and admin1 busy; the
supervisor of «Запад» sees nobody waiting and her own admin1 free, not her namesake's state.

The clinics have no opening hours (always open) and the clock is a rehearsal at 11:00 on a working day, so
nothing depends on the host's hour.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.inbound_scenario import ADMINS, QUEUE, call_in, in_queue, no_calls_left
from tests.operators import Operator, add_user_to
from tests.service_toml import SIM_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, sim_phone, until

pytestmark = pytest.mark.asterisk

ADMIN1 = "Local/admin1@sandbox-agents"


def config(west: SandboxHandle, east: SandboxHandle, twilio: FakeTwilio, port: int) -> str:
    clinic = ClinicTime.morning()
    answers_from = f'queues = ["{QUEUE}"]\ndids = ["100"]\n'
    return service_toml(
        west,
        twilio,
        port,
        clinic,
        f"""
[pbx.east]
host = "{east.host}"
port = {east.port}
username = "{east.username}"
secret = "{east.secret}"
""",
        trunk_table(SIM_TRUNK),
        """
[trunks.sim_east]
dial = "Local/{number}@patients"
""",
        clinic_entry(clinic, SIM_TRUNK, clinic_id="west", name="Запад", settings=answers_from),
        clinic_entry(
            clinic, "sim_east", clinic_id="east", name="Восток", settings=f'pbx = "east"\n{answers_from}'
        ),
        """
[inbound]
contexts = ["clinic-inbound"]
""",
    )


async def board(base: str, username: str) -> dict[str, Any]:
    """The board a supervisor's screen gets on opening: the state at that moment."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await Operator(username, http, base).login()
        async with http.ws_connect(f"{base}/ws") as ws:
            async for message in ws:
                data = json.loads(message.data)
                if data.get("type") == "board":
                    return dict(data)
    raise AssertionError(f"no board for {username}")


def seen(message: dict[str, Any]) -> tuple[int, dict[str, str]]:
    """Callers waiting, and each administrator's state, as the board shows them."""
    return message["tiles"]["waiting"], {a["interface"]: a["state"] for a in message["admins"]}


async def test_each_supervisor_sees_the_queue_of_her_own_asterisk_not_its_namesake(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    west, east = sandbox, second_sandbox
    caller = sim_phone(3, random.Random())
    await no_calls_left(east)
    west_ami = await RawAmi.logged_in(west.host, west.port, west.username, west.secret)
    east_ami = await RawAmi.logged_in(east.host, east.port, east.username, east.secret)
    port = free_port()
    process = None
    try:
        for box in (west, east):
            for admin in ADMINS:
                box.rx(f"queue remove member Local/{admin}@sandbox-agents from {QUEUE}")
        await west_ami.send("Setvar", [("Variable", "SIM_MODE_admin1"), ("Value", "answer")])
        west.rx(f"queue add member {ADMIN1} to {QUEUE}")
        # East's admin1 is on shift and her phone rings without being picked up, so the caller waits.
        for variable, value in (("DIALER_QUEUE_TIMEOUT", "60"), ("DIALER_INBOUND_QUEUE", QUEUE)):
            await east_ami.send("Setvar", [("Variable", variable), ("Value", value)])
        await east_ami.send("Setvar", [("Variable", "SIM_MODE_admin1"), ("Value", "ring")])
        east.rx(f"queue add member {ADMIN1} to {QUEUE}")
        async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
            home = DialerHome(tmp_path, database_url=database_url)
            home.write(config(west, east, twilio, port))
            add_user_to(home, "sup-west", "supervisor", "Старший администратор", clinics=["west"])
            add_user_to(home, "sup-east", "supervisor", "Старший администратор", clinics=["east"])
            base = f"http://127.0.0.1:{port}"
            process = await start_service(home.root, home.config)
            await wait_healthy(base, timeout=30)
            await until(lambda: _both_free(base), "each clinic's admin1 on its board", timeout=20, every=0.5)

            await call_in(east_ami, caller, patience=25)  # the greeting, then about 20 s in the queue
            await in_queue(east_ami, caller)

            # The queue rings admin1 through a Local channel, which Asterisk reports in use while it rings.
            async def east_shows_the_caller() -> bool:
                return seen(await board(base, "sup-east")) == (1, {ADMIN1: "talking"})

            await until(east_shows_the_caller, "«Восток»'s board with its caller", timeout=15, every=0.5)
            # The same moment on «Запад»'s board: her own queue, empty, and her own admin1, free.
            assert seen(await board(base, "sup-west")) == (0, {ADMIN1: "free"})
    finally:
        east.rx(f"queue remove member {ADMIN1} from {QUEUE}")
        west.rx(f"queue remove member {ADMIN1} from {QUEUE}")
        if process is not None:
            await stop_service(process)
        await no_calls_left(east)
        await west_ami.close()
        await east_ami.close()


async def _both_free(base: str) -> bool:
    return [seen(await board(base, u)) for u in ("sup-west", "sup-east")] == [(0, {ADMIN1: "free"})] * 2


def paused_reason(box: SandboxHandle, interface: str) -> str | None:
    """The member's pause as its Asterisk's queue shows it: the reason, "" for none given, None if not paused."""
    line = next(line for line in box.rx(f"queue show {QUEUE}").splitlines() if interface in line)
    if "paused" not in line.lower():
        return None
    reason = re.search(r"paused:(\S*)", line, re.IGNORECASE)
    return reason.group(1).strip() if reason else ""


async def test_at_start_up_only_the_asterisk_whose_administrator_the_service_paused_is_unpaused(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """East's admin1 was left paused «перезвон» by a run killed during a callback; west's admin1, her namesake,
    paused herself for lunch. The next start lifts east's pause only: an unpause names an interface, and sent
    to west it would end her lunch."""
    west, east = sandbox, second_sandbox
    west_ami = await RawAmi.logged_in(west.host, west.port, west.username, west.secret)
    east_ami = await RawAmi.logged_in(east.host, east.port, east.username, east.secret)
    port = free_port()
    process = None
    try:
        for box, ami, reason in ((west, west_ami, "обед"), (east, east_ami, "перезвон")):
            for admin in ADMINS:
                box.rx(f"queue remove member Local/{admin}@sandbox-agents from {QUEUE}")
            box.rx(f"queue add member {ADMIN1} to {QUEUE}")
            reply = await ami.send(
                "QueuePause", [("Interface", ADMIN1), ("Paused", "true"), ("Reason", reason)]
            )
            assert reply.get("Response") == "Success", reply
        assert (paused_reason(west, ADMIN1), paused_reason(east, ADMIN1)) == ("обед", "перезвон")
        async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
            home = DialerHome(tmp_path, database_url=database_url)
            home.write(config(west, east, twilio, port))
            base = f"http://127.0.0.1:{port}"
            process = await start_service(home.root, home.config)
            await wait_healthy(base, timeout=30)

            async def east_unpaused() -> bool:
                return paused_reason(east, ADMIN1) is None

            await until(east_unpaused, "east's admin1 unpaused", timeout=20, every=0.5)
            assert paused_reason(west, ADMIN1) == "обед"
    finally:
        for box in (west, east):
            box.rx(f"queue remove member {ADMIN1} from {QUEUE}")
        if process is not None:
            await stop_service(process)
        await west_ami.close()
        await east_ami.close()
