"""A complaint marked in the wrap-up: kept with the contact it came with; a class A one alerts the senior
administrator at once, by SMS (through a local Twilio-compatible server) and on the board, exactly once, with
nothing of the patient in the message; a bad complaint is refused field by field and nothing is saved. The web
app as the service builds it, a real SQLite file, real sockets."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select

from bench.lib.clinic import ClinicTime
from bench.lib.service import free_port
from dialer.app import Runtime, open_runtime, web_server
from dialer.core.passwords import hash_password
from dialer.core.records import WrapupRow, WrapupState
from dialer.settings import load_settings
from dialer.storage import journal_schema, quality_schema, schema
from tests.clinics import PASSWORD, Person, login
from tests.fakes.twilio_server import FakeTwilio
from tests.staff import add_staff
from tests.support import DialerHome

SUPERVISOR_PHONE = "+79169990011"
PATIENT_PHONE = "+79161112233"
SECRET = "болит после пломбы Иванова"  # what the patient said: must never leave the service


def config(port: int, twilio: FakeTwilio) -> str:
    return f"""
[service]
data_dir = "var"
listen_host = "127.0.0.1"
listen_port = {port}
public_url = "http://127.0.0.1:{port}"

[[clinics]]
id = "c1"
name = "Клиника c1"
timezone = "Europe/Moscow"
dids = ["100"]
queues = ["c1-reception"]
skip_holidays = false
supervisor_phone = "{SUPERVISOR_PHONE}"

[sms]
provider = "twilio"

[sms.twilio]
account_sid = "{twilio.account_sid}"
auth_token = "{twilio.auth_token}"
from_number = "+15005550006"
api_base = "{twilio.url}"
"""


@dataclass
class Desk:
    rt: Runtime
    base: str
    op: Person
    twilio: FakeTwilio
    time: ClinicTime
    calls: int = 0

    async def call(self) -> int:
        """A call the operator answered and hung up, waiting for its wrap-up."""
        self.calls += 1
        now = self.time.now()
        row = await self.rt.storage.wrapups.open(
            WrapupRow(
                0, "c1", self.op.user_id, f"call-{self.calls}", PATIENT_PHONE, "in", "inbound", now, now, None,
                WrapupState.PENDING,
            )
        )  # fmt: skip
        await self.rt.storage.wrapups.ended(row.wrapup_id, now)
        return row.wrapup_id

    async def wrap_up(self, wrapup_id: int, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert self.op.http is not None
        async with self.op.http.post(
            f"{self.base}/api/wrapups/{wrapup_id}", json=form, headers=self.op.headers()
        ) as r:
            return r.status, await r.json()

    async def rows(self, table: Any) -> list[Any]:
        async with self.rt.storage.engine.connect() as conn:
            return list(await conn.execute(select(table)))


@contextlib.asynccontextmanager
async def desk(root: Path, database_url: str = "") -> AsyncIterator[Desk]:
    twilio = await FakeTwilio().start()
    try:
        port = free_port()
        home = DialerHome(root, database_url=database_url)
        home.write(config(port, twilio))
        clock = ClinicTime.morning()
        async with open_runtime(load_settings(home.config, env={}), clock=clock.clock()) as rt:
            op = Person("op1", "operator", frozenset({"c1"}), interfaces=("PJSIP/101",))
            member = await add_staff(
                rt.storage,
                op.name,
                op.role,
                password_hash=hash_password(PASSWORD),
                interfaces=op.interfaces,
                clinics=op.clinics,
                token=False,
                display_name="Администратор Смена",
                now=clock.now(),
            )
            op.user_id = member.user_id
            base = f"http://127.0.0.1:{port}"
            async with (
                web_server(rt),
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
            ):
                op.http = http
                await login(op, base)
                yield Desk(rt, base, op, twilio, clock)
    finally:
        await twilio.stop()


async def test_a_class_a_complaint_is_kept_with_its_contact_and_alerts_the_senior_administrator_once(
    tmp_path: Path, database_url: str
) -> None:
    async with desk(tmp_path, database_url=database_url) as d:
        wrapup_id = await d.call()
        form = {"result": "no_result", "complaint_class": "A", "complaint_comment": SECRET}
        assert await d.wrap_up(wrapup_id, form) == (
            200,
            {"saved": True, "result": "no_result", "label": "Просто позвонил без результата"},
        )
        # The same wrap-up again: refused, and no second complaint nor a second message.
        status, _ = await d.wrap_up(wrapup_id, form)
        assert status == 409

        [contact] = await d.rows(journal_schema.contacts)
        [complaint] = await d.rows(quality_schema.complaints)
        assert (complaint.contact_id, complaint.user_id, complaint.complaint_class) == (
            contact.contact_id,
            d.op.user_id,
            "A",
        )
        assert complaint.comment == SECRET and complaint.alerted_at is not None
        [alert] = await d.rows(schema.alerts)
        assert alert.kind == "complaint" and alert.clinic_id == "c1"
        [sms] = d.twilio.messages
        assert sms.to == SUPERVISOR_PHONE
        assert f"жалоба класса A (качество/безопасность) №{complaint.complaint_id}" in sms.body
        for private in (SECRET, "Иванова", PATIENT_PHONE, PATIENT_PHONE[2:]):
            assert private not in sms.body and private not in alert.detail

        # The board shows it among the clinic's alerts.
        board = await d.rt.live.board.snapshot(d.rt.settings.clinics["c1"])
        assert [a["kind"] for a in board["alerts"]] == ["complaint"]


async def test_classes_b_and_c_are_kept_without_an_alert(tmp_path: Path, database_url: str) -> None:
    async with desk(tmp_path, database_url=database_url) as d:
        for klass in ("B", "C"):
            status, _ = await d.wrap_up(
                await d.call(),
                {"result": "no_result", "complaint_class": klass, "complaint_comment": "долго ждал"},
            )
            assert status == 200
        assert [c.complaint_class for c in await d.rows(quality_schema.complaints)] == ["B", "C"]
        assert all(c.alerted_at is None for c in await d.rows(quality_schema.complaints))
        assert await d.rows(schema.alerts) == [] and d.twilio.messages == []


async def test_a_bad_complaint_is_refused_field_by_field_and_nothing_is_saved(
    tmp_path: Path, database_url: str
) -> None:
    async with desk(tmp_path, database_url=database_url) as d:
        wrapup_id = await d.call()
        for form, field in (
            ({"complaint_class": "D", "complaint_comment": "x"}, "complaint_class"),
            ({"complaint_class": "A"}, "complaint_comment"),
            ({"complaint_comment": "без класса"}, "complaint_class"),
        ):
            status, answer = await d.wrap_up(wrapup_id, {"result": "no_result", **form})
            assert status == 400 and [e["field"] for e in answer["errors"]] == [field], answer
        assert await d.rows(journal_schema.contacts) == []
        assert await d.rows(quality_schema.complaints) == [] and d.twilio.messages == []
