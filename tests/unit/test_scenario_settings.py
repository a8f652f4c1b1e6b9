"""The settings the sandbox scenarios give their service, read by the service's own parser: a key it does not
know, or a clinic whose trunk dials the wrong place, fails here in milliseconds rather than minutes into a run
on the sandbox (tests/service_toml.py builds them all)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bench.lib.carrier_numbers import TRUNK_DIAL
from bench.lib.clinic import ClinicTime
from dialer.sandbox import Sandbox
from dialer.settings import Settings, parse_settings
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import FakeTwilio
from tests.inbound_scenario import QUEUE_DID, RING_GROUP_DID, service_config
from tests.integration.test_machines import _config as machines_config
from tests.kos_scenario import kos_config
from tests.reminder_scenario import campaign_config
from tests.service_toml import SIM_TRUNK

SANDBOX = SandboxHandle(Sandbox(), "127.0.0.1", 5038, "dialer", "a-sandbox-secret-of-some-length")
LOCAL_DIAL = "Local/{number}@patients"


def read(text: str) -> Settings:
    return parse_settings(tomllib.loads(text), Path("/srv/dialer/dialer.toml"))


def dials(settings: Settings) -> dict[str, str]:
    """Each clinic's trunk's dial string."""
    return {key: settings.trunks[clinic.trunk].dial for key, clinic in settings.clinics.items()}


def test_the_missed_call_service_dials_the_carrier_unless_a_test_asks_for_local_patients() -> None:
    clock, twilio = ClinicTime.morning(), FakeTwilio()
    carrier = read(service_config(SANDBOX, twilio, 8081, clock, extra=kos_config(8082)))
    local = read(service_config(SANDBOX, twilio, 8081, clock, trunk=SIM_TRUNK))
    assert dials(carrier) == {"c1": TRUNK_DIAL}
    assert dials(local) == {"c1": LOCAL_DIAL}
    # The FreePBX-style flows' numbers are the clinic's, their contexts the installation's.
    assert {QUEUE_DID, RING_GROUP_DID} <= set(carrier.clinics["c1"].dids)
    assert "from-pstn" in carrier.inbound.contexts and "from-internal" in carrier.inbound.staff_contexts
    assert (carrier.service.listen_port, carrier.ami.port) == (8081, SANDBOX.port)


def test_the_reminder_scenarios_dial_the_carrier_and_keep_local_patients_apart() -> None:
    clock, twilio = ClinicTime.morning(), FakeTwilio()
    reminders = read(campaign_config(SANDBOX, twilio, 8083, clock, first=(-60, 50), second=(52, 100)))
    machines = read(machines_config(SANDBOX, twilio, 8084, clock))
    assert dials(reminders) == {"c1": TRUNK_DIAL, "c2": LOCAL_DIAL}
    assert dials(machines) == {"c1": TRUNK_DIAL}
    assert len(reminders.reminders.plan.windows) == len(machines.reminders.plan.windows) == 2


def test_a_service_behind_the_tests_ami_proxy_reaches_it_and_comes_back_within_a_second() -> None:
    clock, twilio = ClinicTime.morning(), FakeTwilio()
    behind = read(service_config(SANDBOX, twilio, 8085, clock, ami_proxy_port=9099, queue_log=False))
    direct = read(service_config(SANDBOX, twilio, 8085, clock))
    assert (behind.ami.port, behind.ami.reconnect_max_delay, behind.inbound.queue_log) == (9099, 1, "")
    assert direct.ami.port == SANDBOX.port and direct.inbound.queue_log.endswith("var/log/asterisk/queue_log")
    assert direct.ami.reconnect_max_delay > 1
