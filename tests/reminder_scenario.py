"""The reminder scenario shared by the campaign tests: one simulated patient per behaviour."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import FakeTwilio
from tests.support import DialerHome, ami_section, hhmmss

# What the customer's plan (2 calls in the first window, 1 in the second, then SMS) must do with each
# simulated behaviour: (final status, calls placed, SMS sent).
EXPECTED = {
    "1": ("confirmed", 1, 0),
    "2": ("not_reached", 3, 1),
    "3": ("not_reached", 3, 1),
    "4": ("not_reached", 3, 1),
    "5": ("cancelled", 1, 0),
    "6": ("to_admin", 1, 0),
    "7": ("reached_unconfirmed", 3, 0),
    "8": ("reached_unconfirmed", 3, 0),
    "9": ("confirmed", 2, 0),
    "0": ("invalid_number", 1, 0),
}


def campaign_config(
    sandbox: SandboxHandle,
    twilio: FakeTwilio,
    web_port: int,
    now: datetime,
    tz_name: str,
    first: tuple[float, float],
    second: tuple[float, float],
) -> str:
    tz = ZoneInfo(tz_name)
    w1 = f'{{start="{hhmmss(now, tz, first[0])}", end="{hhmmss(now, tz, first[1])}", attempts=2, min_gap="3s"}}'
    w2 = f'{{start="{hhmmss(now, tz, second[0])}", end="{hhmmss(now, tz, second[1])}", attempts=1}}'
    return f"""
[service]
data_dir = "var"
listen_port = {web_port}
public_url = "http://127.0.0.1:{web_port}"

{ami_section(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)}

[trunks.sim]
dial = "Local/{{number}}@patients"
max_channels = 10
calls_per_second = 10
ring_timeout = "4s"

[[clinics]]
id = "c1"
name = "Клиника «Улыбка»"
timezone = "{tz_name}"
phone = "+7 495 123-45-67"
trunk = "sim"
skip_holidays = false

[campaigns.reminders]
windows = [{w1}, {w2}]
same_day_confirmation = false

[sms]
provider = "twilio"
status_poll_interval = "1s"

[sms.twilio]
account_sid = "{twilio.account_sid}"
auth_token = "{twilio.auth_token}"
from_number = "+15005550006"
api_base = "{twilio.url}"
"""


async def run_cli(home: DialerHome, *args: str, timeout: float) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer",
        "--config",
        str(home.config),
        *args,
        cwd=home.root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()
