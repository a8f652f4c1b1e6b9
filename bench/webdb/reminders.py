"""The generated chain's appointments and the reminder calls and SMS made for them."""

from __future__ import annotations

from datetime import date, timedelta

from bench.webdb.base import SPILL_EVERY, Patient, RowsBase
from bench.webdb.hours import local_at
from bench.webdb.names import DOCTORS
from bench.webdb.volume import (
    WEEKDAY,
    day_text,
    ts,
)


class ReminderRows(RowsBase):
    """The appointments of the window and their reminders: targets, attempts, SMS, attendance."""

    def make_reminders(self, budget: int) -> None:
        """Appointments over the window and the fortnight ahead; reminder targets and attempts for those whose
        calling day has come, until the attempts reach `budget` exactly. The appointments are visited in random
        order, so the ~5 % left without a reminder when the budget runs out are spread over the whole window."""
        v, rng = self.v, self.rng
        per_day = (budget - self.attempts_made) / 1.45 / 0.9 / max(1, v.days) * 1.05
        days: list[date] = []
        for d in range(v.days + v.future_days):
            day = self.hours.first_day + timedelta(days=d)
            days += [day] * int(per_day * WEEKDAY[day.weekday()] / 0.8)
        rng.shuffle(days)
        for i, day in enumerate(days):
            if i % SPILL_EVERY == 0:
                self.spill()
            self.appointment(day, budget)

    def appointment(self, day: date, budget: int) -> None:
        rng = self.rng
        p = rng.choice(self.patients)
        visit = local_at(day, rng.uniform(8, 20))
        call_day = day - timedelta(days=1)
        past = day < self.hours.today
        status = "pending"
        digit: str | None = None
        attended: int | None = None
        with_target = call_day <= self.hours.today and rng.random() < 0.9 and self.attempts_made < budget
        if with_target:
            status, digit = self.reminder(p, day, call_day, budget)
        if past:
            attended = None if rng.random() < 0.05 else int(status != "cancelled" and rng.random() > 0.1)
        appointment_id = f"B{self.made('appointments'):07d}"
        imported = local_at(day - timedelta(days=rng.randint(2, 20)), 9.0)
        self.tables["appointments"].append(
            (
                p.clinic_id,
                appointment_id,
                p.patient_id,
                ts(visit),
                day_text(day),
                rng.choice(DOCTORS),
                "",
                int(rng.random() < 0.1),
                status,
                digit,
                attended,
                ts(imported),
                ts(min(imported + 86400, self.t_now)),
            )
        )
        if with_target:
            self.tables["targets"][-1] = (
                *self.tables["targets"][-1][:3],
                appointment_id,
                *self.tables["targets"][-1][4:],
            )

    def reminder(self, p: Patient, day: date, call_day: date, budget: int) -> tuple[str, str | None]:
        rng = self.rng
        final = rng.choices(
            ("confirmed", "cancelled", "to_admin", "reached_unconfirmed", "not_reached", "invalid_number"),
            (55, 8, 4, 6, 25, 2),
        )[0]
        k = (
            1
            if final in ("confirmed", "cancelled", "to_admin", "invalid_number") and rng.random() < 0.7
            else (rng.choice((1, 2, 2, 3)))
        )
        k = min(k, budget - self.attempts_made)
        self.target_seq += 1
        target = self.target_seq
        hours = (11.2, 14.0, 18.5)
        made = 0
        for n in range(1, k + 1):
            at = local_at(call_day, hours[n - 1] + rng.uniform(0, 1.5))
            if at > self.t_now:
                break
            last = n == k
            answered = last and final not in ("not_reached", "invalid_number")
            digit = {"confirmed": "1", "cancelled": "2", "to_admin": "3"}.get(final) if answered else None
            self.attempt(
                f"reminders:{target}:{n}",
                p.clinic_id,
                target,
                n,
                p.phone,
                at,
                answered,
                digit,
                cause=1 if final == "invalid_number" else None,
            )
            made = n
        if made < k or made == 0:
            final = "calling" if made else "pending"
        done = final not in ("calling", "pending")
        if final == "not_reached":
            self.sms(f"reminders:{target}:sms", p.clinic_id, target, p.phone, local_at(call_day, 20.0))
        created = local_at(call_day, 10.0)
        self.tables["targets"].append(
            (
                target,
                p.clinic_id,
                "reminders",
                "",
                p.patient_id,
                p.phone,
                "done" if done else "active",
                final if done else None,
                ts(created),
                ts(min(created + 36000, self.t_now)),
            )
        )
        status = final
        return status, ({"confirmed": "1", "cancelled": "2", "to_admin": "3"}.get(final))
