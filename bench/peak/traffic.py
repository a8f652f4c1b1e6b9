"""The peak hour's traffic, drawn once from a seed and replayed identically against each callback order.

Pure: no I/O. Times are in wall seconds of the compressed run unless a name says `real`; `Scale` converts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.lib.carrier_numbers import CarrierPatient, FarEnd

# The shipped inbound greeting (config/asterisk/extensions_inbound.conf, `dialer/inbound-greeting`) is real
# audio: 4.38 s in the sandbox, played in full before the caller reaches the queue. It is NOT compressed.
GREETING_S = 4.4
# A simulated administrator (tests/asterisk/sandbox_extra.conf, [sim-admin]) rings 1 s before answering. Its
# leg stays up a little longer than SIM_TALK (~0.5 s, or ~0 for callbacks on some sandboxes: learnt during the
# run, see bench.peak.run.Driver._learn_hold), so SIM_TALK is set that much shorter. On a callback the
# administrator's leg also carries the patient's ring (…1 rings 1 s), so SIM_TALK is set that much longer:
# the patient talks for the drawn talk time either way.
ADMIN_ANSWER_S = 1.0
PATIENT_RING_S = 1.0
# The sandbox's carrier's person rings 2 s before answering (dialer/sandbox/carrier_dialplan.py, outcome 1).
CARRIER_PERSON_RING_S = 2.0


@dataclass(frozen=True)
class Scale:
    """Real time -> wall time of the run: every real duration is divided by `compression`."""

    compression: float

    def wall(self, real_seconds: float) -> float:
        return real_seconds / self.compression

    def real(self, wall_seconds: float) -> float:
        return wall_seconds * self.compression


@dataclass(frozen=True)
class Profile:
    """What the peak hour looks like, in real time (before compression)."""

    calls: int = 300
    hour_real: float = 3600.0
    admins: int = 5
    abandon_share: float = 0.15  # callers whose patience ends before any administrator could answer
    ivr_share_of_abandons: float = 1 / 3  # ... of whom this share hangs up during the greeting
    talk_real: tuple[float, float] = (30.0, 50.0)  # uniform, seconds, queue calls and callbacks alike
    patience_real: tuple[float, float] = (60.0, 240.0)  # uniform wait patience of the others, seconds
    queue_timeout_real: float = 60.0  # the shipped DIALER_QUEUE_TIMEOUT default
    no_answer_share: float = 0.2  # callers whose phone rings out when called back (…3); the rest answer (…1)
    deadline_real: float = 900.0
    min_gap_real: float = 180.0
    ring_timeout_real: float = 30.0  # the patient's phone on a callback (shipped default)
    admin_ring_real: float = 20.0  # the administrator's phone on a callback (shipped default)
    # A first callback this long before its deadline goes ahead of the queue (shipped default; 0: never).
    priority_margin_real: float = 780.0


@dataclass(frozen=True)
class Caller:
    index: int
    at: float  # wall seconds after the start of the run
    phone: str  # E.164; the last digit is the simulated patient's behaviour when called back
    patience: float  # wall seconds on the line, greeting included (AMI Originate … Application Wait)
    abandoner: bool
    talk: float  # wall seconds an administrator talks to them (queue call or callback), SIM_TALK_adminN

    @property
    def digits(self) -> str:
        return self.phone.lstrip("+")

    @property
    def answers_callback(self) -> bool:
        return self.phone.endswith("1")


@dataclass(frozen=True)
class Traffic:
    profile: Profile
    scale: Scale
    seed: int
    callers: tuple[Caller, ...]
    # The callers are the sandbox's carrier: they call in over the PJSIP trunk and are called back over it.
    carrier: bool = False

    @property
    def patient_ring_s(self) -> float:
        """How long a called-back patient's phone rings before they answer (not compressed)."""
        return CARRIER_PERSON_RING_S if self.carrier else PATIENT_RING_S

    @property
    def span(self) -> float:
        """The compressed hour, in wall seconds."""
        return self.scale.wall(self.profile.hour_real)

    def by_digits(self) -> dict[str, Caller]:
        return {c.digits: c for c in self.callers}


def generate(profile: Profile, scale: Scale, seed: int, *, carrier: bool = False) -> Traffic:
    """Poisson arrivals (n uniform order statistics over the hour: a Poisson process given its count).
    `carrier`: the numbers are the carrier's (…1 a person who answers, …3 rings out), else patients.conf's."""
    rng = random.Random(seed)
    arrivals = sorted(rng.uniform(0.0, scale.wall(profile.hour_real)) for _ in range(profile.calls))
    n_abandon = round(profile.abandon_share * profile.calls)
    abandoners = set(rng.sample(range(profile.calls), n_abandon))
    n_ivr = round(profile.ivr_share_of_abandons * n_abandon)
    in_ivr = set(rng.sample(sorted(abandoners), n_ivr))
    n_silent = round(profile.no_answer_share * profile.calls)
    silent = set(rng.sample(range(profile.calls), n_silent))
    used: set[str] = set()
    callers = []
    for i, at in enumerate(arrivals):
        if i in in_ivr:
            patience = rng.uniform(1.5, GREETING_S - 1.0)  # hangs up during the greeting
        elif i in abandoners:
            # Joins the queue and leaves before an administrator's 1 s ring could end in an answer.
            patience = GREETING_S + rng.uniform(0.1, 0.6)
        else:
            patience = GREETING_S + scale.wall(rng.uniform(*profile.patience_real))
        digit = "3" if i in silent else "1"
        phone = ""
        if carrier:
            far_end = CarrierPatient(FarEnd.RINGS_OUT if i in silent else FarEnd.PERSON, voice=i % 3)
            phone = far_end.number(rng.randrange(10_000))
        while not phone or phone in used:
            phone = "+7916" + "".join(str(rng.randrange(10)) for _ in range(6)) + digit
        used.add(phone)
        talk = scale.wall(rng.uniform(*profile.talk_real))
        callers.append(Caller(i, at, phone, round(patience, 2), i in abandoners, round(talk, 2)))
    return Traffic(profile, scale, seed, tuple(callers), carrier)


def offered_load(traffic: Traffic) -> float:
    """Erlangs the callers who stay would bring if every one of them were answered (ring + talk)."""
    stay = [c for c in traffic.callers if not c.abandoner]
    work = sum(ADMIN_ANSWER_S + c.talk for c in stay)
    return work / traffic.span
