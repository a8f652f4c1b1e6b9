"""A clinic chain's database for the web benchmarks: ~3 months of rows, written straight into SQLite.

The file is migrated by the product (`Storage.open` runs Alembic to head, indexes as shipped), then filled
with plain `sqlite3.executemany` in the column order of dialer/storage/schema.py (every column is looked up
in the schema's Table, and the text encoding of instants, days and booleans is checked against what
SQLAlchemy writes through `UtcDateTime`), in time order as a live service would have written them. Users
are created through the product's own `users.add` (scrypt hash), so they can log in through /login.

Shape of the default volume (`Volume()`), four clinics weighted 40/30/20/10 %, Europe/Moscow, 92 days
ending now (today up to the current minute), working hours 08-20 with morning and late-afternoon peaks,
Saturday at half and Sunday at 15 % of a weekday:

* attempts: exactly `attempts` rows: reminder attempts (1-3 per reminder target, on the day before the
  visit, 11-16 and 18-20) and callback attempts (1-2 per callback task);
* inbound_calls: `missed / miss_share` calls, exactly `missed` of them missed (abandoned, queue timeout,
  IVR hang-up, ...), 5 % hidden numbers, 70 % from known patients;
* callback_tasks: one per missed call with a number, closed (contacted / not reached) except the last
  half hour's, which are open with their countdown;
* recalls (KOS): `recalls` patients to call back for a control visit (Звать 40 %, Записан, Отказ);
* contacts (wrap-ups): 80 % of answered calls and every contacted callback; sms_messages for unreached
  reminders and callbacks; appointments (with attended/no-show for the past), targets, patients
  (5 % of phones shared by two patients: families), a waiting list, a diary, a few alerts.
* Not generated: attempt_events, due_tasks, sms_events, wrapups, sessions, offers, feedback, webhook_outbox
  (none of the measured reads touches them).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sqlite3
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, create_engine, insert, text

from dialer.core.alerts import AlertKind
from dialer.core.passwords import hash_password
from dialer.settings import Settings, parse_settings
from dialer.storage import schema
from dialer.storage.repository import Storage

CACHE = Path.home() / ".cache" / "dialer" / "bench-web"
ZONE = ZoneInfo("Europe/Moscow")
PASSWORD = "пароль-для-бенчмарка"
QUEUE = "reception"
INBOUND_CONTEXT = "clinic-inbound"
DOCTORS = (
    "Иванова Мария Петровна",
    "Кузнецов Пётр Сергеевич",
    "Шевчук Ольга Юрьевна",
    "Смирнов Алексей Игоревич",
    "Попова Елена Викторовна",
    "Волков Дмитрий Андреевич",
    "Фёдорова Анна Николаевна",
    "Морозов Юрий Олегович",
)
SURNAMES = (
    "Смирнова",
    "Иванов",
    "Кузнецова",
    "Попов",
    "Соколова",
    "Лебедев",
    "Козлова",
    "Новиков",
    "Морозова",
    "Петров",
    "Волкова",
    "Соловьёв",
    "Васильева",
    "Зайцев",
    "Павлова",
    "Семёнов",
    "Голубева",
    "Жуков",
)
NAMES = (
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Ирина",
    "Сергей",
    "Алексей",
    "Дмитрий",
    "Андрей",
    "Юрий",
    "Фёдор",
    "Жанна",
    "Эльвира",
    "Пётр",
    "Щукин",
)
PATRONYMICS = ("Сергеевна", "Ивановна", "Петрович", "Андреевич", "Юрьевна", "Олегович", "Николаевна")
MOBILE_CODES = (
    "903",
    "905",
    "906",
    "909",
    "915",
    "916",
    "917",
    "919",
    "925",
    "926",
    "929",
    "977",
    "985",
    "999",
)
# Local hour -> share of the day's calls (a reception's day: morning and late-afternoon peaks).
HOURS = {8: 6, 9: 11, 10: 12, 11: 10, 12: 9, 13: 7, 14: 7, 15: 8, 16: 9, 17: 9, 18: 7, 19: 5}
WEEKDAY = (1.0, 1.0, 1.0, 1.0, 0.95, 0.5, 0.15)


@dataclass(frozen=True)
class Volume:
    attempts: int = 1_000_000
    missed: int = 100_000
    miss_share: float = 0.10  # missed / all inbound calls
    patients: int = 200_000
    days: int = 92
    future_days: int = 14
    clinics: tuple[tuple[str, float], ...] = (("c1", 0.4), ("c2", 0.3), ("c3", 0.2), ("c4", 0.1))
    operators: int = 200
    waiting: int = 8_000
    diary: int = 8_000
    recalls: int = 30_000
    seed: int = 20261125

    @classmethod
    def small(cls) -> Volume:
        """The baseline: a fortnight of a small clinic's rows."""
        return cls(
            attempts=10_000,
            missed=1_000,
            patients=5_000,
            days=14,
            future_days=7,
            waiting=200,
            diary=200,
            recalls=500,
        )

    def key(self) -> str:
        return (
            f"a{self.attempts}-m{self.missed}-s{self.miss_share}-p{self.patients}-d{self.days}"
            f"+{self.future_days}-c{len(self.clinics)}-o{self.operators}-k{self.recalls}-r{self.seed}"
        )


@dataclass
class Built:
    path: Path
    volume: Volume
    generated_at: datetime
    counts: dict[str, int]
    seconds: float
    users: list[tuple[str, int, str]] = field(default_factory=list)  # (username, user_id, interface)

    def meta(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "counts": self.counts,
            "seconds": self.seconds,
            "volume": asdict(self.volume),
            "users": self.users,
        }


def operator_interface(i: int) -> str:
    return f"PJSIP/{1001 + i}"


def operator_name(i: int) -> str:
    return f"op{i + 1:03d}"


def clinic_ids(volume: Volume) -> list[str]:
    return [c for c, _ in volume.clinics]


def did_of(clinic_id: str) -> str:
    return f"7495123{int(clinic_id[1:]):04d}"


def bench_settings(home: Path, db: Path, volume: Volume, port: int = 8080, **extra: Any) -> Settings:
    """The clinics of the generated data; no SMS provider; an AMI host that is never connected to."""
    raw: dict[str, Any] = {
        "service": {
            "data_dir": str(home),
            "database_url": f"sqlite+aiosqlite:///{db}",
            "listen_host": "127.0.0.1",
            "listen_port": port,
        },
        "ami": {"host": "127.0.0.1", "secret": "bench"},
        "clinics": [
            {
                "id": c,
                "name": f"Клиника «Улыбка» №{c[1:]}",
                "timezone": ZONE.key,
                "queue": QUEUE,
                "dids": [did_of(c)],
                "hours": ["пн-вс 08:00-21:00"],
            }
            for c in clinic_ids(volume)
        ],
        "inbound": {"contexts": [INBOUND_CONTEXT]},
        "sms": {"provider": "none"},
    }
    raw.update(extra)
    return parse_settings(raw)


# -- the text SQLite holds, as SQLAlchemy writes it ------------------------------------------------------


def ts(instant: float) -> str:
    """An instant (epoch seconds) as UtcDateTime stores it on SQLite: naive UTC text, microseconds."""
    return datetime.fromtimestamp(instant, UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def day_text(d: date) -> str:
    return d.isoformat()


def check_encoding() -> None:
    """Fail loudly if the text written here differs from what SQLAlchemy writes through the schema."""
    engine = create_engine("sqlite://")
    schema.metadata.create_all(engine, tables=[schema.appointments])
    at = datetime(2026, 11, 25, 9, 42, 11, 252848, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.appointments).values(
                clinic_id="c",
                appointment_id="a",
                patient_id="p",
                visit_at=at,
                visit_day=at.date(),
                doctor="d",
                specialty="",
                high_value=True,
                reminder_status="pending",
                attended=False,
                imported_at=at,
                updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            )
        )
        row = conn.execute(
            text("select visit_at, visit_day, high_value, attended, updated_at from appointments")
        ).one()
    ours = (
        ts(at.timestamp()),
        day_text(at.date()),
        1,
        0,
        ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()),
    )
    if tuple(row) != ours:
        raise RuntimeError(f"encoding differs from SQLAlchemy's: {tuple(row)} != {ours}")


# -- when things happen ------------------------------------------------------------------------------------


class Clock:
    """Instants in the clinics' working hours over the window, weighted by weekday and hour, never after now."""

    def __init__(self, rng: random.Random, now: datetime, days: int) -> None:
        self.rng = rng
        self.now = now.timestamp()
        today = now.astimezone(ZONE).date()
        self.first_day = today - timedelta(days=days - 1)
        self.today = today
        self.slots: list[float] = []  # start of each (day, hour) slot, epoch seconds
        cum: list[float] = []
        total = 0.0
        for d in range(days):
            day = self.first_day + timedelta(days=d)
            for hour, weight in HOURS.items():
                start = datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).timestamp()
                if start >= self.now:
                    continue
                share = min(1.0, (self.now - start) / 3600.0)  # the current hour, partly
                total += weight * WEEKDAY[day.weekday()] * share
                self.slots.append(start)
                cum.append(total)
        self.cum = cum
        self.total = total

    def instant(self) -> float:
        i = bisect_left(self.cum, self.rng.random() * self.total)
        start = self.slots[min(i, len(self.slots) - 1)]
        return min(start + self.rng.random() * 3600.0, self.now - 1.0)

    def instants(self, n: int) -> list[float]:
        return sorted(self.instant() for _ in range(n))


def local_at(day: date, hour: float) -> float:
    h, rest = divmod(hour * 3600.0, 3600.0)
    return datetime(day.year, day.month, day.day, int(h), tzinfo=ZONE).timestamp() + rest


def local_day(instant: float) -> date:
    return datetime.fromtimestamp(instant, ZONE).date()


# -- the rows ------------------------------------------------------------------------------------------------


@dataclass
class Patient:
    clinic_id: str
    patient_id: str
    phone: str


class Rows:
    """Every table's rows as tuples, in the column order of `COLUMNS`."""

    def __init__(self, volume: Volume, now: datetime) -> None:
        self.v = volume
        self.now = now
        self.t_now = now.timestamp()
        self.rng = random.Random(volume.seed)
        self.clock = Clock(self.rng, now, volume.days)
        self.tables: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        self.patients: list[Patient] = []
        self.by_clinic: dict[str, list[Patient]] = {}
        self.target_seq = 0
        self.task_seq = 0
        self.attempts_made = 0

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

    def build(self) -> None:
        self.make_patients()
        self.make_inbound()
        self.make_reminders(self.v.attempts)
        self.make_lists()
        self.make_recalls()
        self.make_alerts()

    def make_patients(self) -> None:
        rng = self.rng
        rows = self.tables["patients"]
        for i in range(self.v.patients):
            clinic = self.clinic()
            phone = self.patients[-1].phone if self.patients and rng.random() < 0.05 else self.mobile()
            p = Patient(clinic, f"P{i:07d}", phone)
            self.patients.append(p)
            self.by_clinic.setdefault(clinic, []).append(p)
            name = f"{rng.choice(SURNAMES)} {rng.choice(NAMES)} {rng.choice(PATRONYMICS)}"
            rows.append(
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

    # inbound calls, their callback tasks, callback targets and attempts, contacts

    def make_inbound(self) -> None:
        v, rng = self.v, self.rng
        total = round(v.missed / v.miss_share)
        starts = self.clock.instants(total)
        missed = set(rng.sample(range(total), v.missed))
        for i, started in enumerate(starts):
            clinic = self.clinic()
            r = rng.random()
            if r < 0.05:
                caller = ""
            elif r < 0.75:
                caller = rng.choice(self.by_clinic[clinic]).phone
            else:
                caller = self.mobile()
            call_id = f"{int(started)}.{i}"
            if i in missed:
                self.missed_call(call_id, clinic, caller, started)
            else:
                self.answered_call(call_id, clinic, caller, started)

    def answered_call(self, call_id: str, clinic: str, caller: str, started: float) -> None:
        rng = self.rng
        waited = min(rng.expovariate(1 / 12.0), 300.0)
        answered = started + waited
        ended = min(answered + 20 + rng.expovariate(1 / 150.0), self.t_now - 0.5)
        agent = rng.randrange(self.v.operators)
        self.tables["inbound_calls"].append(
            (
                call_id,
                clinic,
                did_of(clinic),
                QUEUE,
                caller,
                call_id,
                int(not caller),
                ts(started),
                ts(answered),
                ts(ended),
                round(waited, 2),
                operator_interface(agent),
                None,
                None,
                "live",
            )
        )
        if rng.random() < 0.8 and caller:
            self.contact(clinic, caller, "in", "", agent + 1, call_id, ended - answered, ended)

    def contact(
        self,
        clinic: str,
        phone: str,
        direction: str,
        flags: str,
        user_id: int,
        call_ref: str,
        talk: float,
        ended: float,
    ) -> None:
        rng = self.rng
        wrap = rng.uniform(10, 90)
        created = min(ended + wrap, self.t_now - 0.1)
        result = rng.choices(("booked", "call_again", "refused", "no_result"), (45, 15, 10, 30))[0]
        reason = {"call_again": "просил перезвонить", "refused": "дорого"}.get(result, "")
        follow = (
            day_text(local_day(created) + timedelta(days=rng.randint(1, 20))) if result == "booked" else None
        )
        self.tables["contacts"].append(
            (
                clinic,
                phone,
                None,
                direction,
                flags,
                user_id,
                call_ref,
                result,
                reason,
                "" if rng.random() < 0.7 else "перезвонить после 18:00",
                follow,
                round(talk, 1),
                round(wrap, 1),
                ts(created),
            )
        )

    def missed_call(self, call_id: str, clinic: str, caller: str, started: float) -> None:
        rng = self.rng
        waited = rng.uniform(5, 120)
        ended = min(started + waited, self.t_now - 0.5)
        reason = rng.choices(
            ("abandoned", "queue_timeout", "ivr_hangup", "not_answered", "after_hours"), (60, 20, 10, 5, 5)
        )[0]
        task_id = None
        if caller:
            self.task_seq += 1
            task_id = self.task_seq
            self.callback(task_id, clinic, caller, call_id, ended, reason == "after_hours")
        self.tables["inbound_calls"].append(
            (
                call_id,
                clinic,
                did_of(clinic),
                QUEUE,
                caller,
                call_id,
                int(not caller),
                ts(started),
                None,
                ts(ended),
                round(waited, 2),
                "",
                reason,
                task_id,
                "live",
            )
        )

    def callback(
        self, task_id: int, clinic: str, phone: str, call_id: str, missed_at: float, after: bool
    ) -> None:
        rng = self.rng
        starts = missed_at
        deadline = starts + 900
        first = starts + min(rng.lognormvariate(5.5, 0.6), 3 * 3600)  # median ~4 min, ~92 % within 15
        self.target_seq += 1
        target = self.target_seq
        attempts = 1 if rng.random() < 0.6 else 2
        contacted = rng.random() < 0.7
        state = "contacted"
        close: str | None = "callback_answered"
        contacted_at: float | None = None
        closed_at: float | None = None
        first_at: float | None = None
        if first > self.t_now:  # not tried yet: open, counting down
            state, close, attempts = "open", None, 0
        else:
            first_at = first
            last = first + (attempts - 1) * 180
            if last > self.t_now:
                attempts, last = 1, first
            if contacted:
                contacted_at = closed_at = last + 60
            else:
                state, close = "not_reached", "not_reached"
                closed_at = last + 60
            if closed_at is not None and closed_at > self.t_now:
                state, close, contacted_at, closed_at = "open", None, None, None
        self.tables["callback_tasks"].append(
            (
                task_id,
                clinic,
                phone,
                state,
                "after_hours" if after else "abandoned",
                1,
                call_id,
                ts(missed_at),
                ts(missed_at),
                ts(starts),
                ts(deadline),
                int(after),
                target,
                ts(first_at) if first_at else None,
                ts(contacted_at) if contacted_at else None,
                ts(closed_at) if closed_at else None,
                close,
            )
        )
        done = state != "open"
        self.tables["targets"].append(
            (
                target,
                clinic,
                "callback",
                str(task_id),
                "",
                phone,
                "done" if done else "active",
                close,
                ts(missed_at),
                ts(closed_at or missed_at),
            )
        )
        for n in range(1, attempts + 1):
            at = (first_at or 0) + (n - 1) * 180
            answered = contacted and n == attempts
            self.attempt(
                f"callback:{target}:{n}",
                clinic,
                target,
                n,
                phone,
                at,
                answered,
                digit=None,
                leg="ANSWER" if answered else rng.choice(("NOANSWER", "BUSY")),
            )
        if state == "not_reached":
            self.sms(f"callback:{target}:sms", clinic, target, phone, closed_at or first)
        if contacted_at:
            self.contact(
                clinic,
                phone,
                "out",
                "Мы звоним",
                rng.randrange(self.v.operators) + 1,
                f"callback:{target}:{attempts}",
                rng.uniform(30, 300),
                contacted_at,
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

    # appointments, reminder targets and attempts

    def make_reminders(self, budget: int) -> None:
        """Appointments over the window and the fortnight ahead; reminder targets and attempts for those whose
        calling day has come, until the attempts reach `budget` exactly. The appointments are visited in random
        order, so the ~5 % left without a reminder when the budget runs out are spread over the whole window."""
        v, rng = self.v, self.rng
        per_day = (budget - self.attempts_made) / 1.45 / 0.9 / max(1, v.days) * 1.05
        days: list[date] = []
        for d in range(v.days + v.future_days):
            day = self.clock.first_day + timedelta(days=d)
            days += [day] * int(per_day * WEEKDAY[day.weekday()] / 0.8)
        rng.shuffle(days)
        for day in days:
            self.appointment(day, budget)

    def appointment(self, day: date, budget: int) -> None:
        rng = self.rng
        p = rng.choice(self.patients)
        visit = local_at(day, rng.uniform(8, 20))
        call_day = day - timedelta(days=1)
        past = day < self.clock.today
        status = "pending"
        digit: str | None = None
        attended: int | None = None
        with_target = call_day <= self.clock.today and rng.random() < 0.9 and self.attempts_made < budget
        if with_target:
            status, digit = self.reminder(p, day, call_day, budget)
        if past:
            attended = None if rng.random() < 0.05 else int(status != "cancelled" and rng.random() > 0.1)
        appointment_id = f"B{len(self.tables['appointments']):07d}"
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

    def make_lists(self) -> None:
        rng = self.rng
        for i in range(self.v.waiting):
            p = rng.choice(self.patients)
            at = self.clock.instant()
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
                    "open" if rng.random() < 0.3 else "done",
                    rng.randrange(self.v.operators) + 1,
                    ts(at),
                )
            )
        for i in range(self.v.diary):
            p = rng.choice(self.patients)
            at = self.clock.instant()
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
            at = self.clock.instant()
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
            at = self.clock.instant()
            clinic = self.clinic()
            cleared = None if i == 59 else ts(min(at + 600, self.t_now - 1))
            kind = AlertKind.WAITING if i % 2 else AlertKind.MISSED_RATE
            self.tables["alerts"].append(
                (clinic if i < 59 else "c1", kind.value, ts(at), cleared, "4 звонящих ждут", 1)
            )


COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": (
        "clinic_id",
        "patient_id",
        "name",
        "phone",
        "consent_call",
        "consent_sms",
        "do_not_call",
        "updated_at",
    ),
    "appointments": (
        "clinic_id",
        "appointment_id",
        "patient_id",
        "visit_at",
        "visit_day",
        "doctor",
        "specialty",
        "high_value",
        "reminder_status",
        "reminder_digit",
        "attended",
        "imported_at",
        "updated_at",
    ),
    "targets": (
        "target_id",
        "clinic_id",
        "campaign",
        "subject_id",
        "patient_id",
        "phone",
        "state",
        "stop_reason",
        "created_at",
        "updated_at",
    ),
    "attempts": (
        "attempt_id",
        "clinic_id",
        "target_id",
        "n",
        "phone",
        "trunk",
        "state",
        "created_at",
        "answered_at",
        "ended_at",
        "reason",
        "cause",
        "result",
        "digit",
        "settled",
        "linkedid",
        "leg_status",
    ),
    "sms_messages": (
        "sms_key",
        "clinic_id",
        "target_id",
        "phone",
        "body",
        "provider",
        "provider_id",
        "status",
        "error",
        "created_at",
        "updated_at",
    ),
    "inbound_calls": (
        "call_id",
        "clinic_id",
        "did",
        "queue",
        "caller",
        "queue_channel",
        "hidden",
        "started_at",
        "answered_at",
        "ended_at",
        "waited",
        "answered_by",
        "miss_reason",
        "task_id",
        "source",
    ),
    "callback_tasks": (
        "task_id",
        "clinic_id",
        "phone",
        "state",
        "reason",
        "missed_count",
        "first_call_id",
        "first_missed_at",
        "last_missed_at",
        "starts_at",
        "deadline_at",
        "after_hours",
        "target_id",
        "first_attempt_at",
        "contacted_at",
        "closed_at",
        "close_reason",
    ),
    "contacts": (
        "clinic_id",
        "phone",
        "patient_id",
        "direction",
        "flags",
        "user_id",
        "call_ref",
        "result",
        "reason",
        "comment",
        "follow_up",
        "talk_seconds",
        "wrap_seconds",
        "created_at",
    ),
    "waiting_list": (
        "entry_id",
        "clinic_id",
        "phone",
        "patient_id",
        "doctor",
        "wanted_day",
        "priority",
        "comment",
        "state",
        "created_by",
        "created_at",
    ),
    "diary": (
        "entry_id",
        "clinic_id",
        "phone",
        "patient_id",
        "due_day",
        "comment",
        "state",
        "created_by",
        "created_at",
    ),
    "alerts": ("clinic_id", "kind", "raised_at", "cleared_at", "detail", "notified"),
    "recalls": (
        "clinic_id",
        "external_id",
        "patient_id",
        "patient_name",
        "phone",
        "doctor",
        "comment",
        "target_day",
        "status",
        "reason",
        "status_comment",
        "moves",
        "booked_day",
        "planned",
        "created_at",
        "updated_at",
    ),
}
# The column that orders a table's rows in time (as a live service appends them).
TIME_COLUMN = {
    "inbound_calls": "ended_at",
    "callback_tasks": "first_missed_at",
    "contacts": "created_at",
    "attempts": "created_at",
    "sms_messages": "created_at",
    "targets": "created_at",
    "appointments": "imported_at",
    "alerts": "raised_at",
    "recalls": "created_at",
}
# Foreign keys are on (the product's pragma): parents first.
ORDER = (
    "patients",
    "appointments",
    "targets",
    "attempts",
    "sms_messages",
    "callback_tasks",
    "inbound_calls",
    "contacts",
    "waiting_list",
    "diary",
    "recalls",
    "alerts",
)


def statement(table: Table, columns: Sequence[str]) -> str:
    for name in columns:
        if name not in table.c:
            raise RuntimeError(f"bench/web_data.py: {table.name}.{name} is not in dialer/storage/schema.py")
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


def load(path: Path, rows: Rows) -> dict[str, int]:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    counts: dict[str, int] = {}
    with db:
        for name in ORDER:
            data = rows.tables[name]
            if name in TIME_COLUMN:
                i = COLUMNS[name].index(TIME_COLUMN[name])
                data.sort(key=lambda r, i=i: r[i] or "")  # type: ignore[misc]
            db.executemany(statement(schema.metadata.tables[name], COLUMNS[name]), data)
            counts[name] = len(data)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return counts


async def add_users(storage: Storage, volume: Volume, now: datetime) -> list[tuple[str, int, str]]:
    """The operators (one phone each) and a supervisor, through the product's users.add; one scrypt hash."""
    password_hash = hash_password(PASSWORD)
    made = []
    names = clinic_ids(volume)
    for i in range(volume.operators):
        interface = operator_interface(i)
        user_id = await storage.users.add(
            username=operator_name(i),
            display_name=f"{SURNAMES[i % len(SURNAMES)]} {NAMES[i % len(NAMES)]}",
            role="operator",
            password_hash=password_hash,
            interfaces=(interface,),
            clinics=(names[i % len(names)],),
            api_token_hash=None,
            now=now,
        )
        made.append((operator_name(i), user_id, interface))
    await storage.users.add(
        username="boss",
        display_name="Елена Старшая",
        role="supervisor",
        password_hash=password_hash,
        interfaces=(),
        clinics=("*",),
        api_token_hash=None,
        now=now,
    )
    return made


async def migrate(path: Path) -> None:
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    await storage.close()


def generate(
    path: Path, volume: Volume, now: datetime | None = None, log: Callable[[str], None] = print
) -> Built:
    check_encoding()
    now = now or datetime.now(UTC)
    t0 = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    asyncio.run(migrate(path))
    rows = Rows(volume, now)
    rows.build()
    log(f"  rows made in {time.perf_counter() - t0:.1f} s; writing {path}")
    counts = load(path, rows)
    del rows

    async def users() -> list[tuple[str, int, str]]:
        storage = await Storage.open(f"sqlite+aiosqlite:///{path}", run_migrations=False)
        try:
            return await add_users(storage, volume, now)
        finally:
            await storage.close()

    made = asyncio.run(users())
    counts["users"] = len(made) + 1
    return Built(path, volume, now, counts, time.perf_counter() - t0, made)


def cached(
    volume: Volume, log: Callable[[str], None] = print, *, fresh: bool = False, cache: Path = CACHE
) -> Built:
    """The generated file for this volume and today's date (today's rows end at the time of generation)."""
    today = datetime.now(UTC).astimezone(ZONE).date()
    path = cache / f"web-{volume.key()}-{today.isoformat()}.db"
    meta = path.with_suffix(".json")
    if not fresh and path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        return Built(
            path,
            volume,
            datetime.fromisoformat(m["generated_at"]),
            m["counts"],
            m["seconds"],
            [(str(u[0]), int(u[1]), str(u[2])) for u in m["users"]],
        )
    for old in cache.glob(f"web-{volume.key()}-*"):
        old.unlink()
    log(f"generating {path.name} ...")
    built = generate(path, volume, log=log)
    meta.write_text(json.dumps(built.meta(), ensure_ascii=False))
    log(f"  done in {built.seconds:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in built.counts.items()))
    return built


def copy_db(src: Path, dst: Path) -> Path:
    """A private copy to write into (the cached file stays as generated)."""
    shutil.copyfile(src, dst)
    return dst


def sample(items: Iterable[str], k: int, seed: int) -> list[str]:
    pool = list(items)
    return random.Random(seed).sample(pool, min(k, len(pool)))
