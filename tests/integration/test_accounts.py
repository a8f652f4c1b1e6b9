"""Ending access, against the real app on a real SQLite file: `dialer users disable` and `passwd`, run as the
real command in its own process, end the user's sessions, and the service closes their open pages' live
sockets within its one-second check; a session that expires or is logged out closes its socket too; and the
audit log has a line for each thing people did, with no patient's name or number in it."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dialer import accounts
from dialer.cli import audit, lists
from dialer.core.records import WrapupRow, WrapupState
from dialer.web.auth import SESSION_LIFETIME
from dialer.web.live import ENDED, SESSION_CHECK_SECONDS
from tests.logins import PASSWORD, Browser, Site, running_site
from tests.support import until

CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


async def next_message(ws: Any, timeout: float = 5.0) -> aiohttp.WSMessage:
    return await asyncio.wait_for(ws.receive(), timeout)


async def assert_closed_for_login(ws: Any) -> None:
    message = await next_message(ws)
    assert message.type in CLOSED, message
    assert ws.close_code == ENDED


async def run_cli(site: Site, *args: str, stdin: str | None = None) -> str:
    """The real `dialer` command, in its own process, as the clinic's IT person runs it."""

    def run() -> str:
        import subprocess
        import sys

        done = subprocess.run(
            [sys.executable, "-m", "dialer", "--config", str(site.home.config), *args],
            cwd=site.home.root,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return await asyncio.to_thread(run)


async def one_check(site: Site) -> None:
    """One period of the service's session check passes."""
    site.clock.advance(SESSION_CHECK_SECONDS)


async def test_disabling_a_user_ends_the_sessions_and_closes_the_open_pages(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_site(tmp_path, database_url=database_url) as site,
        site.browser() as anna,
        site.browser("127.0.0.8") as other,
    ):
        anna_id = await site.add_user("anna", token=True)
        await site.add_user("boris")
        assert (await anna.login("anna")).status == 303
        assert (await other.login("boris")).status == 303
        bearer = {"Authorization": f"Bearer {site.tokens['anna']}"}
        assert (await anna.get("/", headers=bearer))[0] == 303  # her token works
        async with anna.socket() as page, other.socket() as boris_page:
            site.rt.live.to_user(anna_id, {"type": "close", "call": "c-1"})
            assert json.loads((await next_message(page)).data)["call"] == "c-1"
            out = await run_cli(site, "users", "disable", "anna")
            assert "отключён; завершено сессий: 1" in out
            await one_check(site)
            await assert_closed_for_login(page)
            assert not boris_page.closed
        assert (await anna.get("/", headers=bearer))[
            0
        ] == 401  # her API token is refused while she is disabled
        status, location, _ = await anna.get("/operator")
        assert status == 303 and location.startswith("/login")
        assert (await anna.login("anna")).status == 401
        await run_cli(site, "users", "enable", "anna")
        assert (await anna.login("anna")).status == 303


async def test_a_new_password_ends_the_old_sessions_and_closes_their_pages(
    tmp_path: Path, database_url: str
) -> None:
    async with running_site(tmp_path, database_url=database_url) as site, site.browser() as browser:
        await site.add_user("anna")
        assert (await browser.login("anna")).status == 303
        async with browser.socket() as page:
            out = await run_cli(
                site, "users", "passwd", "anna", "--password-stdin", stdin="новый-пароль-42\n"
            )
            assert "сменён; завершено сессий: 1" in out and "показан один раз" not in out
            await one_check(site)
            await assert_closed_for_login(page)
        assert (await browser.get("/operator"))[0] == 303
        assert (await browser.login("anna", PASSWORD)).status == 401
        assert (await browser.login("anna", "новый-пароль-42")).status == 303


async def test_logging_out_closes_the_pages_socket_at_once(tmp_path: Path, database_url: str) -> None:
    async with running_site(tmp_path, database_url=database_url) as site, site.browser() as browser:
        anna_id = await site.add_user("anna")
        assert (await browser.login("anna")).status == 303
        async with browser.socket() as page:
            await browser.logout()  # no clock tick: this process ended the session itself
            await assert_closed_for_login(page)
            site.rt.live.to_user(anna_id, {"type": "close", "call": "after-logout"})


async def test_an_expired_sessions_socket_is_closed(tmp_path: Path, database_url: str) -> None:
    async with running_site(tmp_path, database_url=database_url) as site, site.browser() as browser:
        anna_id = await site.add_user("anna")
        assert (await browser.login("anna")).status == 303
        async with browser.socket() as page:
            asleep = site.clock.sleepers
            site.clock.advance(SESSION_LIFETIME - timedelta(minutes=1))
            # The loops the jump woke (the session check among them) are done once they sleep again.
            await until(lambda: site.clock.sleepers >= asleep, "the session check to run (and find it open)")
            site.rt.live.to_user(anna_id, {"type": "close", "call": "still-on"})
            assert json.loads((await next_message(page)).data)["call"] == "still-on"
            site.clock.advance(timedelta(minutes=1))
            site.rt.live.to_user(anna_id, {"type": "close", "call": "too-late"})  # past expiry: not sent
            await one_check(site)
            await assert_closed_for_login(page)


async def test_the_audit_log_has_a_line_for_each_action_and_no_patient_data(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        running_site(tmp_path, database_url=database_url) as site,
        site.browser() as anna,
        site.browser() as boss,
    ):
        anna_id = await site.add_user("anna")
        await site.add_user("boss", "supervisor")
        await site.add_user("crm", "admin", token=True)
        crm = {"Authorization": f"Bearer {site.tokens['crm']}"}
        assert (await anna.login("anna", "не тот пароль")).status == 401
        assert (await anna.login("никого-нет", "пароль-от-почты")).status == 401
        assert (await anna.login("anna")).status == 303
        assert (await boss.login("boss")).status == 303
        patient = {
            "appointment_id": "A-77",
            "clinic": "c1",
            "patient_name": "Смирнова Анна Сергеевна",
            "phone": "+79161234567",
            "visit_date": (site.clock.now() + timedelta(days=2)).date().isoformat(),
            "visit_time": "10:30",
            "doctor": "Иванова М. П.",
        }
        async with anna.http.post(f"{anna.base}/api/appointments", json=[patient], headers=crm) as r:
            assert r.status == 200, await r.text()
        body = {"clinic": "c1", "appointment_id": "A-77"}
        async with anna.http.post(f"{anna.base}/api/appointments/cancel", json=body, headers=crm) as r:
            assert r.status == 200, await r.text()
        assert (await boss.get("/supervisor/report.csv", params={"clinic": "c1"}))[0] == 200
        await wrap_up_a_call(site, anna, anna_id)
        assert await anna.logout() == 303
        out = io.StringIO()
        csv = tmp_path / "list.csv"
        csv.write_text(
            "appointment_id,clinic,patient_name,phone,visit_date,visit_time,doctor\n"
            f"A-78,c1,Кузнецов Игорь,+79161234568,{patient['visit_date']},11:00,Петров А. Н.\n",
            encoding="utf-8",
        )
        assert await lists.import_appointments_file(site.settings, csv, out) == 0
        assert await lists.export_outcomes(site.settings, site.clock.now().date(), "c1", out) == 0
        assert await accounts.users_disable(site.settings, "anna", out) == 0
        assert await accounts.users_enable(site.settings, "anna", out) == 0
        assert await accounts.users_passwd(site.settings, "anna", None, out) == 0
        assert await accounts.users_token(site.settings, "anna", out) == 0
        assert await accounts.users_revoke_token(site.settings, "anna", out) == 0
        assert (
            await accounts.users_add(
                site.settings,
                username="vera",
                role="operator",
                name="Вера",
                interfaces=[],
                clinics=["c1"],
                password=None,
                api_token=False,
                out=out,
            )
            == 0
        )

        rows = site.home.query("select actor, action, clinic_id, detail from audit_log order by audit_id")
        actions = [(r["actor"], r["action"]) for r in rows]
        system = audit.cli_actor()
        assert actions == [
            ("anna", "login_failed"),
            ("", "login_failed"),  # an unknown name is not written down
            ("anna", "login"),
            ("boss", "login"),
            ("crm", "import"),
            ("crm", "cancel"),
            ("boss", "export"),
            ("anna", "wrapup"),
            ("anna", "logout"),
            (system, "import"),
            (system, "export"),
            (system, "user_disable"),
            (system, "user_enable"),
            (system, "user_passwd"),
            (system, "user_token"),
            (system, "user_revoke_token"),
            (system, "user_add"),
        ], actions
        details = {r["action"]: json.loads(r["detail"]) for r in rows}
        assert details["import"]["file"] == "list.csv" and details["import"]["created"] == 1
        assert details["cancel"] == {"appointment_id": "A-77", "via": "api"}
        assert details["export"]["report"] == "outcomes"
        assert details["wrapup"]["phone"] == "+7916*****67" and details["wrapup"]["result"] == "no_result"
        dump = json.dumps([dict(r) for r in rows], ensure_ascii=False)
        for secret in ("Смирнова", "Кузнецов", "9161234567", "9161234568", "пароль", "никого-нет", PASSWORD):
            assert secret not in dump

        status, _, page = await boss.get("/supervisor/audit", params={"user": "anna"})
        assert status == 200 and "итог звонка" in page and "user_disable" not in page
        listing = io.StringIO()
        await accounts.audit(site.settings, None, "anna", listing)
        assert [line.split("\t")[2] for line in listing.getvalue().splitlines()] == [
            "logout",
            "wrapup",
            "login",
            "login_failed",
        ]


async def wrap_up_a_call(site: Site, browser: Browser, user_id: int) -> None:
    now = site.clock.now()
    row = await site.rt.storage.wrapups.open(
        WrapupRow(
            0, "c1", user_id, "call-1", "+79161234567", "in", "inbound", now, now, None, WrapupState.PENDING
        )
    )
    await site.rt.storage.wrapups.ended(row.wrapup_id, now)
    async with browser.http.post(
        f"{browser.base}/api/wrapups/{row.wrapup_id}",
        json={"result": "no_result"},
        headers={"X-CSRF-Token": browser.csrf},
    ) as r:
        assert r.status == 200, await r.text()


def test_the_minimum_password_length_is_one_number() -> None:
    from dialer.__main__ import PASSWORD_STDIN
    from dialer.core.passwords import MIN_LENGTH, WeakPassword, hash_password

    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert MIN_LENGTH == 10
    assert f"at least {MIN_LENGTH} characters" in readme
    assert f"не короче {MIN_LENGTH} символов" in PASSWORD_STDIN
    hash_password("x" * MIN_LENGTH)
    with pytest.raises(WeakPassword):
        hash_password("x" * (MIN_LENGTH - 1))
