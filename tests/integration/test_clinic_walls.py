"""Clinic walls, beyond the status codes of the matrix: what each person is shown. Pop-up cards reach only the
operators of the call's clinic, with that clinic's records, even on a phone two clinics share; a supervisor's
board over the socket stays on their clinics whatever the browser asks; lists, imports and page filters are
cut to the caller's clinics; `dialer users add --clinic` stores several clinics; migration 0007 moves the old
single clinic column into the membership table. Real SQLite, the app as the service builds it, real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from alembic import command
from sqlalchemy import create_engine, text

from dialer.core.tracker import Event
from dialer.engine.importing import import_appointments
from dialer.storage.db import alembic_config
from tests.clinics import Chain, Person, chain_config, clinic_chain, staff
from tests.support import DialerHome

SHARED_PHONE = "PJSIP/101"  # a desk both clinics' operators sit at, on different shifts


def cast() -> list[Person]:
    return [*staff(), Person("op2", "operator", frozenset({"c2"}), interfaces=(SHARED_PHONE,))]


@contextlib.asynccontextmanager
async def socket(
    chain: Chain, person: Person, **params: str
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    assert person.http is not None
    async with person.http.ws_connect(f"{chain.base}/ws", params=params or None) as ws:
        yield ws


async def messages(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[dict[str, Any]]:
    """Everything the socket says within `seconds`."""
    got: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in ws:
                got.append(json.loads(message.data))
    return got


async def first_message(
    ws: aiohttp.ClientWebSocketResponse, check: Any, seconds: float = 10
) -> dict[str, Any]:
    """The first message on the socket that passes `check`."""
    async with asyncio.timeout(seconds):
        async for message in ws:
            data = json.loads(message.data)
            if check(data):
                return dict(data)
    raise AssertionError("the socket closed")


def inbound_call(key: str, did: str, caller: str, queue: str) -> list[Event]:
    """What Asterisk says when a patient dials `did` and the queue rings the shared phone."""
    digits = caller.lstrip("+")
    return [
        {
            "Event": "Newchannel",
            "Channel": f"PJSIP/trunk-{key}",
            "Uniqueid": key,
            "Linkedid": key,
            "Context": "clinic-inbound",
            "Exten": did,
            "CallerIDNum": digits,
        },
        {
            "Event": "AgentCalled",
            "Queue": queue,
            "Interface": SHARED_PHONE,
            "Linkedid": key,
            "Uniqueid": key,
            "DestUniqueid": f"{key}-agent",
            "CallerIDNum": digits,
        },
    ]


async def test_a_call_pops_up_only_for_its_clinic_with_that_clinics_records(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, cast(), database_url=database_url) as chain:
        # The same number is a patient of c1 and, under another name, of c2 (a family's shared phone).
        phone = chain.phones["c1"]
        twin = chain.appointment_row("c2", "c2-TWIN", name="Двойникова Ольга")
        twin["phone"] = phone
        done = await import_appointments(
            [(1, twin)], settings=chain.rt.settings, store=chain.rt.storage.appointments, now=chain.time.now()
        )
        assert done.ok
        op1, op2 = chain.people["op1"], chain.people["op2"]
        popups = asyncio.create_task(chain.rt.popups.run())
        try:
            async with socket(chain, op1) as ws1, socket(chain, op2) as ws2:
                # The server holds a page's socket from its handshake on; the operators' phones are read here
                # rather than waited for from the popups loop's first turn.
                await chain.rt.popups.refresh_operators()
                for event in inbound_call("1700.1", "200", phone, "c2-reception"):  # dialled c2's number
                    chain.rt.intake.feed(event)
                card = await first_message(ws2, lambda m: m.get("type") == "card")
                names = [p["name"] for p in card["card"]["patients"]]
                assert names == ["Двойникова Ольга"] and {v["clinic"] for v in card["card"]["visits"]} == {
                    "c2"
                }
                assert await messages(ws1, 1.0) == []  # the c1 operator at the same phone: nothing
                for event in inbound_call("1800.1", "100", phone, "c1-reception"):  # dialled c1's number
                    chain.rt.intake.feed(event)
                card = await first_message(ws1, lambda m: m.get("type") == "card")
                assert [p["name"] for p in card["card"]["patients"]] == ["Пациент Проверочный"]
                assert "Двойникова" not in json.dumps(card, ensure_ascii=False)
                assert {v["clinic"] for v in card["card"]["visits"]} == {"c1"}
                assert await messages(ws2, 1.0) == []
                # A call of no known clinic (a number nobody configured, a queue of nobody's) goes to nobody
                # here: only users of every clinic may see it.
                for event in inbound_call("1900.1", "999", phone, "elsewhere"):
                    chain.rt.intake.feed(event)
                assert await messages(ws1, 1.0) == [] and await messages(ws2, 0.2) == []
        finally:
            popups.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await popups


async def test_an_operator_wraps_up_only_their_own_call(tmp_path: Path, database_url: str) -> None:
    async with clinic_chain(tmp_path, cast(), database_url=database_url) as chain:
        op1, op2 = chain.people["op1"], chain.people["op2"]
        theirs = await chain.pending_wrapup("c1", op1.user_id, "call-1")
        assert op2.http is not None and op1.http is not None
        url = f"{chain.base}/api/wrapups/{theirs.wrapup_id}"
        async with op2.http.post(url, json={"result": "no_result"}, headers=op2.headers()) as r:
            assert r.status == 404  # as if there were no such call
        async with op1.http.post(url, json={"result": "no_result"}, headers=op1.headers()) as r:
            assert r.status == 200, await r.text()


async def test_the_live_board_stays_on_the_supervisors_clinics(tmp_path: Path, database_url: str) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        sup1, sup23 = chain.people["sup1"], chain.people["sup23"]
        async with socket(chain, sup1) as ws:  # no ?clinic=: their own clinic
            assert (await first_message(ws, lambda m: m.get("type") == "board"))["clinic"] == "c1"
            await ws.send_str(json.dumps({"clinic": "c2"}))  # the browser asks for another clinic's board
            assert [m for m in await messages(ws, 1.5) if m.get("clinic") == "c2"] == []
        async with socket(chain, sup23) as ws:
            assert (await first_message(ws, lambda m: m.get("type") == "board"))["clinic"] == "c2"
            await ws.send_str(json.dumps({"clinic": "c3"}))  # their other clinic: switched
            assert (await first_message(ws, lambda m: m.get("type") == "board"))["clinic"] == "c3"
            await ws.send_str(json.dumps({"clinic": "c1"}))
            assert [m for m in await messages(ws, 1.5) if m.get("clinic") == "c1"] == []


async def test_lists_imports_and_page_filters_hold_only_the_callers_clinics(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        crm1, sup23 = chain.people["crm1"], chain.people["sup23"]
        assert crm1.http is not None and sup23.http is not None
        rows = [
            chain.appointment_row("c1", "MIX-1"),
            chain.appointment_row("c2", "MIX-2"),
            chain.appointment_row("c1", "MIX-3"),
            chain.appointment_row("c3", "MIX-4"),
        ]
        async with crm1.http.post(f"{chain.base}/api/appointments", json=rows, headers=crm1.headers()) as r:
            body = await r.json()
        assert r.status == 400 and body["imported"] == 2
        assert [(e["row"], e["field"]) for e in body["errors"]] == [(2, "clinic"), (4, "clinic")]
        assert all("нет доступа к клинике" in e["message"] for e in body["errors"])
        stored = {
            (r["clinic_id"], r["appointment_id"]) for r in chain.home.query("select * from appointments")
        }
        assert {("c1", "MIX-1"), ("c1", "MIX-3")} <= stored and not {
            ("c2", "MIX-2"),
            ("c3", "MIX-4"),
        } & stored
        recalls = [chain.recall_row("c1", "K-A"), chain.recall_row("c2", "K-B")]
        async with crm1.http.post(f"{chain.base}/api/kos", json=recalls, headers=crm1.headers()) as r:
            body = await r.json()
        assert r.status == 400 and body["imported"] == 1 and body["errors"][0]["row"] == 2

        # Lists with no ?clinic=: only the caller's clinics.
        day = rows[0]["visit_date"]
        async with crm1.http.get(
            f"{chain.base}/api/appointments", params={"date": day}, headers=crm1.headers()
        ) as r:
            assert {a["clinic"] for a in (await r.json())["appointments"]} == {"c1"}
        async with crm1.http.get(f"{chain.base}/api/kos", headers=crm1.headers()) as r:
            assert {k["clinic"] for k in (await r.json())["recalls"]} == {"c1"}
        async with sup23.http.get(f"{chain.base}/api/kos", headers=sup23.headers()) as r:
            assert {k["clinic"] for k in (await r.json())["recalls"]} == {"c2", "c3"}

        # Pages: their first clinic by default, and only their clinics to choose from.
        async with sup23.http.get(f"{chain.base}/supervisor/missed") as r:
            page = await r.text()
        assert "Пропущенные звонки: Клиника c2" in page
        assert 'value="c2"' in page and 'value="c3"' in page and 'value="c1"' not in page
        async with sup23.http.get(f"{chain.base}/supervisor") as r:
            page = await r.text()
        assert 'value="c3"' in page and 'value="c1"' not in page


async def test_report_filters_list_only_the_clinics_operators(tmp_path: Path, database_url: str) -> None:
    async with clinic_chain(tmp_path, cast(), database_url=database_url) as chain:
        sup1 = chain.people["sup1"]
        assert sup1.http is not None
        async with sup1.http.get(f"{chain.base}/supervisor/report", params={"clinic": "c1"}) as r:
            page = await r.text()
        assert "Сотрудник op1" in page and "Сотрудник op2" not in page


def test_users_add_takes_several_clinics_and_asks_for_them_where_there_are_several(
    tmp_path: Path, database_url: str
) -> None:
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(chain_config(8080))
    made = _add(home, "lena", "supervisor", "--clinic", "c1", "--clinic", "c2")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "c1, c2" in made.stdout
    one = _add(home, "olga", "operator", "--clinic", "c3", "--phone", "PJSIP/103")
    assert one.returncode == 0, one.stdout
    unnamed = _add(home, "ivan", "operator")
    assert unnamed.returncode != 0 and "--clinic" in unnamed.stdout
    unknown = _add(home, "petr", "operator", "--clinic", "c9")
    assert unknown.returncode != 0 and "c9" in unknown.stdout
    boss = _add(home, "root", "admin")
    assert boss.returncode == 0 and "все клиники" in boss.stdout
    listed = home.run("users", "list").stdout
    clinics = {line.split("\t")[0]: line.split("\t")[2] for line in listed.splitlines()[1:]}
    assert clinics == {"lena": "c1, c2", "olga": "c3", "root": "*"}
    rows = home.query("select u.username, c.clinic_id from user_clinics c join users u using (user_id)")
    assert sorted((r["username"], r["clinic_id"]) for r in rows) == [
        ("lena", "c1"),
        ("lena", "c2"),
        ("olga", "c3"),
        ("root", "*"),
    ]


def _add(home: DialerHome, name: str, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["users", "add", name, "--role", role, "--password-stdin", *args]
    return subprocess.run(
        [sys.executable, "-m", "dialer", "--config", str(home.config), *command],
        input="пароль-для-теста\n",
        capture_output=True,
        text=True,
        cwd=home.root,
        timeout=60,
    )


def test_migration_0007_moves_each_users_clinic_into_the_membership_table(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'dialer.sqlite3'}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        for n, clinic in enumerate(("c1", "*", "c2"), start=1):
            connection.execute(
                text(
                    "insert into users (user_id, clinic_id, username, display_name, role, password_hash, "
                    "interfaces, disabled, created_at) values (:n, :c, :u, :u, 'supervisor', 'x', '', 0, "
                    "'2026-12-01 10:00:00.000000')"
                ),
                {"n": n, "c": clinic, "u": f"user{n}"},
            )
        connection.execute(
            text(
                "insert into sessions (token_hash, clinic_id, user_id, csrf_token, created_at, expires_at) "
                "values ('t', '*', 1, 'x', '2026-12-01 10:00:00.000000', '2026-12-01 22:00:00.000000')"
            )
        )
        command.upgrade(config, "0007")
        held = sorted(
            tuple(r) for r in connection.execute(text("select user_id, clinic_id from user_clinics"))
        )
        assert held == [(1, "c1"), (2, "*"), (3, "c2")]
        assert "clinic_id" not in {r[1] for r in connection.execute(text("pragma table_info(users)"))}
        assert connection.execute(text("select count(*) from sessions")).scalar() == 1  # still logged in
        connection.execute(text("insert into user_clinics values (3, 'c1')"))  # user3 now works for two
        command.downgrade(config, "0006")
        back = sorted(tuple(r) for r in connection.execute(text("select user_id, clinic_id from users")))
        assert back == [(1, "c1"), (2, "*"), (3, "c1")]  # one column keeps one clinic: the first, not more
    engine.dispose()
