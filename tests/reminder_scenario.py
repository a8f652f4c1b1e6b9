"""The reminder scenario shared by the campaign tests: one far end per behaviour, rung over the sandbox's PJSIP
trunk to its carrier (clinic c1), and the two patients the carrier cannot play on `Local/` channels (clinic c2)."""

from __future__ import annotations

import asyncio
import random

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import FakeTwilio
from tests.service_toml import CARRIER_TRUNK, SIM_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, sim_phone
from tests.timed_patients import Timed

# What the customer's plan (2 calls in the first window, 1 in the second, then SMS) must do with each far end:
# (final status, calls placed, SMS sent).
EXPECTED = {
    "1": ("confirmed", 1, 0),
    "2": ("not_reached", 3, 1),
    "3": ("not_reached", 3, 1),
    # The network's own failures: the first two congested calls do not use up the patient's calls.
    "4": ("not_reached", 5, 1),
    "5": ("cancelled", 1, 0),
    "6": ("to_admin", 1, 0),
    "7": ("reached_unconfirmed", 3, 0),
    "8": ("reached_unconfirmed", 3, 0),
    "9": ("confirmed", 2, 0),
    # A wrong number is called once, marked for the administrators to check, and never texted.
    "0": ("invalid_number", 1, 0),
    # Switched off: the next try waits an hour, past the compressed plan's end, so the SMS follows the one call.
    "off": ("not_reached", 1, 1),
    # Consent: a do-not-call patient is never dialled but gets the SMS; a busy one without SMS consent gets none.
    "dnc": ("do_not_call", 0, 1),
    "nosms": ("not_reached", 3, 0),
    # Early pressers: a key pressed during the greeting, the date or the menu is the answer, even when they hang
    # up right after it, and the call is never made again.
    "early1": ("confirmed", 1, 0),
    "early2gone": ("cancelled", 1, 0),
    "at3s1gone": ("confirmed", 1, 0),
    "menu1gone": ("confirmed", 1, 0),
    "quick12": ("confirmed", 1, 0),
}
# What the service made of each call, from what the network said (the attempts' `result`, in order).
RESULTS = {
    "0": ["invalid_number"],
    "1": ["answered"],
    "2": ["busy"] * 3,
    "3": ["no_answer"] * 3,
    "4": ["congestion"] * 5,
    "7": ["answered"] * 3,
    "off": ["unavailable"],
    "early2gone": ["answered"],
}
CARRIER = {
    "1": CarrierPatient(FarEnd.PERSON, key="1"),
    "2": CarrierPatient(FarEnd.BUSY),
    "3": CarrierPatient(FarEnd.RINGS_OUT),
    "4": CarrierPatient(FarEnd.CONGESTION),
    "5": CarrierPatient(FarEnd.PERSON, key="2", voice=1),
    "6": CarrierPatient(FarEnd.PERSON, key="3", voice=2),
    # Picks up, says nothing, puts the phone down after 4 s (the 30 s open line would hold each of its three
    # calls for 40 s, the IVR's whole patience, and the campaign with it).
    "7": CarrierPatient(FarEnd.SILENT, voice=1, gone_at_once=True),
    "8": CarrierPatient(FarEnd.EARLY_PRESSER, key="9", voice=1),  # a key outside the menu, then 6 s more
    "0": CarrierPatient(FarEnd.UNALLOCATED),
    "off": CarrierPatient(FarEnd.SWITCHED_OFF, voice=2),
    "dnc": CarrierPatient(FarEnd.PERSON, key="1"),
    "nosms": CarrierPatient(FarEnd.BUSY, voice=1),
    "early1": CarrierPatient(FarEnd.EARLY_PRESSER, key="1"),  # knows the menu: +1 s, hangs up 6 s later
    "early2gone": CarrierPatient(FarEnd.EARLY_PRESSER, key="2", voice=1, gone_at_once=True),
    "at3s1gone": CarrierPatient(FarEnd.EARLY_PRESSER, key="1", press_at=3, voice=2, gone_at_once=True),
    # The greeting, the date and the doctor take about 8.7 s with this doctor's prompt; the menu follows.
    "menu1gone": CarrierPatient(FarEnd.EARLY_PRESSER, key="1", press_at=9, gone_at_once=True),
}
# Kept on `Local/` patients (tests/asterisk/patients.conf, clinic c2), for what the carrier has no number for:
# "9" needs a memory across calls (no key on the first, 1 on the second), and "quick12" presses two keys in one
# go, where a carrier's person presses one.
LOCAL_TIMED = {"quick12": Timed(1.0, "12", 9)}  # "12" in one go: 1 counts, 2 is logged as ignored
LOCAL = {"9", *LOCAL_TIMED}
FLAGS = {"dnc": {"do_not_call": "да"}, "nosms": {"consent_sms": "нет"}}


def scenario_phones(rng: random.Random) -> dict[str, str]:
    """Every patient's number, new each run: the serials differ, so no two far ends share their last 8 digits
    (the fake gateway fails delivery by them)."""
    serials = iter(rng.sample(range(10000), len(CARRIER)))
    phones = {key: patient.number(next(serials)) for key, patient in CARRIER.items()}
    phones["9"] = sim_phone("9", rng)
    phones.update({key: f"+{t.number(f'{rng.randrange(100):02d}')}" for key, t in LOCAL_TIMED.items()})
    return phones


def scenario_rows(phones: dict[str, str], visit_date: str) -> list[dict[str, str]]:
    return [
        {
            "appointment_id": f"A{key}",
            "clinic": "c2" if key in LOCAL else "c1",
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
    return service_toml(
        sandbox,
        twilio,
        web_port,
        clinic,
        # Longer than the switched-off announcement (up to 4.6 s): a clinic that gives up sooner never hears the 480.
        trunk_table(CARRIER_TRUNK, ring_timeout="6s"),
        trunk_table(SIM_TRUNK, max_channels=4),
        clinic_entry(clinic, CARRIER_TRUNK),
        clinic_entry(
            clinic, SIM_TRUNK, clinic_id="c2", name="Клиника «Улыбка», филиал", phone="+7 495 123-45-68"
        ),
        f"""
[campaigns.reminders]
windows = [{w1}, {w2}]
same_day_confirmation = false
""",
    )


# The day's whole reminder campaign, run to its end, with 20 s for the last SMS receipts.
REMINDERS_UNTIL_DONE = ("campaign", "run", "reminders", "--until-done", "--sms-wait", "20", "--date")


async def run_cli(home: DialerHome, *args: str, timeout: float) -> tuple[int, str, str]:
    process = await home.start(*args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()
