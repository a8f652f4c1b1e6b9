"""Listening and scoring in real Chromium against the web app as the service builds it, on a real SQLite file:
the supervisor finds a call in the log, plays its recording (a real Ogg Vorbis file made by sox), scores it by
the checklist's scorecard, and sees the administrator's weekly score change; an administrator is kept out."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from dialer.core.quality import CRITERIA
from tests.clinics import PASSWORD, Chain, clinic_chain
from tests.e2e.browser import chromium, logged_in, screenshot_dir
from tests.quality_calls import add_call, add_recording

pytestmark = [pytest.mark.browser]

RECORDED_SECONDS = 4


async def seed(chain: Chain) -> tuple[int, int, int]:
    """op1's recorded call, and a recording of another administrator's call: (contact, recording, other's)."""
    engine, folder, now = chain.rt.storage.engine, chain.rt.settings.service.recordings_dir, chain.time.now()
    op1, other = chain.people["op1"].user_id, chain.people["optoken"].user_id
    contact = await add_call(engine, "c1", user_id=op1, phone=chain.phones["c1"], at=now, call_ref="L-1")
    recording = await add_recording(
        engine, folder, "c1", call_ref="L-1", user_id=op1, at=now, seconds=RECORDED_SECONDS
    )
    await add_call(engine, "c1", user_id=other, phone=chain.phones["c1"], at=now, call_ref="L-2")
    others = await add_recording(engine, folder, "c1", call_ref="L-2", user_id=other, at=now, seconds=2)
    return contact, recording, others


async def score(page: Page, points: dict[str, int]) -> None:
    for criterion in CRITERIA:
        given = points.get(criterion.key, criterion.points)
        await page.fill(f'input[name="points_{criterion.key}"]', str(given))
    await page.fill('input[name="comment_slots"]', "предложен один слот вместо двух")
    await page.click('form.scorecard button[type="submit"]')
    await page.wait_for_load_state("networkidle")


async def week_cell(page: Page, user_id: int) -> str:
    """This week's cell of the administrator's row: the last week before the trend."""
    row = page.locator(f'tr[data-user="{user_id}"] td')
    return await row.nth(await row.count() - 2).inner_text()


async def test_the_supervisor_plays_a_recording_scores_the_call_and_sees_the_weekly_score_change(
    tmp_path: Path,
    database_url: str,
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain, chromium() as browser:
        contact, _, others = await seed(chain)
        op1 = chain.people["op1"].user_id
        _, boss = await logged_in(browser, chain.base, "sup1", PASSWORD)

        await boss.goto(f"{chain.base}/supervisor/quality")
        assert await boss.locator(f'tr[data-user="{op1}"]').count() == 0

        await boss.goto(f"{chain.base}/supervisor/calls")
        row = boss.locator(f'tr[data-contact="{contact}"]')
        assert "есть" in await row.inner_text()
        if (shots := screenshot_dir()) is not None:
            await boss.screenshot(path=str(shots / "call-log.png"), full_page=True)
        await row.locator("a").click()
        await boss.wait_for_url(f"**/supervisor/calls/{contact}")

        audio = boss.locator("figure.recording audio")
        await audio.evaluate("a => a.play()")
        await boss.wait_for_function(
            "() => { const a = document.querySelector('figure.recording audio');"
            " return a.duration > 0 && a.currentTime > 0.5; }",
            timeout=15_000,
        )
        duration = await audio.evaluate("a => a.duration")
        assert abs(duration - RECORDED_SECONDS) < 0.5
        first = await audio.evaluate("a => a.currentTime")
        await boss.wait_for_timeout(700)
        assert await audio.evaluate("a => a.currentTime") > first  # it plays on
        # Seeking asks the server for a byte range, and the audio goes on from there.
        await audio.evaluate("a => { a.currentTime = 3; }")
        await boss.wait_for_function(
            "() => document.querySelector('figure.recording audio').currentTime >= 3", timeout=10_000
        )

        await score(boss, {"slots": 5, "objections": 5})  # 80: below the goal of 85
        assert "Оценка: 80 из 100" in await boss.locator(".score-total").inner_text()
        if shots is not None:
            await boss.screenshot(path=str(shots / "call-card.png"), full_page=True)
        await boss.goto(f"{chain.base}/supervisor/quality")
        assert (await week_cell(boss, op1)).startswith("80")
        cell = boss.locator(f'tr[data-user="{op1}"] td.below-goal')
        assert await cell.count() == 1

        await boss.goto(f"{chain.base}/supervisor/calls/{contact}")
        await score(boss, {"objections": 10})  # rescored: 95
        await boss.goto(f"{chain.base}/supervisor/quality")
        assert (await week_cell(boss, op1)).startswith("95")
        assert await boss.locator(f'tr[data-user="{op1}"] td.below-goal').count() == 0
        if (shots := screenshot_dir()) is not None:
            await boss.screenshot(path=str(shots / "weekly-scores.png"), full_page=True)

        entries = await chain.rt.storage.audit.entries(actor="sup1")
        assert "recording_play" in [e.action for e in entries]

        # The administrator reaches neither the supervisor's pages nor another's recording.
        context, _ = await logged_in(browser, chain.base, "op1", PASSWORD)
        for path in ("/supervisor/calls", f"/supervisor/calls/{contact}", "/supervisor/quality"):
            assert (await context.request.get(chain.base + path)).status == 403, path
        assert (await context.request.get(f"{chain.base}/recordings/{others}")).status == 404
