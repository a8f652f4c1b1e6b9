"""The `dialer.toml` of a test's service on the sandbox, built in one place: the clinic's clock, the web port,
the sandbox's AMI, the trunks, the clinics and the fake Twilio. A setting the service adds or renames is then
changed here once, not in every scenario that starts a service."""

from __future__ import annotations

from dataclasses import replace

from bench.lib.carrier_numbers import TRUNK_DIAL
from bench.lib.clinic import ClinicTime
from bench.lib.service import service_head
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import FakeTwilio

CARRIER_TRUNK, SIM_TRUNK = "carrier", "sim"
# CARRIER_TRUNK dials the sandbox's carrier over the PJSIP trunk, as a clinic dials the public network; SIM_TRUNK
# dials the `Local/` patients of tests/asterisk/patients.conf, for what the carrier has no number for.
DIALS = {CARRIER_TRUNK: TRUNK_DIAL, SIM_TRUNK: "Local/{number}@patients"}
QUALITY_OFF = "[clinics.quality]\nrecord = false\n"


def trunk_table(name: str, *, ring_timeout: str = "4s", max_channels: int = 10) -> str:
    return f"""
[trunks.{name}]
dial = "{DIALS[name]}"
max_channels = {max_channels}
calls_per_second = 10
ring_timeout = "{ring_timeout}"
"""


def clinic_entry(
    clock: ClinicTime,
    trunk: str,
    *,
    clinic_id: str = "c1",
    name: str = "Клиника «Улыбка»",
    phone: str = "+7 495 123-45-67",
    settings: str = "",
) -> str:
    """One `[[clinics]]` entry on the clinic's time zone; `settings` are more of its keys (DIDs, queues…).

    Its conversations are not recorded (QUALITY_OFF): those services collect no recordings, so their calls
    would only pile files into the sandbox's spool; tests/integration/test_recordings.py turns it on (the
    missed-call, КОС and FreePBX suites also pass with it on)."""
    return f"""
[[clinics]]
id = "{clinic_id}"
name = "{name}"
timezone = "{clock.tz.key}"
phone = "{phone}"
trunk = "{trunk}"
skip_holidays = false
{settings}
{QUALITY_OFF}"""


def service_toml(
    sandbox: SandboxHandle,
    twilio: FakeTwilio,
    web_port: int,
    clock: ClinicTime,
    *sections: str,
    ami_proxy_port: int | None = None,
    database_url: str = "",
) -> str:
    """The whole file: `sections` (trunks, clinics, campaigns, in the order TOML needs them) between the service's
    own settings and the SMS gateway's. With `ami_proxy_port` the service reaches the sandbox's AMI through a
    proxy there (tests/ami_proxy.py), which a test cuts. With `database_url` its database is that one (the
    `database_url` fixture's) rather than the SQLite file under its folder."""
    body = "".join(sections)
    if ami_proxy_port is None:
        head = service_head(clock, web_port, sandbox)
    else:
        # Back within a second of the proxy reopening, rather than after the default backoff of up to 30 s.
        head = service_head(
            clock, web_port, replace(sandbox, port=ami_proxy_port), "reconnect_max_delay = 1\n"
        )
    if database_url:
        head = head.replace("[service]\n", f'[service]\ndatabase_url = "{database_url}"\n', 1)
    return f"""{head}
{body}
[sms]
provider = "twilio"
status_poll_interval = "1s"

[sms.twilio]
account_sid = "{twilio.account_sid}"
auth_token = "{twilio.auth_token}"
from_number = "+15005550006"
api_base = "{twilio.url}"
"""
