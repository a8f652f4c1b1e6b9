"""A clinic chain for the authorization tests: three clinics in one service, their staff, and each person's way
in (a browser session through the real login form, or an API token), against the web app built as the service
builds it (dialer.app.web_server: a real listening socket) over a real SQLite file. The AMI link is never
started: nothing is dialled."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.lib.clinic import ClinicTime
from bench.lib.service import free_port
from dialer.app import Runtime, open_runtime, web_server
from dialer.core.passwords import hash_password
from dialer.core.records import WrapupRow, WrapupState
from dialer.engine.importing import import_appointments, import_recalls
from dialer.settings import load_settings
from tests.staff import add_staff
from tests.support import DialerHome, sim_phone

PASSWORD = "пароль-для-теста"
TWILIO_TOKEN = "matrix-twilio-auth-token"
CLINICS = ("c1", "c2", "c3")


def chain_config(port: int) -> str:
    clinics = "".join(
        f'[[clinics]]\nid = "{c}"\nname = "Клиника {c}"\ntimezone = "Europe/Moscow"\n'
        f'dids = ["{n}00"]\nqueues = ["{c}-reception"]\nskip_holidays = false\n\n'
        for n, c in enumerate(CLINICS, start=1)
    )
    return f"""
[service]
data_dir = "var"
listen_host = "127.0.0.1"
listen_port = {port}
public_url = "http://127.0.0.1:{port}"

{clinics}
[sms]
provider = "twilio"

[sms.twilio]
account_sid = "AC00000000000000000000000000000000"
auth_token = "{TWILIO_TOKEN}"
from_number = "+15005550006"
api_base = "http://127.0.0.1:9"
"""


@dataclass
class Person:
    """Someone who uses the web app: a browser session (cookie + CSRF token) or an API token, or nobody."""

    name: str
    role: str  # operator | supervisor | admin | "" (not logged in)
    clinics: frozenset[str]
    token: bool = False  # comes with an API token instead of a session
    interfaces: tuple[str, ...] = ()
    user_id: int = 0
    http: aiohttp.ClientSession | None = None
    csrf: str = ""
    bearer: str = ""

    @property
    def all_clinics(self) -> bool:
        return "*" in self.clinics

    def holds(self, clinic: str) -> bool:
        return self.all_clinics or clinic in self.clinics

    @property
    def own(self) -> str:
        """A clinic this person works for (for nobody: the first)."""
        return next((c for c in CLINICS if self.holds(c)), CLINICS[0])

    @property
    def other(self) -> str:
        """A clinic they do not work for (for a user of every clinic: simply another one)."""
        return next(c for c in CLINICS if c != self.own and (self.all_clinics or not self.holds(c)))

    def headers(self) -> dict[str, str]:
        if self.bearer:
            return {"Authorization": f"Bearer {self.bearer}"}
        return {"X-CSRF-Token": self.csrf} if self.csrf else {}


def staff() -> list[Person]:
    return [
        Person("nobody", "", frozenset()),
        Person("op1", "operator", frozenset({"c1"}), interfaces=("PJSIP/101",)),
        Person("sup1", "supervisor", frozenset({"c1"})),
        Person("sup23", "supervisor", frozenset({"c2", "c3"})),
        Person("adm", "admin", frozenset({"*"})),
        Person("crm1", "admin", frozenset({"c1"}), token=True),  # clinic c1's own system
        Person("optoken", "operator", frozenset({"c1"}), token=True, interfaces=("PJSIP/102",)),
    ]


@dataclass
class Chain:
    rt: Runtime
    home: DialerHome
    base: str
    time: ClinicTime
    people: dict[str, Person]
    app: web.Application | None = None  # the app being served
    appointments: dict[str, list[str]] = field(default_factory=dict)  # clinic -> ids not yet cancelled
    phones: dict[str, str] = field(default_factory=dict)  # clinic -> its patient's phone
    serial: int = 0

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def appointment_row(
        self, clinic: str, appointment_id: str, name: str = "Пациент Проверочный"
    ) -> dict[str, Any]:
        return {
            "appointment_id": appointment_id,
            "clinic": clinic,
            "patient_name": name,
            "phone": self.phones[clinic],
            "visit_date": (self.time.today + timedelta(days=2)).isoformat(),
            "visit_time": "17:30",
            "doctor": "Иванова Мария Петровна",
        }

    async def pending_wrapup(self, clinic: str, user_id: int, call_id: str) -> WrapupRow:
        """An inbound call of the clinic's patient that `user_id` answered, its wrap-up not filled in yet."""
        now = self.time.now()
        row = WrapupRow(
            0,
            clinic,
            user_id,
            call_id,
            self.phones[clinic],
            "in",
            "inbound",
            now,
            now,
            None,
            WrapupState.PENDING,
        )
        return await self.rt.storage.wrapups.open(row)

    def recall_row(self, clinic: str, recall_id: str) -> dict[str, Any]:
        return {
            "recall_id": recall_id,
            "clinic": clinic,
            "patient_name": "Пациент Контрольный",
            "phone": self.phones[clinic],
            "doctor": "Петрова Анна Викторовна",
            "comment": "Контроль пломбы",
            "target_date": (self.time.today + timedelta(days=7)).isoformat(),
        }


async def login(person: Person, base: str) -> None:
    assert person.http is not None
    async with person.http.get(f"{base}/login") as page:
        form_token = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
    async with person.http.post(
        f"{base}/login", data={"csrf": form_token, "username": person.name, "password": PASSWORD}
    ) as done:
        assert done.status == 200, (person.name, done.status, await done.text())
        person.csrf = (await done.text()).split('<meta name="csrf" content="')[1].split('"')[0]


@contextlib.asynccontextmanager
async def clinic_chain(
    root: Path, people: list[Person] | None = None, database_url: str | None = None
) -> AsyncIterator[Chain]:
    """The service's web app for three clinics, with its staff logged in (or holding their tokens), and a
    patient with a visit the day after tomorrow and a КОС row in every clinic; on `database_url` when given
    (the SQLite file in `root` otherwise)."""
    port = free_port()
    home = DialerHome(root, database_url=database_url or "")
    home.write(chain_config(port))
    clock = ClinicTime.morning()
    rng = random.Random()
    env = {"DIALER_DATABASE_URL": database_url} if database_url else {}
    async with open_runtime(load_settings(home.config, env=env), clock=clock.clock()) as rt:
        password_hash = hash_password(PASSWORD)
        cast = people if people is not None else staff()
        for person in cast:
            if not person.role:
                continue
            member = await add_staff(
                rt.storage,
                person.name,
                person.role,
                password_hash=password_hash,
                interfaces=person.interfaces,
                clinics=person.clinics,
                token=person.token,
                display_name=f"Сотрудник {person.name}",
                now=clock.now(),
            )
            person.user_id, person.bearer = member.user_id, member.token
        chain = Chain(rt, home, f"http://127.0.0.1:{port}", clock, {p.name: p for p in cast})
        for n, clinic in enumerate(CLINICS, start=1):
            chain.phones[clinic] = sim_phone(n, rng)
            ids = [f"{clinic}-V{i}" for i in range(40)]
            chain.appointments[clinic] = list(ids)
            rows = [(i, chain.appointment_row(clinic, a)) for i, a in enumerate(ids, start=1)]
            outcome = await import_appointments(
                rows, settings=rt.settings, store=rt.storage.appointments, now=clock.now()
            )
            assert outcome.ok, outcome.errors
            recalls = [(1, chain.recall_row(clinic, f"{clinic}-K0"))]
            outcome = await import_recalls(
                recalls, settings=rt.settings, store=rt.storage.recalls, now=clock.now()
            )
            assert outcome.ok, outcome.errors
        async with web_server(rt) as runner, contextlib.AsyncExitStack() as stack:
            chain.app = runner.app
            for person in cast:
                jar = aiohttp.CookieJar(unsafe=True)
                person.http = await stack.enter_async_context(aiohttp.ClientSession(cookie_jar=jar))
                if person.role and not person.token:
                    await login(person, chain.base)
            yield chain
