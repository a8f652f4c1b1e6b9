"""A reminder campaign of simulated patients, run through the real `dialer` command line.

Shared by `bench.record_stream` (which records the AMI stream of such a run) and `bench.dialer_efficiency`
(which measures how well the run keeps its channels busy). The approach is the one of
tests/integration/test_reminders_campaign.py: a home folder with a dialer.toml, an appointments CSV,
`dialer import appointments`, then `dialer campaign run reminders --date … --until-done`.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bench.lib.carrier_numbers import TRUNK_DIAL, CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.service import free_port
from dialer.sandbox.layout import ENV_DIR, ENV_PORT

# Multi-byte UTF-8 on every channel of the run: Asterisk repeats the CallerID name in most call events.
CYRILLIC_CALLER_ID = '"Смирнова Анна" <74951234567>'
DOCTORS = ("Иванова Мария Петровна", "Кузнецов Пётр Сергеевич", "Шевчук Ольга Юрьевна")
FIRST_NAMES = ("Анна", "Ёлка", "Юрий", "Щукин", "Жанна", "Эльвира", "Фёдор", "Цветана")
LOCAL_DIAL = "Local/{number}@patients"
# A mix's digits are tests/asterisk/patients.conf's behaviours; on the carrier the same people are: a person who
# waits for the menu and presses 1 (confirms) or 2 (cancels), a busy line (486), a silent answer. Any other
# digit is the carrier's outcome of that last digit.
CARRIER_PATIENTS = {
    "1": CarrierPatient(FarEnd.PERSON, key="1"),
    "5": CarrierPatient(FarEnd.PERSON, key="2"),
    "2": CarrierPatient(FarEnd.BUSY),
    "7": CarrierPatient(FarEnd.SILENT),
}


@dataclass(frozen=True)
class Ami:
    host: str
    port: int
    username: str
    secret: str
    # The sandbox these credentials are for, when it is not the one the environment names (bench.record_stream's
    # own): the `dialer` runs are told, so that they accept the [rehearsal] section.
    sandbox_dir: Path | None = None

    def env(self) -> dict[str, str]:
        if self.sandbox_dir is None:
            return {}
        return {ENV_DIR: str(self.sandbox_dir), ENV_PORT: str(self.port)}


def parse_mix(text: str) -> dict[str, int]:
    """'1:90,5:12,2:12,7:6' -> {'1': 90, '5': 12, '2': 12, '7': 6}: patients per simulated behaviour."""
    mix: dict[str, int] = {}
    for part in text.split(","):
        digit, _, count = part.strip().partition(":")
        if len(digit) != 1 or not digit.isdigit() or not count.isdigit():
            raise ValueError(f"bad mix entry {part!r}: want DIGIT:COUNT, e.g. 1:90")
        mix[digit] = mix.get(digit, 0) + int(count)
    return mix


@dataclass
class CampaignHome:
    """A folder with a dialer.toml and an imported appointment list for tomorrow."""

    root: Path
    visit_day: str
    phones: dict[str, str]  # appointment id -> phone
    behaviours: dict[str, str]  # appointment id -> last digit
    env: dict[str, str] = field(default_factory=dict)  # for the `dialer` runs (see Ami.env)

    @property
    def config(self) -> Path:
        return self.root / "dialer.toml"

    @property
    def db(self) -> Path:
        return self.root / "var" / "dialer.db"


def campaign_config(
    clinic: ClinicTime,
    ami: Ami,
    max_channels: int,
    calls_per_second: float,
    ring_timeout_s: int,
    window: str,
    dial: str = LOCAL_DIAL,
) -> str:
    """The service's TOML: the simulated trunk, one clinic on the clinic's clock, one reminder window."""
    return f"""
{clinic.rehearsal()}
[service]
data_dir = "var"
listen_port = {free_port()}

[ami]
host = "{ami.host}"
port = {ami.port}
username = "{ami.username}"
secret = "{ami.secret}"

[trunks.sim]
dial = "{dial}"
max_channels = {max_channels}
calls_per_second = {calls_per_second}
ring_timeout = "{ring_timeout_s}s"
caller_id = '{CYRILLIC_CALLER_ID}'

[[clinics]]
id = "c1"
name = "Клиника «Улыбка»"
timezone = "{clinic.tz.key}"
phone = "+7 495 123-45-67"
trunk = "sim"
skip_holidays = false

[campaigns.reminders]
windows = [{window}]
same_day_confirmation = false
sms_when_not_reached = false

[sms]
provider = "none"
"""


def write_home(
    root: Path,
    ami: Ami,
    mix: dict[str, int],
    *,
    max_channels: int,
    calls_per_second: float,
    ring_timeout_s: int = 20,
    seed: int | None = None,
    carrier: bool = False,
) -> CampaignHome:
    """Config with one calling window around the clinic's now (its 11:00, see ClinicTime) and one attempt per
    patient, SMS off; the CSV; no import yet. `carrier`: the trunk dials the sandbox's carrier, and the
    patients are its people (CARRIER_PATIENTS)."""
    rng = random.Random(seed)
    clinic = ClinicTime.morning()
    local = clinic.local_now()
    start = (local - timedelta(minutes=2)).strftime("%H:%M:%S")
    end = (local + timedelta(hours=2)).strftime("%H:%M:%S")
    visit_day = (local + timedelta(days=1)).date().isoformat()
    root.mkdir(parents=True, exist_ok=True)
    window = f'{{start = "{start}", end = "{end}", attempts = 1}}'
    dial = TRUNK_DIAL if carrier else LOCAL_DIAL
    config = campaign_config(clinic, ami, max_channels, calls_per_second, ring_timeout_s, window, dial)
    root.joinpath("dialer.toml").write_text(config, encoding="utf-8")
    digits = [d for d, n in mix.items() for _ in range(n)]
    rng.shuffle(digits)
    phones: dict[str, str] = {}
    behaviours: dict[str, str] = {}
    used: set[str] = set()
    lines = ["appointment_id,clinic,patient_name,phone,visit_date,visit_time,doctor"]
    serials = rng.sample(range(10_000), len(digits))
    for i, digit in enumerate(digits, start=1):
        phone = ""
        if carrier:
            patient = CARRIER_PATIENTS.get(digit, CarrierPatient(FarEnd(digit)))
            phone = CarrierPatient(patient.far_end, patient.key, voice=i % 3).number(serials[i - 1])
        while not phone or phone in used:
            phone = "+7916" + "".join(str(rng.randrange(10)) for _ in range(6)) + digit
        used.add(phone)
        appointment = f"B{i:04d}"
        phones[appointment] = phone
        behaviours[appointment] = digit
        name = f"{rng.choice(FIRST_NAMES)} Пациентова {i}"
        visit_time = f"{9 + i % 9:02d}:{(i * 5) % 60:02d}"
        lines.append(f"{appointment},c1,{name},{phone},{visit_day},{visit_time},{rng.choice(DOCTORS)}")
    root.joinpath("appointments.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return CampaignHome(root, visit_day, phones, behaviours, ami.env())


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str
    started: float  # wall clock (time.time()) when the process was started
    ended: float

    @property
    def wall(self) -> float:
        return self.ended - self.started


async def run_cli(home: CampaignHome, *args: str, timeout: float, log_level: str = "WARNING") -> CliRun:
    env = {**os.environ, **home.env, "DIALER_LOG_LEVEL": log_level}
    started = time.time()
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
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return CliRun(process.returncode or 0, out.decode(), err.decode(), started, time.time())


async def import_list(home: CampaignHome) -> None:
    run = await run_cli(home, "import", "appointments", str(home.root / "appointments.csv"), timeout=120)
    if run.code != 0:
        raise RuntimeError(f"dialer import failed ({run.code}):\n{run.out}\n{run.err[-2000:]}")


async def run_reminders(home: CampaignHome, *, timeout: float, log_level: str = "INFO") -> CliRun:
    run = await run_cli(
        home,
        "campaign",
        "run",
        "reminders",
        "--date",
        home.visit_day,
        "--until-done",
        "--sms-wait",
        "0",
        timeout=timeout,
        log_level=log_level,
    )
    if run.code != 0:
        raise RuntimeError(f"dialer campaign run failed ({run.code}):\n{run.out}\n{run.err[-3000:]}")
    return run


def mix_summary(mix: dict[str, int]) -> str:
    return ", ".join(f"…{d}×{n}" for d, n in sorted(Counter(mix).items()))
