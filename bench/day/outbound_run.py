"""The outbound lists in a day run: the files imported with `dialer import`, as the clinic's cron does, and the
service's SMS pointed at a local Twilio-compatible server (the official client's target), whose messages are
what the patients' phones received."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from bench.day.outbound import OutboundDay, Windows, appointments_file, campaigns_config, recalls_file
from bench.lib.clinic import ClinicTime
from tests.fakes.twilio_server import FakeTwilio

SMS_NONE = '[sms]\nprovider = "none"\n'


def with_outbound(
    config: str, twilio: FakeTwilio, clinic: ClinicTime, windows: Windows, min_gap: float
) -> str:
    """A node's configuration with the reminder and КОС campaigns and the SMS gateway."""
    if SMS_NONE not in config:
        raise ValueError("the day's configuration has no [sms] table to replace")
    sms = f"""[sms]
provider = "twilio"
status_poll_interval = "1s"

[sms.twilio]
account_sid = "{twilio.account_sid}"
auth_token = "{twilio.auth_token}"
from_number = "+15005550006"
api_base = "{twilio.url}"
"""
    return config.replace(SMS_NONE, sms, 1) + campaigns_config(clinic, windows, min_gap)


async def import_lists(
    day: OutboundDay, clinic: ClinicTime, home: Path, config: Path, env: dict[str, str], python: str
) -> list[str]:
    """`dialer import appointments` (tomorrow's visits) and `dialer import kos` (today's recalls); their output."""
    today = clinic.today
    files = {
        "appointments": (home / "appointments.csv", appointments_file(day, today + timedelta(days=1))),
        "kos": (home / "kos.csv", recalls_file(day, today)),
    }
    said = []
    for kind, (path, text) in files.items():
        path.write_text(text, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            python, "-m", "dialer", "--config", str(config), "import", kind, str(path),
            cwd=home, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        if process.returncode != 0:
            raise RuntimeError(f"dialer import {kind} failed ({process.returncode}): {out.decode()[-500:]}")
        said.append(f"import {kind}: {out.decode().strip().splitlines()[-1] if out.strip() else 'ok'}")
    return said


def received(twilio: FakeTwilio) -> list[dict[str, str]]:
    """Every message the server took: to whom, when (UTC, ISO)."""
    return [{"to": m.to, "at": m.date_created.isoformat()} for m in twilio.messages]
