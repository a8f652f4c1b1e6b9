"""An administrator listens to their own conversation in real Chromium against the web app as the service
builds it, on a real SQLite file with a real Ogg Vorbis file made by sox: no link while the clinic does not
allow it; where it does, from their page to their own recordings, and the recording plays."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clinics import PASSWORD, clinic_chain
from tests.e2e.browser import chromium, logged_in
from tests.e2e.test_quality_pages import RECORDED_SECONDS, seed
from tests.integration.test_own_recordings import let_operators_hear_own

pytestmark = [pytest.mark.browser]


async def test_an_administrator_plays_their_own_recording_where_the_clinic_allows_it(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain, chromium() as browser:
        _, recording, others = await seed(chain)
        _, page = await logged_in(browser, chain.base, "op1", PASSWORD)
        await page.goto(f"{chain.base}/operator")
        assert await page.locator('a[href="/operator/calls"]').count() == 0

        let_operators_hear_own(chain, "c1")
        await page.goto(f"{chain.base}/operator")
        await page.click('a[href="/operator/calls"]')
        await page.wait_for_url("**/operator/calls")
        assert await page.locator(f'tr[data-recording="{others}"]').count() == 0
        audio = page.locator(f'tr[data-recording="{recording}"] audio')
        await audio.evaluate("a => a.play()")
        await page.wait_for_function(
            f"() => {{ const a = document.querySelector('tr[data-recording=\"{recording}\"] audio');"
            " return a.duration > 0 && a.currentTime > 0.5; }",
            timeout=15_000,
        )
        assert abs(await audio.evaluate("a => a.duration") - RECORDED_SECONDS) < 0.5
