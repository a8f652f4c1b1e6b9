"""The web pages in real Chromium against the real service and the real Asterisk sandbox."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bench.lib.carrier_numbers import FarEnd
from bench.lib.clinic import ClinicTime
from tests.asterisk_plugin import SandboxHandle
from tests.e2e.browser import chromium, logged_in, screenshot_dir
from tests.inbound_scenario import carrier_phone, running_service
from tests.operators import PASSWORD, add_user, api_token
from tests.support import sim_phone, until

pytestmark = [pytest.mark.asterisk, pytest.mark.browser, pytest.mark.anyhour]


async def import_patient(svc, phone: str, name: str, token: str) -> None:  # type: ignore[no-untyped-def]
    tomorrow = (svc.clinic.today + timedelta(days=1)).isoformat()
    body = [
        {
            "appointment_id": f"V-{phone[-4:]}",
            "clinic": "c1",
            "patient_name": name,
            "phone": phone,
            "visit_date": tomorrow,
            "visit_time": "17:30",
            "doctor": "Иванова Мария Петровна",
        }
    ]
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(f"{svc.base}/api/appointments", json=body) as r,
    ):
        assert r.status == 200, await r.text()


async def test_operators_see_the_caller_and_wrap_up_and_the_supervisor_sees_the_line(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    rng = random.Random()
    phone = sim_phone(3, rng)
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc, chromium() as browser:
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
        add_user(svc, "olga", "operator", "Ольга Белова", "Local/admin2@sandbox-agents")
        add_user(svc, "boss", "supervisor", "Елена Старшая")
        token = api_token(svc)
        await import_patient(svc, phone, "Смирнова Анна Сергеевна", token)
        await svc.admins(admin1="answer", admin2="ring")
        await svc.set_global("SIM_TALK_admin1", "4")
        _, anna = await logged_in(browser, svc.base, "anna", PASSWORD)
        _, olga = await logged_in(browser, svc.base, "olga", PASSWORD)
        _, boss = await logged_in(browser, svc.base, "boss", PASSWORD)
        for page in (anna, olga, boss):
            await page.wait_for_selector("#link.on", timeout=10_000)

        # An operator is refused the supervisor's page.
        refused = await anna.context.request.get(f"{svc.base}/supervisor")
        assert refused.status == 403

        # A patient calls; both phones ring (ringall); both cards show her, Cyrillic intact.
        await svc.call_in("100", phone, patience=20)
        for page in (anna, olga):
            card = page.locator(".card.ringing")
            await card.wait_for(timeout=15_000)
            assert "Смирнова Анна Сергеевна" in await card.inner_text()
        # Anna answers: Olga's card closes; Anna's turns active.
        await olga.locator(".card").wait_for(state="detached", timeout=15_000)
        await anna.locator(".card.active").wait_for(timeout=15_000)
        if (shots := screenshot_dir()) is not None:
            await anna.screenshot(path=str(shots / "operator-card.png"), full_page=True)
        # The call ends; Anna books the patient.
        form = anna.locator(".card.wrapup form")
        await form.wait_for(timeout=20_000)
        await form.locator('input[value="booked"]').check()
        visit = (svc.clinic.today + timedelta(days=2)).isoformat()
        await form.locator('input[name="visit_date"]').fill(visit)
        await form.locator('input[name="slot1"]').fill("сегодня 18:40")
        await form.locator('input[name="slot2"]').fill("завтра 12:20")
        # She also marks the patient's complaint about the service: class A, quality or safety.
        await form.locator('select[name="complaint_class"]').select_option("A")
        await form.locator('input[name="complaint_comment"]').fill("грубо ответили на ресепшене")
        await form.locator("button").click()
        await anna.locator(".toast").wait_for(timeout=10_000)
        (contact,) = svc.home.query("select * from contacts")
        assert (contact["result"], contact["phone"], contact["direction"]) == ("booked", phone, "in")
        assert contact["follow_up"] == visit and "сегодня 18:40" in contact["comment"]
        assert contact["talk_seconds"] and contact["talk_seconds"] > 2
        (complaint,) = svc.home.query("select * from complaints")
        assert (complaint["contact_id"], complaint["complaint_class"]) == (contact["contact_id"], "A")
        assert complaint["alerted_at"] is not None
        # The senior administrator's board shows it at once, and so does her phone (no patient's name in it).
        await boss.locator("#alerts", has_text="жалоба класса A").wait_for(timeout=10_000)
        texts = [m.body for m in svc.twilio.messages if "жалоба класса A" in m.body]
        assert len(texts) == 1 and "Смирнова" not in texts[0] and "грубо" not in texts[0]

        # A caller abandons: the supervisor's missed % and the callbacks tile change, live.
        before = await boss.locator("#tiles").get_attribute("data-missed")
        await svc.admins(admin2="ring")
        await svc.call_in("100", sim_phone(3, rng), patience=7)

        async def missed_changed() -> bool:
            return await boss.locator("#tiles").get_attribute("data-missed") != before

        # The page's CSP forbids eval, so this polls from here rather than with wait_for_function.
        await until(missed_changed, "the board's missed % to change", timeout=30, every=0.25)
        assert await boss.locator("#callbacks tr.green, #callbacks tr.amber").count() >= 1
        if shots is not None:
            await boss.screenshot(path=str(shots / "supervisor.png"), full_page=True)


async def test_login_is_refused_after_too_many_failures(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc, chromium() as browser:
        add_user(svc, "anna", "operator", "Анна", "Local/admin1@sandbox-agents")
        context = await browser.new_context()
        page = await context.new_page()
        statuses = []
        for _ in range(6):
            await page.goto(f"{svc.base}/login")
            await page.fill('input[name="username"]', "anna")
            await page.fill('input[name="password"]', "неправильный")
            async with page.expect_navigation() as nav:
                await page.click('button[type="submit"]')
            statuses.append((await nav.value).status)
        assert statuses[:5] == [401] * 5 and statuses[5] == 429
        assert "Слишком много" in await page.content()
        # The right password waits its turn too, from a new browser: 5 s after the fifth failure (slowed, not
        # locked: a browser that had logged in as anna before would not wait at all).
        _, page = await logged_in(browser, svc.base, "anna", PASSWORD)
        assert page.url.endswith("/login")


async def test_an_administrator_works_two_kos_calls_from_pop_up_to_wrap_up(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    from tests.kos_scenario import kos_config, webhook_receiver

    clinic = ClinicTime.morning()
    today = clinic.today
    rng = random.Random()
    first, second = carrier_phone(FarEnd.PERSON, rng), carrier_phone(FarEnd.PERSON, rng)  # they press nothing
    comments = {first: "Контроль пломбы 36 через полгода", second: "Продолжить лечение: 46 под коронку"}
    names = {first: "Смирнова Анна", second: "Кузнецов Игорь"}
    async with (
        webhook_receiver(fail_first=0) as receiver,
        running_service(
            sandbox, tmp_path, clinic, extra=kos_config(receiver.port), database_url=database_url
        ) as svc,
        chromium() as browser,
    ):
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
        token = api_token(svc)
        await svc.admins(admin1="answer")
        await svc.set_global("SIM_TALK_admin1", "4")
        _, anna = await logged_in(browser, svc.base, "anna", PASSWORD)
        await anna.wait_for_selector("#link.on", timeout=10_000)
        rows = [
            {
                "recall_id": f"K-{n}",
                "clinic": "c1",
                "patient_name": name,
                "phone": phone,
                "doctor": "Петрова Анна Викторовна",
                "comment": comments[phone],
                "target_date": today.isoformat(),
            }
            for n, (phone, name) in enumerate(names.items())
        ]
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
            http.post(f"{svc.base}/api/kos", json=rows) as r,
        ):
            assert r.status == 200, await r.text()
        shots = screenshot_dir()
        worked: list[str] = []
        for _ in range(2):
            # The patient is bridged to Anna: the card says why we call and shows the doctor's proposal.
            card = anna.locator(".card.active")
            await card.wait_for(timeout=60_000)
            text = await card.inner_text()
            assert "КОС" in text and "Мы звоним" in text
            phone = first if comments[first] in text else second
            assert comments[phone] in text and phone not in worked
            assert names[phone] in text  # the patient's name from the КОС journal, Cyrillic intact
            if shots is not None and not worked:
                await anna.screenshot(path=str(shots / "operator-kos.png"), full_page=True)
            form = anna.locator(".card.wrapup form")
            await form.wait_for(timeout=30_000)
            if not worked:
                await form.locator('input[value="booked"]').check()
                visit = (today + timedelta(days=4)).isoformat()
                await form.locator('input[name="visit_date"]').fill(visit)
            else:
                await form.locator('input[value="refused"]').check()
                await form.locator('[data-for="refused"] select[name="reason"]').select_option("дорого")
            await form.locator("button").click()
            await anna.locator(".toast").wait_for(timeout=10_000)
            await anna.locator(".card.wrapup").wait_for(state="detached", timeout=10_000)
            worked.append(phone)
        statuses = {
            r["phone"]: (r["status"], r["booked_day"], r["reason"])
            for r in svc.home.query("select * from recalls")
        }
        assert statuses[worked[0]] == ("booked", (today + timedelta(days=4)).isoformat(), "")
        assert statuses[worked[1]][0] == "refused" and statuses[worked[1]][2] == "дорого"
        flags = {r["flags"] for r in svc.home.query("select flags from contacts")}
        assert flags == {"Мы звоним,КОС"}
