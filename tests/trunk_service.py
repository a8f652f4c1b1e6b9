"""A running `dialer run` on the sandbox set up as an installation beside FreePBX would be: the missed-call
service's settings (tests/inbound_scenario.py) plus the FreePBX-style DIDs and contexts of
tests/asterisk/freepbx.conf, callers from the public network through the carrier, and administrators who dial
patients out over the trunk from their own extensions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from dialer.sandbox.carrier import CARRIER_USERNAME
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.inbound_scenario import QUEUE, Service, service_config
from tests.support import DialerHome

QUEUE_DID, RING_GROUP_DID = "4957300001", "4957300002"
FREEPBX_QUEUE = "freepbx-7001"
STAFF_PHONE = "admin9"  # the administrator's desk phone that dials out (tests/asterisk/freepbx.conf)

_DIDS = 'dids = ["100", "201", "202", "203"]'
_CONTEXTS = 'contexts = ["clinic-inbound", "test-direct"]'
_STAFF = 'staff_contexts = ["test-staff-outbound"]'


def freepbx_config(config: str) -> str:
    """The installation's settings for the FreePBX-style flows: their DIDs belong to the clinic, from-pstn is
    an inbound context (the trunk's own in FreePBX) and from-internal the administrators' one."""
    for line in (_DIDS, _CONTEXTS, _STAFF):
        if line not in config:
            raise AssertionError(f"tests/inbound_scenario.py's settings changed: no {line!r}")
    return (
        config.replace(_DIDS, f'dids = ["100", "201", "202", "203", "{QUEUE_DID}", "{RING_GROUP_DID}"]')
        .replace(_CONTEXTS, 'contexts = ["clinic-inbound", "from-pstn", "test-direct"]')
        .replace(_STAFF, 'staff_contexts = ["test-staff-outbound", "from-internal"]')
    )


class TrunkService(Service):
    carrier: RawAmi

    async def call_from_public_network(self, did: str, caller: str, patience: float) -> None:
        """A patient on the public network calls the clinic's number and holds on `patience` seconds at most."""
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


@contextlib.asynccontextmanager
async def trunk_service(
    sandbox: SandboxHandle, root: Path, clinic: ClinicTime | None = None
) -> AsyncIterator[TrunkService]:
    """`dialer run` on the clinic's clock (11:00 on a working day in Moscow, whatever the host's hour), nobody
    in the reception queue, so that no callback rings anyone while a test looks at what the calls left."""
    clinic = clinic or ClinicTime.morning()
    port = free_port()
    layout = sandbox.sandbox.layout
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        home = DialerHome(root)
        home.write(freepbx_config(service_config(sandbox, twilio, port, clinic)))
        ami = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
        carrier = await RawAmi.logged_in(
            sandbox.host, layout.carrier_ami_port, CARRIER_USERNAME, sandbox.secret
        )
        service = TrunkService(home, ami, sandbox, twilio, f"http://127.0.0.1:{port}", clinic)
        service.carrier = carrier
        await service.set_global("DIALER_QUEUE_TIMEOUT", "30")
        await service.set_global("DIALER_INBOUND_QUEUE", QUEUE)
        await service.admins()
        service.process = await start_service(home.root, home.config)
        try:
            await wait_healthy(service.base, timeout=30)
            yield service
        finally:
            if service.process is not None:
                await stop_service(service.process, grace=20)
            await carrier.close()
            await ami.close()
