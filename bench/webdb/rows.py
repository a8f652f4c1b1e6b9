"""Every table of the generated chain, built in the order a live service would have written it."""

from __future__ import annotations

from datetime import timedelta

from bench.webdb.calls import CallRows
from bench.webdb.hours import local_day
from bench.webdb.names import DOCTORS, NAMES, SURNAMES
from bench.webdb.reminders import ReminderRows
from bench.webdb.volume import (
    day_text,
    ts,
)
from dialer.core.alerts import AlertKind


class Rows(CallRows, ReminderRows):
    """Every table's rows as tuples, in the column order of `COLUMNS`."""

    def build(self) -> None:
        self.make_patients()
        self.make_inbound()
        self.make_reminders(self.v.attempts)
        self.make_lists()
        self.make_recalls()
        self.make_alerts()
        self.spill()

    def make_lists(self) -> None:
        rng = self.rng
        for i in range(self.v.waiting):
            p = rng.choice(self.patients)
            at = self.hours.instant()
            self.tables["waiting_list"].append(
                (
                    i + 1,
                    p.clinic_id,
                    p.phone,
                    p.patient_id,
                    rng.choice(DOCTORS),
                    day_text(local_day(at) + timedelta(days=rng.randint(1, 30))),
                    rng.randint(0, 2),
                    "хочет раньше",
                    "open" if rng.random() < 0.3 else "booked",
                    rng.randrange(self.v.operators) + 1,
                    ts(at),
                )
            )
        for i in range(self.v.diary):
            p = rng.choice(self.patients)
            at = self.hours.instant()
            self.tables["diary"].append(
                (
                    i + 1,
                    p.clinic_id,
                    p.phone,
                    p.patient_id,
                    day_text(local_day(at) + timedelta(days=rng.randint(1, 30))),
                    "позвонить по результатам анализов",
                    "open" if rng.random() < 0.3 else "done",
                    rng.randrange(self.v.operators) + 1,
                    ts(at),
                )
            )

    def make_recalls(self) -> None:
        """KOS: the patients doctors want back, with the doctor's comment; Звать / Записан / Отказ."""
        rng = self.rng
        for i in range(self.v.recalls):
            p = rng.choice(self.patients)
            at = self.hours.instant()
            status = rng.choices(("call", "booked", "refused"), (40, 35, 25))[0]
            target = local_day(at) + timedelta(days=rng.randint(7, 60))
            self.tables["recalls"].append(
                (
                    p.clinic_id,
                    f"K{i:07d}",
                    p.patient_id,
                    f"{rng.choice(SURNAMES)} {rng.choice(NAMES)}",
                    p.phone,
                    rng.choice(DOCTORS),
                    "контроль через 3 месяца после лечения",
                    day_text(target),
                    status,
                    "дорого" if status == "refused" else "",
                    "",
                    rng.randint(0, 2),
                    day_text(target) if status == "booked" else None,
                    1,
                    ts(at),
                    ts(at),
                )
            )

    def make_alerts(self) -> None:
        for i in range(60):
            at = self.hours.instant()
            clinic = self.clinic()
            cleared = None if i == 59 else ts(min(at + 600, self.t_now - 1))
            kind = AlertKind.WAITING if i % 2 else AlertKind.MISSED_RATE
            self.tables["alerts"].append(
                (clinic if i < 59 else "c1", kind.value, ts(at), cleared, "4 звонящих ждут", 1)
            )
