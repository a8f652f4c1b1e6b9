"""The weekly listening in real Chromium: the senior administrator opens the week's proposed calls, sets an
administrator's «навык недели» through the page's form, and the administrator finds it on their own screen."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dialer.core.listening import week_bounds, week_start
from dialer.storage import journal_schema
from tests.clinics import PASSWORD, clinic_chain
from tests.e2e.browser import chromium, logged_in
from tests.people_db import Db

pytestmark = [pytest.mark.browser, pytest.mark.anyhour]


async def test_the_senior_administrator_sets_the_skill_of_the_week_and_the_administrator_sees_it(
    tmp_path: Path,
    database_url: str,
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain, chromium() as browser:
        op1 = chain.people["op1"]
        start, _ = week_bounds(week_start(chain.time.today), chain.time.tz)
        db = Db(chain.rt.storage.engine)
        for n, result in enumerate(("booked", "refused", "call_again", "no_result", "booked", "refused")):
            await db.add(
                journal_schema.contacts, clinic_id="c1", phone="+79160000001", direction="in",
                user_id=op1.user_id, result=result, talk_seconds=60.0 * (n + 1),
                created_at=start + timedelta(hours=9, minutes=n),
            )  # fmt: skip

        _, boss = await logged_in(browser, chain.base, "sup1", PASSWORD)
        await boss.goto(f"{chain.base}/supervisor/listening?clinic=c1")
        section = boss.locator(f'section.listening[data-user="{op1.user_id}"]')
        assert await section.locator('a[href^="/supervisor/calls/"]').count() == 6  # all six: fewer than ten
        await section.locator('input[name="skill"]').fill("Два конкретных слота")
        await section.locator("form.skill button").click()
        await boss.wait_for_load_state("networkidle")
        saved = boss.locator(f'section.listening[data-user="{op1.user_id}"] input[name="skill"]')
        assert await saved.input_value() == "Два конкретных слота"

        _, anna = await logged_in(browser, chain.base, "op1", PASSWORD)
        await anna.goto(f"{chain.base}/operator")
        assert "Два конкретных слота" in await anna.locator(".skill-of-week").inner_text()
