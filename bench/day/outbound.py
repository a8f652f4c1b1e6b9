"""The day's outbound lists, drawn once from a seed: tomorrow's appointments to remind (300 a day at scale 1.0)
and today's КОС recalls (100), each patient a far end on the sandbox's carrier whose behaviour the number
says (bench/lib/carrier_numbers.py). Also the lists as the clinic's files (`dialer import appointments`,
`dialer import kos`) and the campaigns' windows in the service's configuration. Pure, but for the CSV text.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime

DAY_REMINDERS = 300
DAY_RECALLS = 100
DOCTOR = "Иванова Мария Петровна"

# Who tomorrow's patients are, per 100: most pick up and press 1 (some of them while the greeting still plays),
# some cancel or ask for an administrator, the rest are the network's usual failures; a few rows carry a
# do-not-call mark or no consent to SMS, as the clinic's export has them.
REMINDER_MIX: tuple[tuple[str, int], ...] = (
    ("confirms", 47),
    ("confirms early", 10),
    ("cancels", 8),
    ("asks for an administrator", 5),
    ("rings out", 10),
    ("busy", 8),
    ("switched off", 6),
    ("wrong number", 2),
    ("do not call", 2),
    ("no SMS consent", 2),
)
RECALL_MIX: tuple[tuple[str, int], ...] = (
    ("picks up", 72),
    ("rings out", 12),
    ("busy", 9),
    ("switched off", 5),
    ("wrong number", 2),
)
# A behaviour's far end, with its voice drawn per patient.
FAR_ENDS: dict[str, CarrierPatient] = {
    "confirms": CarrierPatient(FarEnd.PERSON, key="1"),
    "confirms early": CarrierPatient(FarEnd.EARLY_PRESSER, key="1", press_at=3),
    "cancels": CarrierPatient(FarEnd.PERSON, key="2"),
    "asks for an administrator": CarrierPatient(FarEnd.PERSON, key="3"),
    "picks up": CarrierPatient(FarEnd.PERSON),
    "rings out": CarrierPatient(FarEnd.RINGS_OUT),
    "busy": CarrierPatient(FarEnd.BUSY),
    "switched off": CarrierPatient(FarEnd.SWITCHED_OFF),
    "wrong number": CarrierPatient(FarEnd.UNALLOCATED),
    "do not call": CarrierPatient(FarEnd.PERSON, key="1"),
    "no SMS consent": CarrierPatient(FarEnd.BUSY),
}
FLAGS: dict[str, dict[str, str]] = {
    "do not call": {"do_not_call": "да"},
    "no SMS consent": {"consent_sms": "нет"},
}
NO_SMS = "no SMS consent"
WRONG = "wrong number"
DNC = "do not call"


@dataclass(frozen=True)
class OutboundPatient:
    """One row of a list: its id, its number on the carrier, and what the far end does (a REMINDER_MIX or
    RECALL_MIX behaviour)."""

    row_id: str
    phone: str
    behaviour: str

    @property
    def digits(self) -> str:
        return self.phone.lstrip("+")


@dataclass(frozen=True)
class OutboundDay:
    reminders: tuple[OutboundPatient, ...]
    recalls: tuple[OutboundPatient, ...]


def _spread(mix: tuple[tuple[str, int], ...], count: int, rng: random.Random) -> list[str]:
    """`count` behaviours in the mix's proportions (largest remainders), shuffled."""
    total = sum(n for _, n in mix)
    exact = [(name, count * n / total) for name, n in mix]
    taken = {name: int(x) for name, x in exact}
    left = count - sum(taken.values())
    for name, _ in sorted(exact, key=lambda e: e[1] - int(e[1]), reverse=True)[:left]:
        taken[name] += 1
    behaviours = [name for name, n in taken.items() for _ in range(n)]
    rng.shuffle(behaviours)
    return behaviours


def generate_outbound(scale: float, seed: int, taken: set[str]) -> OutboundDay:
    """`scale` x the day's lists, on numbers none of which is in `taken` (the inbound callers') or repeated."""
    rng = random.Random(seed * 7919 + 17)
    reminders = _spread(REMINDER_MIX, round(DAY_REMINDERS * scale), rng)
    recalls = _spread(RECALL_MIX, round(DAY_RECALLS * scale), rng)
    used = set(taken)

    def number(behaviour: str) -> str:
        base = FAR_ENDS[behaviour]
        while True:
            far = CarrierPatient(base.far_end, key=base.key, voice=rng.randrange(3), press_at=base.press_at)
            phone = far.number(rng.randrange(10000))
            if phone.lstrip("+") not in used:
                used.add(phone.lstrip("+"))
                return phone

    return OutboundDay(
        tuple(OutboundPatient(f"R{i}", number(b), b) for i, b in enumerate(reminders, 1)),
        tuple(OutboundPatient(f"K{i}", number(b), b) for i, b in enumerate(recalls, 1)),
    )


def _csv(header: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def appointments_file(day: OutboundDay, visit_day: date) -> str:
    """Tomorrow's appointments as the clinic exports them (the columns `dialer import appointments` reads)."""
    header = ["appointment_id", "clinic", "patient_name", "phone", "visit_date", "visit_time", "doctor"]
    header += ["consent_sms", "do_not_call"]
    rows = [
        {
            "appointment_id": p.row_id,
            "clinic": "c1",
            "patient_name": f"Пациент {p.row_id}",
            "phone": p.phone,
            "visit_date": visit_day.isoformat(),
            "visit_time": f"{9 + i % 10:02d}:{(i * 20) % 60:02d}",
            "doctor": DOCTOR,
            **FLAGS.get(p.behaviour, {}),
        }
        for i, p in enumerate(day.reminders)
    ]
    return _csv(header, rows)


def recalls_file(day: OutboundDay, today: date) -> str:
    """Today's КОС list: patients the doctors want back, status «Звать» (the columns `dialer import kos` reads)."""
    header = ["recall_id", "clinic", "patient_name", "phone", "doctor", "comment", "target_date"]
    rows = [
        {
            "recall_id": p.row_id,
            "clinic": "c1",
            "patient_name": f"Пациент {p.row_id}",
            "phone": p.phone,
            "doctor": DOCTOR,
            "comment": "Контрольный осмотр",
            "target_date": today.isoformat(),
        }
        for p in day.recalls
    ]
    return _csv(header, rows)


@dataclass(frozen=True)
class Windows:
    """The campaigns' windows, in wall seconds from the service's start: the customer's plan (2 calls, then 1
    more later, then SMS) and the КОС round, placed inside the played hours as the rest of the day is
    compressed."""

    first: tuple[float, float]
    second: tuple[float, float]
    recalls: tuple[float, float]

    @classmethod
    def for_span(cls, span: float, start_up: float) -> Windows:
        """The customer's windows (11-16, then 18-21) keep their order and their gap, scaled onto the span."""
        at = start_up + 30.0
        usable = max(120.0, span - 60.0)
        return cls(
            (at, at + 0.45 * usable),
            (at + 0.6 * usable, at + 0.85 * usable),
            (at, at + 0.85 * usable),
        )


def campaigns_config(clinic: ClinicTime, windows: Windows, min_gap: float) -> str:
    """The [campaigns.reminders] and [campaigns.kos] tables; the reminder list is built at once."""
    first, second, kos = windows.first, windows.second, windows.recalls
    w1 = (
        f'{{start="{clinic.hhmmss(first[0])}", end="{clinic.hhmmss(first[1])}", attempts=2, '
        f'min_gap="{max(1, round(min_gap))}s"}}'
    )
    w2 = f'{{start="{clinic.hhmmss(second[0])}", end="{clinic.hhmmss(second[1])}", attempts=1}}'
    return f"""
[campaigns.reminders]
windows = [{w1}, {w2}]
same_day_confirmation = false
list_build_time = "{clinic.hhmmss(-120.0)[:5]}"

[campaigns.kos]
calls = 2
window = {{ start = "{clinic.hhmmss(kos[0])}", end = "{clinic.hhmmss(kos[1])}", min_gap = "{max(1, round(min_gap))}s" }}
"""
