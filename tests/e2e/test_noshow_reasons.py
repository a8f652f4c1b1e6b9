"""No-show reasons in real Chromium against the web app as the service builds it, on a real SQLite file: the
senior administrator opens the week's no-shows, records why a patient did not come, and sees it counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.engine.importing import import_appointments
from tests.clinics import PASSWORD, clinic_chain
from tests.e2e.browser import chromium, logged_in, screenshot_dir

pytestmark = [pytest.mark.browser]


async def test_the_senior_administrator_records_a_reason_and_sees_it_counted(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain, chromium() as browser:
        day = chain.time.today.isoformat()
        rows = [
            (n, {**chain.appointment_row("c1", a), "visit_date": day, "attended": "нет", **extra})
            for n, (a, extra) in enumerate(
                [("NS-1", {}), ("NS-2", {"noshow_reason": "забыла"}), ("NS-3", {})], start=1
            )
        ]
        outcome = await import_appointments(
            rows, settings=chain.rt.settings, store=chain.rt.storage.appointments, now=chain.time.now()
        )
        assert outcome.ok, outcome.errors
        _, boss = await logged_in(browser, chain.base, "sup1", PASSWORD)

        await boss.goto(f"{chain.base}/supervisor/noshow?clinic=c1&date={day}")
        assert "Причина известна: 1 из 3" in await boss.locator("p.known").inner_text()
        row = boss.locator('tr[data-appointment="NS-1"]')
        assert "не выяснена" in await row.inner_text()
        await row.locator('select[name="reason"]').select_option("ill")
        await row.locator('input[name="comment"]').fill("простуда, перезапишется сама")
        await row.locator("button").click()
        await boss.wait_for_url(f"**/supervisor/noshow?clinic=c1&date={day}")

        assert "Причина известна: 2 из 3" in await boss.locator("p.known").inner_text()
        assert "1" in await boss.locator('li[data-reason="ill"]').inner_text()
        assert "1" in await boss.locator('li[data-reason="forgot"]').inner_text()
        row = boss.locator('tr[data-appointment="NS-1"]')
        assert "заболел / плохое самочувствие" in await row.inner_text()
        assert await row.locator('input[name="comment"]').input_value() == "простуда, перезапишется сама"
        if (shots := screenshot_dir()) is not None:
            await boss.screenshot(path=str(shots / "noshow.png"), full_page=True)
