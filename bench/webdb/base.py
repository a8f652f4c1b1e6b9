"""The generated chain's state shared by every table's maker: the random source, the patients, the sequences."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.webdb.columns import COLUMNS
from bench.webdb.hours import WorkingHours
from bench.webdb.names import MOBILE_CODES, NAMES, PATRONYMICS, SURNAMES
from bench.webdb.volume import (
    Volume,
    ts,
)

# Where made rows go once they are handed over: a table's name and its rows, in the order they were made.
Sink = Callable[[str, list[tuple[Any, ...]]], None]


SPILL_EVERY = 20_000  # items (patients, calls, appointments) between two spills: a few MB of rows in memory


class RowsBase:
    """The rows made and not yet handed to the sink (every table's rows as tuples, in the column order of
    `COLUMNS`), the patients, and the makers that several tables share: a clinic by weight, a mobile number, an
    attempt, an SMS.

    With a sink, `spill` hands the rows over and forgets them, so a chain of any size is made in bounded memory;
    without one, every row stays in `tables` (the small chains of the tests)."""

    def __init__(self, volume: Volume, now: datetime, sink: Sink | None = None) -> None:
        self.v = volume
        self.sink = sink
        self.now = now
        self.t_now = now.timestamp()
        self.rng = random.Random(volume.seed)
        self.hours = WorkingHours(self.rng, now, volume.days)
        self.tables: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        self.patients: list[Patient] = []
        self.by_clinic: dict[str, list[Patient]] = {}
        self.target_seq = 0
        self.task_seq = 0
        self.attempts_made = 0
        self.spilled: dict[str, int] = {name: 0 for name in COLUMNS}

    def made(self, name: str) -> int:
        """How many rows of the table have been made, handed over or not."""
        return self.spilled[name] + len(self.tables[name])

    def spill(self) -> None:
        """Every row made so far to the sink. Called only between whole items (a call with its callback, an
        appointment with its reminder), never while a maker may still amend the last row it appended."""
        if self.sink is None:
            return
        for name, rows in self.tables.items():
            if rows:
                self.sink(name, rows)
                self.spilled[name] += len(rows)
                self.tables[name] = []

    def clinic(self) -> str:
        r = self.rng.random()
        acc = 0.0
        for c, w in self.v.clinics:
            acc += w
            if r < acc:
                return c
        return self.v.clinics[-1][0]

    def mobile(self) -> str:
        return f"+7{self.rng.choice(MOBILE_CODES)}{self.rng.randrange(10**7):07d}"

    def make_patients(self) -> None:
        rng = self.rng
        for i in range(self.v.patients):
            if i % SPILL_EVERY == 0:
                self.spill()
            clinic = self.clinic()
            phone = self.patients[-1].phone if self.patients and rng.random() < 0.05 else self.mobile()
            p = Patient(clinic, f"P{i:07d}", phone)
            self.patients.append(p)
            self.by_clinic.setdefault(clinic, []).append(p)
            name = f"{rng.choice(SURNAMES)} {rng.choice(NAMES)} {rng.choice(PATRONYMICS)}"
            self.tables["patients"].append(
                (
                    clinic,
                    p.patient_id,
                    name,
                    phone,
                    1,
                    1,
                    int(rng.random() < 0.01),
                    ts(self.t_now - rng.random() * 86400 * self.v.days),
                )
            )

    def attempt(
        self,
        attempt_id: str,
        clinic: str,
        target: int,
        n: int,
        phone: str,
        at: float,
        answered: bool,
        digit: str | None,
        leg: str | None = None,
        cause: int | None = None,
    ) -> None:
        rng = self.rng
        ring = rng.uniform(3, 25)
        if answered:
            answered_at: float | None = at + ring
            ended = at + ring + rng.uniform(15, 60)
            result, reason, cause = "answered", 4, 16
        else:
            answered_at = None
            ended = at + ring
            cause = cause or rng.choice((17, 19, 19, 19, 21, 34))
            result = {17: "busy", 21: "busy", 34: "congestion", 1: "invalid_number"}.get(cause, "no_answer")
            reason = {17: 5, 21: 5, 34: 8}.get(cause, 3)
        live = ended > self.t_now
        self.tables["attempts"].append(
            (
                attempt_id,
                clinic,
                target,
                n,
                phone,
                "main",
                "dialing" if live else "ended",
                ts(at),
                ts(answered_at) if answered_at and answered_at < self.t_now else None,
                None if live else ts(ended),
                None if live else reason,
                None if live else cause,
                None if live else result,
                digit,
                None if live else "settled",
                attempt_id,
                leg,
            )
        )
        self.attempts_made += 1

    def sms(self, key: str, clinic: str, target: int, phone: str, at: float) -> None:
        status = self.rng.choices(("delivered", "sent", "undelivered", "failed"), (88, 5, 5, 2))[0]
        self.tables["sms_messages"].append(
            (
                key,
                clinic,
                target,
                phone,
                "Клиника «Улыбка»: не дозвонились до вас. Перезвоните: +7 495 123-45-67",
                "smsaero",
                f"{self.rng.randrange(10**9)}",
                status,
                None,
                ts(at),
                ts(at + 30),
            )
        )


@dataclass
class Patient:
    clinic_id: str
    patient_id: str
    phone: str
