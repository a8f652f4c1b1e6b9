"""A run's world: the simulated patients and administrators, the lines that are busy, what a mode's run kept."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.rawami import Frame, RawAmi

QUEUES = ("bench-kos", "bench-kos-rr")  # tests/asterisk/queues_test.conf: ringall (as shipped) / rrmemory


# Their own extensions (tests/asterisk/sandbox_extra.conf): the integration tests use admin1..3 and the peak-hour
# benchmark admin1..5 on the same sandbox, and a shared administrator's device state would pace both.
ADMINS = ("admin10", "admin11", "admin12", "admin13", "admin14")


# The carrier's far ends by last digit (dialer/sandbox/carrier_dialplan.py), as a clinic's
# list: 45 % a person, 20 % ringing out, 10 % busy, 15 % machines (8 % voicemail, 7 % a voice assistant),
# 5 % switched off, 5 % wrong numbers.
DEFAULT_MIX = "1:90,3:40,2:20,8:16,9:14,5:10,0:10"
# The `Local/` patients of tests/asterisk/patients.conf (--local): 60 % answer, 25 % no answer, 15 % busy.
LOCAL_MIX = "1:120,3:50,2:30"
PEOPLE = ("1",)  # the behaviours that are a patient on the line
MACHINES = ("8", "9")


PATIENT = re.compile(r"^Local/(\d+)@patients-[0-9a-f]+;1$")


ADMIN = re.compile(r"^Local/(admin\d+)@sandbox-agents-[0-9a-f]+;1$")


BEHAVIOURS = {
    "1": "answers",
    "2": "busy",
    "3": "no answer",
    "0": "wrong number",
    "5": "switched off",
    "8": "voicemail",
    "9": "voice assistant",
}


PASSWORD = "пароль-для-бенча"


# Free (1) or ringing (6): an administrator a waiting patient may still get (tests/kos_scenario.py's rule).
AVAILABLE = ("1", "6")


@dataclass(frozen=True)
class Scale:
    """Real durations and the compression factor that turns them into wall time on the sandbox."""

    factor: float = 10.0
    talk_real: tuple[float, float] = (60.0, 140.0)
    card_real: float = 10.0
    ring_timeout_real: float = 30.0
    machine_real: float = 8.0  # an administrator put through to a voicemail or an assistant hangs up
    # The carrier's far ends ring 1-3 s before they answer, in real seconds: a compressed ring timeout below
    # this would turn people into "no answer".
    ring_timeout_floor: float = 5.0

    def wall(self, real: float) -> float:
        return real / self.factor

    @property
    def ring_timeout_wall(self) -> float:
        return max(self.wall(self.ring_timeout_real), self.ring_timeout_floor)


@dataclass(frozen=True)
class Patient:
    n: int
    phone: str  # E.164
    behaviour: str  # the number's last digit
    talk: float  # wall seconds the administrator talks once connected

    @property
    def digits(self) -> str:
        return self.phone.lstrip("+")


def patient_lists(
    mix: dict[str, int], scale: Scale, seed: int, *, local: bool = False
) -> dict[str, list[Patient]]:
    """The same behaviours and talk times, in the same order, for both modes; fresh numbers for each (the
    sandbox's patients are told apart by number, and another run must never pick one of ours up). Carrier
    numbers by default (voices vary with the seed); `local`: tests/asterisk/patients.conf numbers."""
    rng = random.Random(seed)
    behaviours = [d for d, count in mix.items() for _ in range(count)]
    rng.shuffle(behaviours)
    low, high = scale.talk_real
    talks = [
        round(scale.wall(scale.machine_real if d in MACHINES else rng.uniform(low, high)), 1)
        for d in behaviours
    ]
    voices = [rng.randrange(3) for _ in behaviours]
    numbers = random.Random()  # not seeded: the numbers must differ from run to run
    serials = numbers.sample(range(10_000), 2 * len(behaviours))
    used: set[str] = set()
    lists: dict[str, list[Patient]] = {}
    for mode in ("progressive", "preview"):
        patients = []
        for n, (digit, talk) in enumerate(zip(behaviours, talks, strict=True), start=1):
            phone = ""
            if not local:
                phone = CarrierPatient(FarEnd(digit), voice=voices[n - 1]).number(serials.pop())
            while not phone or phone in used:
                phone = "+7916" + "".join(str(numbers.randrange(10)) for _ in range(6)) + digit
            used.add(phone)
            patients.append(Patient(n, phone, digit, talk))
        lists[mode] = patients
    return lists


class Registry:
    """Whose call a channel is. A `Local/` patient's number is in its channel's name; a trunk's channel
    (PJSIP/trunk-…) names no number, so its Uniqueid says: the preview bench sets it (ChannelId), and the
    service's attempt id is looked up in the service's database, where the attempt is written before the
    Originate goes out."""

    def __init__(
        self, patients: Iterable[Patient], db: Path | None = None, ids: dict[str, str] | None = None
    ):
        self.numbers = {p.digits for p in patients}
        self.db = db
        self.by_id: dict[str, str] = dict(ids or {})  # channel Uniqueid -> the patient's number, digits only

    def add(self, uniqueid: str, digits: str) -> None:
        self.by_id[uniqueid] = digits

    def patient(self, frame: Frame) -> str | None:
        """The number of the patient whose channel this frame is about, if it is one of ours."""
        local = PATIENT.match(frame.get("Channel", ""))
        if local:
            return local.group(1) if local.group(1) in self.numbers else None
        uniqueid = frame.get("Uniqueid", "")
        digits = self.by_id.get(uniqueid)
        if digits is None and self.db is not None and frame.get("Event") == "Newchannel":
            digits = self._attempt_phone(uniqueid)
        return digits if digits in self.numbers else None

    def _attempt_phone(self, uniqueid: str) -> str | None:
        if not frame_is_attempt(uniqueid) or self.db is None or not self.db.exists():
            return None
        with contextlib.closing(sqlite3.connect(self.db, timeout=2)) as conn:
            row = conn.execute("select phone from attempts where attempt_id = ?", (uniqueid,)).fetchone()
        if row is None:
            return None
        self.by_id[uniqueid] = str(row[0]).lstrip("+")
        return self.by_id[uniqueid]


def frame_is_attempt(uniqueid: str) -> bool:
    """The service's attempt ids (installation:campaign:target:n) against Asterisk's own (1700000000.12)."""
    return uniqueid.count(":") >= 2


class Talks:
    """Sets each administrator's talk time for the patient Asterisk is ringing them for (AgentCalled names
    the patient's channel), so that a patient talks as long whoever takes them, in both modes."""

    def __init__(self, ami: RawAmi, patients: Iterable[Patient], queue: str, registry: Registry) -> None:
        self.ami = ami
        self.queue = queue
        self.registry = registry
        self.talk = {p.digits: p.talk for p in patients}
        self.pending: set[asyncio.Task[None]] = set()
        self.set = 0
        self.unknown = 0

    def on_event(self, frame: Frame) -> None:
        if frame.get("Event") != "AgentCalled" or frame.get("Queue") != self.queue:
            return
        admin = frame.get("Interface", "").removeprefix("Local/").split("@")[0]
        patient = self.registry.patient(frame)  # AgentCalled's Channel and Uniqueid are the patient's
        talk = self.talk.get(patient) if patient else None
        if admin not in ADMINS or talk is None:
            self.unknown += 1
            return
        self.set += 1
        # The simulated administrator reads the global when it answers, 1 s after it starts ringing.
        task = asyncio.create_task(self.ami.setvar(f"SIM_TALK_{admin}", f"{talk:.1f}"))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)


class Lines:
    """Which of a mode's calls are up, from the events: the mode is over when every patient was dialled and
    every patient and administrator channel of it has hung up."""

    def __init__(self, patients: Iterable[Patient], registry: Registry) -> None:
        self.registry = registry
        self.numbers = {p.digits for p in patients}
        self.dialled: set[str] = set()
        self.open: set[str] = set()  # channel names
        self.ids: set[str] = set()  # the patients' channel ids (Linkedid of their administrators' legs)

    def on_event(self, frame: Frame) -> None:
        name, channel = frame.get("Event"), frame.get("Channel", "")
        if name == "Newchannel":
            patient = self.registry.patient(frame)
            if patient:
                self.dialled.add(patient)
                self.ids.add(frame.get("Uniqueid", ""))
                self.open.add(channel)
            admin = ADMIN.match(channel)
            if admin and admin.group(1) in ADMINS and frame.get("Linkedid", "") in self.ids:
                self.open.add(channel)
        elif name == "Hangup":
            self.open.discard(channel)

    @property
    def all_done(self) -> bool:
        return self.dialled == self.numbers and not self.open


@dataclass
class ModeRun:
    mode: str
    patients: list[Patient]
    work_start: float  # wall clock: the first dial (progressive) or the first card opened (preview)
    started: float  # wall clock: the mode's set-up began
    ended: float  # wall clock: the mode was over
    notes: dict[str, Any] = field(default_factory=dict)


def is_patient_start(frame: Frame, registry: Registry) -> bool:
    return frame.get("Event") == "Newchannel" and registry.patient(frame) is not None
