"""A running `dialer run` service on the sandbox, with simulated callers and administrators, for the
missed-call tests. Callers come in on `Local/` channels into the shipped inbound dialplan; the clinic calls them
back over the PJSIP trunk, where the sandbox's carrier answers for them by their number."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.lib.carrier_numbers import TRUNK_DIAL, CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support import DialerHome, ami_section, until

QUEUE = "test-reception"
ADMINS = ("admin1", "admin2", "admin3")


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
    trunk: str = "sim",
) -> str:
    """`trunk` is "carrier" (PJSIP to the sandbox's carrier: the missed-call tests) or "sim" (`Local/` patients
    of tests/asterisk/patients.conf, for the tests whose patients the carrier has not taken over yet)."""
    return f"""
{clinic.rehearsal()}
[service]
data_dir = "var"
listen_port = {port}
public_url = "http://127.0.0.1:{port}"
{ami_section(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)}
[trunks.carrier]
dial = "{TRUNK_DIAL}"
max_channels = 10
calls_per_second = 10
ring_timeout = "4s"

[trunks.sim]
dial = "Local/{{number}}@patients"
max_channels = 10
calls_per_second = 10
ring_timeout = "4s"

[[clinics]]
id = "c1"
name = "Клиника «Улыбка»"
timezone = "{clinic.tz.key}"
phone = "+7 495 123-45-67"
trunk = "{trunk}"
dids = ["100", "201", "202", "203"]
queues = ["{QUEUE}"]
hours = [{hours}]
callback_mode = "{mode}"
supervisor_phone = "+7 916 999-00-11"
skip_holidays = false

[inbound]
contexts = ["clinic-inbound", "test-direct"]
staff_contexts = ["test-staff-outbound"]
queue_log = "{sandbox.sandbox.layout.root / "var/log/asterisk/queue_log"}"

[campaigns.callbacks]
deadline = "{deadline}"
min_gap = "3s"
ring_timeout = "4s"
admin_ring = "4s"
{extra}

[alerts]
{alerts}

[sms]
provider = "twilio"
status_poll_interval = "1s"

[sms.twilio]
account_sid = "{twilio.account_sid}"
auth_token = "{twilio.auth_token}"
from_number = "+15005550006"
api_base = "{twilio.url}"
"""


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

    def tasks(self) -> list[Any]:
        return (
            self.home.query("select * from callback_tasks order by task_id") if self.home.db.exists() else []
        )

    def calls(self) -> list[Any]:
        return (
            self.home.query("select * from inbound_calls order by started_at")
            if self.home.db.exists()
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
    sandbox: SandboxHandle, root: Path, clinic: ClinicTime | None = None, **config: Any
) -> AsyncIterator[Service]:
    """`dialer run` on the clinic's clock (by default 11:00 on a working day in Moscow, whatever the host's hour)."""
    clinic = clinic or ClinicTime.morning()
    port = free_port()
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        home = DialerHome(root)
        home.write(service_config(sandbox, twilio, port, clinic, **config))
        ami = await RawAmi.connect(sandbox.host, sandbox.port)
        await ami.login(sandbox.username, sandbox.secret)
        service = Service(home, ami, sandbox, twilio, f"http://127.0.0.1:{port}", clinic)
        await service.set_global("DIALER_QUEUE_TIMEOUT", "30")
        await service.set_global("DIALER_INBOUND_QUEUE", QUEUE)
        service.process = await start_service(home.root, home.config)
        try:
            await wait_healthy(service.base, timeout=30)
            yield service
        finally:
            if service.process is not None:
                await stop_service(service.process, grace=20)
            await service.admins()
            await ami.close()


Check = Callable[[], Awaitable[bool]]
