"""A run's world: the simulated patients and administrators, the lines that are busy, what a mode's run kept."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bench.lib.rawami import Frame, RawAmi

QUEUES = ("bench-kos", "bench-kos-rr")  # tests/asterisk/queues_test.conf: ringall (as shipped) / rrmemory


# Their own extensions (tests/asterisk/sandbox_extra.conf): the integration tests use admin1..3 and the peak-hour
# benchmark admin1..5 on the same sandbox, and a shared administrator's device state would pace both.
ADMINS = ("admin10", "admin11", "admin12", "admin13", "admin14")


DEFAULT_MIX = "1:120,3:50,2:30"  # 60 % answer, 25 % no answer, 15 % busy


PATIENT = re.compile(r"^Local/(\d+)@patients-[0-9a-f]+;1$")


ADMIN = re.compile(r"^Local/(admin\d+)@sandbox-agents-[0-9a-f]+;1$")


BEHAVIOURS = {"1": "answers", "2": "busy", "3": "no answer"}


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

    def wall(self, real: float) -> float:
        return real / self.factor


@dataclass(frozen=True)
class Patient:
    n: int
    phone: str  # E.164
    behaviour: str  # the number's last digit
    talk: float  # wall seconds the administrator talks once connected

    @property
    def digits(self) -> str:
        return self.phone.lstrip("+")


def patient_lists(mix: dict[str, int], scale: Scale, seed: int) -> dict[str, list[Patient]]:
    """The same behaviours and talk times, in the same order, for both modes; fresh numbers for each (the
    sandbox's patients are told apart by number, and another run must never pick one of ours up)."""
    rng = random.Random(seed)
    behaviours = [d for d, count in mix.items() for _ in range(count)]
    rng.shuffle(behaviours)
    low, high = scale.talk_real
    talks = [round(scale.wall(rng.uniform(low, high)), 1) for _ in behaviours]
    numbers = random.Random()  # not seeded: the numbers must differ from run to run
    used: set[str] = set()
    lists: dict[str, list[Patient]] = {}
    for mode in ("progressive", "preview"):
        patients = []
        for n, (digit, talk) in enumerate(zip(behaviours, talks, strict=True), start=1):
            phone = ""
            while not phone or phone in used:
                phone = "+7916" + "".join(str(numbers.randrange(10)) for _ in range(6)) + digit
            used.add(phone)
            patients.append(Patient(n, phone, digit, talk))
        lists[mode] = patients
    return lists


class Talks:
    """Sets each administrator's talk time for the patient Asterisk is ringing them for (AgentCalled names
    the patient's channel), so that a patient talks as long whoever takes them, in both modes."""

    def __init__(self, ami: RawAmi, patients: Iterable[Patient], queue: str) -> None:
        self.ami = ami
        self.queue = queue
        self.talk = {p.digits: p.talk for p in patients}
        self.pending: set[asyncio.Task[None]] = set()
        self.set = 0
        self.unknown = 0

    def on_event(self, frame: Frame) -> None:
        if frame.get("Event") != "AgentCalled" or frame.get("Queue") != self.queue:
            return
        admin = frame.get("Interface", "").removeprefix("Local/").split("@")[0]
        patient = PATIENT.match(frame.get("Channel", ""))
        talk = self.talk.get(patient.group(1)) if patient else None
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

    def __init__(self, patients: Iterable[Patient]) -> None:
        self.numbers = {p.digits for p in patients}
        self.dialled: set[str] = set()
        self.open: set[str] = set()  # channel names
        self.ids: set[str] = set()  # the patients' channel ids (Linkedid of their administrators' legs)

    def on_event(self, frame: Frame) -> None:
        name, channel = frame.get("Event"), frame.get("Channel", "")
        if name == "Newchannel":
            patient = PATIENT.match(channel)
            if patient and patient.group(1) in self.numbers:
                self.dialled.add(patient.group(1))
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


def is_patient_start(frame: Frame, numbers: set[str]) -> bool:
    patient = PATIENT.match(frame.get("Channel", ""))
    return frame.get("Event") == "Newchannel" and patient is not None and patient.group(1) in numbers
