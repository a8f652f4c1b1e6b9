"""The weekly scores count a call in the week it was made, not the week it was scored: a hand-built fortnight of
calls and scores in a real database (a SQLite file; PostgreSQL with --db=postgresql), read through the weekly
page over a real socket."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from dialer.core.quality import CRITERIA
from dialer.core.quality_ports import NewScore
from dialer.core.scoring import read_sheet
from dialer.storage.scores import SqlScoreStore
from tests.clinics import clinic_chain
from tests.integration.test_quality_routes import fetch, full_marks
from tests.quality_calls import add_call


def week_cells(page: str, user_id: int) -> dict[str, str]:
    """The administrator's row: each week's cell text by its Monday's «дд.мм»."""
    weeks = re.findall(r"<th>(\d\d\.\d\d)</th>", page)
    row = re.search(rf'<tr data-user="{user_id}"><td>[^<]*</td>(.*?)</tr>', page)
    assert row is not None, page
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]
    return dict(zip(weeks, cells, strict=False))


async def test_a_friday_call_scored_on_monday_counts_in_fridays_week(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        engine, op1 = chain.rt.storage.engine, chain.people["op1"].user_id
        sup = chain.people["sup1"]
        zone = chain.rt.settings.clinics["c1"].timezone  # Moscow

        def at(day: int, hour: int, minute: int = 0) -> datetime:
            return datetime(2026, 11, day, hour, minute, tzinfo=zone)

        async def scored_call(made: datetime, scored: datetime, **points: int) -> None:
            call = await add_call(
                engine, "c1", user_id=op1, phone=chain.phones["c1"], at=made, call_ref=f"L-{made:%d%H%M}"
            )
            sheet = read_sheet(CRITERIA, full_marks(**points))
            await SqlScoreStore(engine).save(NewScore("c1", call, op1, sup.user_id, sheet, scored))

        # The week of Monday 23.11: Friday's call (100) and Sunday's late call (60, 23:30 in Moscow, 20:30 UTC),
        # both scored on Monday 30.11. The week of 30.11: Monday's own call, scored the same day (80).
        await scored_call(at(27, 17), at(30, 10), greeting=0)  # 90
        await scored_call(at(29, 23, 30), at(30, 10, 5), need=0, solution=0)  # 70
        await scored_call(at(30, 9), at(30, 11), need=0)  # 85
        # A call of the week of 05.10, scored within the page's eight weeks, is outside them.
        await scored_call(at(2, 9) - timedelta(days=30), at(24, 9), greeting=0)
        _, page = await fetch(sup, chain, "/supervisor/quality", date="2026-12-02")
        cells = week_cells(page, op1)
        assert cells["23.11"] == "80 (2)"  # (90 + 70) / 2
        assert cells["30.11"] == "85 (1)"
        assert cells["12.10"] == "—" and set(cells) == {
            f"{datetime(2026, 10, 12) + timedelta(weeks=n):%d.%m}" for n in range(8)
        }
        assert all(text == "—" for week, text in cells.items() if week not in ("23.11", "30.11"))
