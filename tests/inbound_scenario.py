"""A running `dialer run` service on the sandbox, with simulated callers and administrators, for the
missed-call, KOS and page tests. Callers come in on `Local/` channels into the shipped inbound dialplan, or from
the public network through the sandbox's carrier over the PJSIP trunk; the clinic calls patients over that trunk,
where the carrier answers for them by their number. Administrators dial out from their own phones over it too."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import Frame, RawAmi
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from dialer.sandbox.carrier import CARRIER_USERNAME
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.service_toml import CARRIER_TRUNK, SIM_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, until

QUEUE = "test-reception"
ADMINS = ("admin1", "admin2", "admin3")
# The FreePBX-style flows of tests/asterisk/freepbx.conf: the numbers their inbound routes take, their queue,
# and the administrator's desk phone that dials patients out over the trunk.
QUEUE_DID, RING_GROUP_DID = "4957300001", "4957300002"
FREEPBX_QUEUE = "freepbx-7001"
STAFF_PHONE = "admin9"


def service_config(
    sandbox: SandboxHandle,
    twilio: FakeTwilio,
    port: int,
    clinic: ClinicTime,
    *,
    hours: str = "",
    extra: str = "",
    mode: str = "agent_first",
    deadline: str = "40s",
    alerts: str = "",
    trunk: str = CARRIER_TRUNK,
    queue_log: bool = True,
    ami_proxy_port: int | None = None,
    service: str = "",
    carrier_channels: int = 10,
    database_url: str = "",
) -> str:
    """The settings of an installation beside the sandbox's PBX: the shipped inbound dialplan and the FreePBX-style
    flows of tests/asterisk/freepbx.conf (their DIDs, from-pstn among the inbound contexts, from-internal where
    the administrators dial out). The clinic calls back over `trunk`: CARRIER_TRUNK, the PJSIP trunk to the
    sandbox's carrier, or SIM_TRUNK, the `Local/` patients, for a test that needs one of theirs. Without
    `queue_log` the service has only its own events to recover missed calls from after a gap in its AMI link
    (which goes through a proxy at `ami_proxy_port` when given). `service` is more keys of the [service] table
    (a shared database, the takeover of two nodes); `carrier_channels` the trunk's channels at once. Its database
    is `database_url` when given, so that every `dialer` command run on this config (the service, `users add`,
    reports) uses the same one."""
    queue_log_path = sandbox.sandbox.layout.root / "var/log/asterisk/queue_log" if queue_log else ""
    text = service_toml(
        sandbox,
        twilio,
        port,
        clinic,
        trunk_table(CARRIER_TRUNK, max_channels=carrier_channels),
        trunk_table(SIM_TRUNK),
        clinic_entry(
            clinic,
            trunk,
            settings=f"""dids = ["100", "201", "202", "203", "{QUEUE_DID}", "{RING_GROUP_DID}"]
queues = ["{QUEUE}"]
hours = [{hours}]
callback_mode = "{mode}"
supervisor_phone = "+7 916 999-00-11"
""",
        ),
        f"""
[inbound]
contexts = ["clinic-inbound", "from-pstn", "test-direct"]
staff_contexts = ["test-staff-outbound", "from-internal"]
queue_log = "{queue_log_path}"

[campaigns.callbacks]
deadline = "{deadline}"
min_gap = "3s"
ring_timeout = "4s"
admin_ring = "4s"
{extra}

[alerts]
{alerts}
""",
        ami_proxy_port=ami_proxy_port,
        database_url=database_url,
    )
    return text.replace("[service]\n", f"[service]\n{service}", 1)


def carrier_phone(far_end: FarEnd, rng: random.Random, key: str = "0") -> str:
    """A caller's number, new each run, that the carrier answers as `far_end` when the clinic calls it back."""
    return CarrierPatient(far_end, key=key).number(rng.randrange(10000))


@dataclass
class Service:
    home: DialerHome
    ami: RawAmi
    sandbox: SandboxHandle
    twilio: FakeTwilio
    base: str
    clinic: ClinicTime  # the service's clock: restarts read the same [rehearsal] section from the config
    process: asyncio.subprocess.Process | None = None
    carrier: RawAmi | None = None  # the carrier's AMI, where callers from the public network are placed

    async def kill(self) -> None:
        """SIGKILL: no goodbye, no flush."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def restart(self) -> None:
        self.process = await start_service(self.home.root, self.home.config)
        await wait_healthy(self.base, timeout=30)

    async def set_global(self, name: str, value: str) -> None:
        await self.ami.send("Setvar", [("Variable", name), ("Value", value)])

    async def admins(self, **modes: str) -> None:
        """Put these administrators in the queue with a mode each (answer, ring, busy); take the rest out."""
        for admin in ADMINS:
            self.sandbox.rx(f"queue remove member Local/{admin}@sandbox-agents from {QUEUE}")
        for admin, mode in modes.items():
            await self.set_global(f"SIM_MODE_{admin}", mode)
            await self.set_global(f"SIM_TALK_{admin}", "10")
            self.sandbox.rx(f"queue add member Local/{admin}@sandbox-agents to {QUEUE}")

    async def add_admin(self, admin: str, mode: str) -> None:
        await self.set_global(f"SIM_MODE_{admin}", mode)
        await self.set_global(f"SIM_TALK_{admin}", "10")
        self.sandbox.rx(f"queue add member Local/{admin}@sandbox-agents to {QUEUE}")

    async def call_in(self, did: str, caller: str, patience: float, context: str = "clinic-inbound") -> None:
        """A patient calls the clinic and stays on the line `patience` seconds at most."""
        headers = [
            ("Channel", f"Local/{did}@{context}"),
            ("Application", "Wait"),
            ("Data", str(patience)),
            ("Async", "true"),
        ]
        if caller:
            headers.append(("CallerID", f'"Пациент" <{caller.lstrip("+")}>'))
        reply = await self.ami.send("Originate", headers)
        assert reply.get("Response") == "Success", reply

    async def staff_call(self, number: str) -> None:
        reply = await self.ami.send(
            "Originate",
            [
                ("Channel", f"Local/{number.lstrip('+')}@test-staff-outbound"),
                ("Application", "Wait"),
                ("Data", "8"),
                ("Async", "true"),
            ],
        )
        assert reply.get("Response") == "Success", reply

    async def call_from_public_network(self, did: str, caller: str, patience: float) -> None:
        """A patient on the public network calls the clinic's number and holds on `patience` seconds at most."""
        if self.carrier is None:
            raise AssertionError(
                "no link to the carrier's AMI: start with running_service(..., carrier_ami=True)"
            )
        reply = await self.carrier.send(
            "Originate",
            [
                ("Channel", f"PJSIP/{did}@clinic"),
                ("Application", "Wait"),
                ("Data", str(patience)),
                ("CallerID", f'"" <{caller.lstrip("+")}>'),
                ("Async", "true"),
            ],
        )
        assert reply.get("Response") == "Success", reply

    async def dial_out(self, number: str, channel_id: str) -> None:
        """The administrator at STAFF_PHONE picks up their phone and dials the patient over the trunk."""
        reply = await self.ami.send(
            "Originate",
            [
                ("Channel", f"Local/{STAFF_PHONE}@sandbox-agents"),
                ("Context", "from-internal"),
                ("Exten", number.lstrip("+")),
                ("Priority", "1"),
                ("Async", "true"),
                ("ChannelId", channel_id),
            ],
        )
        assert reply.get("Response") == "Success", reply

    async def hung_up(self, uniqueid: str, timeout: float) -> None:
        await self.ami.wait_for(
            lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == uniqueid, timeout
        )

    def tasks(self) -> list[Any]:
        return (
            self.home.query("select * from callback_tasks order by task_id")
            if self.home.has_database()
            else []
        )

    def calls(self) -> list[Any]:
        return (
            self.home.query("select * from inbound_calls order by started_at")
            if self.home.has_database()
            else []
        )

    async def until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """`until`, with the callback tasks in the failure: what a scenario most needs to see when it fails."""
        try:
            return await until(check, what, timeout=timeout, every=0.25)
        except AssertionError as failure:
            raise AssertionError(f"{failure}; tasks={[dict(t) for t in self.tasks()]}") from None


@contextlib.asynccontextmanager
async def running_service(
    sandbox: SandboxHandle,
    root: Path,
    clinic: ClinicTime | None = None,
    *,
    carrier_ami: bool = False,
    database_url: str = "",
    **config: Any,
) -> AsyncIterator[Service]:
    """`dialer run` on the clinic's clock (by default 11:00 on a working day in Moscow, whatever the host's hour),
    with `service_config(**config)`; `carrier_ami` also logs in to the carrier's AMI, for
    `call_from_public_network`. Nobody is in the reception queue when it starts (a test puts its administrators
    there), so that no callback rings anyone the test did not expect. Its database is `database_url` (the
    `database_url` fixture's, to run the scenario on each backend), by default the SQLite file under `root`."""
    clinic = clinic or ClinicTime.morning()
    port = free_port()
    async with (
        contextlib.AsyncExitStack() as links,
        FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio,
    ):
        await no_calls_left(sandbox)
        home = DialerHome(root, database_url=database_url)
        home.write(service_config(sandbox, twilio, port, clinic, database_url=database_url, **config))
        ami = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
        links.push_async_callback(ami.close)
        service = Service(home, ami, sandbox, twilio, f"http://127.0.0.1:{port}", clinic)
        if carrier_ami:
            carrier_port = sandbox.sandbox.layout.carrier_ami_port
            service.carrier = await RawAmi.logged_in(
                sandbox.host, carrier_port, CARRIER_USERNAME, sandbox.secret
            )
            links.push_async_callback(service.carrier.close)
        await service.set_global("DIALER_QUEUE_TIMEOUT", "30")
        await service.set_global("DIALER_INBOUND_QUEUE", QUEUE)
        await service.admins()
        service.process = await start_service(home.root, home.config)
        try:
            await wait_healthy(service.base, timeout=30)
            yield service
            # Whatever ran on this config wrote to the database it names, not to a SQLite file of its own.
            if database_url and home.db.exists():
                raise AssertionError(f"something wrote to {home.db} instead of the test's database")
        finally:
            if service.process is not None:
                await stop_service(service.process, grace=20)
            await service.admins()


async def no_calls_left(sandbox: SandboxHandle, timeout: float = 10) -> None:
    """Hang up whatever an earlier test left on the shared sandbox and its carrier: a caller still waiting in the
    reception queue would be followed by this test's service as one of its clinic's calls."""
    for rx in (sandbox.rx, sandbox.sandbox.carrier_rx):
        await asyncio.to_thread(rx, "channel request hangup all")
    deadline = time.monotonic() + timeout
    while (left := await asyncio.to_thread(sandbox.rx, "core show channels count")).split()[0] != "0":
        if time.monotonic() > deadline:
            raise AssertionError(f"the sandbox still has calls up: {left.strip()}")
        await asyncio.sleep(0.2)


Check = Callable[[], Awaitable[bool]]


async def call_in(ami: RawAmi, caller: str, patience: float) -> None:
    """A patient calls DID 100 of the Asterisk behind `ami` and stays on the line `patience` seconds at most."""
    reply = await ami.send(
        "Originate",
        [
            ("Channel", "Local/100@clinic-inbound"),
            ("Application", "Wait"),
            ("Data", str(patience)),
            ("Async", "true"),
            ("CallerID", f'"Пациент" <{caller.lstrip("+")}>'),
        ],
    )
    assert reply.get("Response") == "Success", reply


async def in_queue(ami: RawAmi, caller: str) -> Frame:
    """The caller's QueueCallerJoin, as that Asterisk tells it."""
    return await ami.wait_for(
        lambda f: f.get("Event") == "QueueCallerJoin" and f.get("CallerIDNum") == caller.lstrip("+"), 20
    )
