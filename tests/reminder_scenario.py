"""The reminder scenario shared by the campaign tests: one simulated patient per behaviour."""

from __future__ import annotations

import asyncio
import random

from bench.lib.clinic import ClinicTime
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import FakeTwilio
from tests.support import DialerHome, ami_section, sim_phone
from tests.timed_patients import Timed

# What the customer's plan (2 calls in the first window, 1 in the second, then SMS) must do with each
# simulated behaviour: (final status, calls placed, SMS sent). Keys are the number's last digit.
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
    # Consent: a do-not-call patient is never dialled but gets the SMS; a busy one without SMS consent gets none.
    "dnc": ("do_not_call", 0, 1),
    "nosms": ("not_reached", 3, 0),
    # Patients who keep their own time (TIMED below): a key pressed during the greeting, the date or the menu
    # is the answer, even when they hang up right after it, and the call is never made again.
    "early1": ("confirmed", 1, 0),
    "early2gone": ("cancelled", 1, 0),
    "at3s1gone": ("confirmed", 1, 0),
    "menu1gone": ("confirmed", 1, 0),
    "quick12": ("confirmed", 1, 0),
}
TIMED = {
    "early1": Timed(1.0, "1", 6),  # the patient: presses at +1 s, hangs up 6 s later
    "early2gone": Timed(1.0, "2", 0),
    "at3s1gone": Timed(3.0, "1", 0),
    # The greeting, the date and the doctor take about 8.7 s with this doctor's prompt; the menu follows.
    "menu1gone": Timed(9.5, "1", 0),
    "quick12": Timed(1.0, "12", 9),  # "12" in one go: 1 counts, 2 is logged as ignored
}
BEHAVIOUR = {"dnc": "1", "nosms": "2"}
FLAGS = {"dnc": {"do_not_call": "да"}, "nosms": {"consent_sms": "нет"}}


def scenario_phones(rng: random.Random) -> dict[str, str]:
    return {
        key: f"+{TIMED[key].number(f'{rng.randrange(100):02d}')}"
        if key in TIMED
        else sim_phone(BEHAVIOUR.get(key, key), rng)
        for key in EXPECTED
    }


def scenario_rows(phones: dict[str, str], visit_date: str) -> list[dict[str, str]]:
    return [
        {
            "appointment_id": f"A{key}",
            "clinic": "c1",
            "patient_name": f"Пациент Тестовый {key}",
            "phone": phones[key],
            "visit_date": visit_date,
            "visit_time": "10:30",
            "doctor": "Иванова Мария Петровна",
            **FLAGS.get(key, {}),
        }
        for key in EXPECTED
    ]


def campaign_config(
    sandbox: SandboxHandle,
    twilio: FakeTwilio,
    web_port: int,
    clinic: ClinicTime,
    first: tuple[float, float],
    second: tuple[float, float],
) -> str:
    """The customer's plan compressed into two windows `first` and `second` (seconds from the clinic's now)."""
    w1 = f'{{start="{clinic.hhmmss(first[0])}", end="{clinic.hhmmss(first[1])}", attempts=2, min_gap="3s"}}'
    w2 = f'{{start="{clinic.hhmmss(second[0])}", end="{clinic.hhmmss(second[1])}", attempts=1}}'
    return f"""
{clinic.rehearsal()}
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
timezone = "{clinic.tz.key}"
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


# The day's whole reminder campaign, run to its end, with 20 s for the last SMS receipts.
REMINDERS_UNTIL_DONE = ("campaign", "run", "reminders", "--until-done", "--sms-wait", "20", "--date")


async def run_cli(home: DialerHome, *args: str, timeout: float) -> tuple[int, str, str]:
    process = await home.start(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()
