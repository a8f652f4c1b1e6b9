"""The call log as CSV, over a real socket to the app as the service builds it, on a real database (a SQLite
file; PostgreSQL with --db=postgresql): the same filters as the log's page, every page at once, times in the
clinic's zone, numbers masked, audited."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from dialer.core.privacy import mask_phone
from dialer.core.quality_ports import NewScore
from dialer.core.scoring import ItemScore, ScoreSheet
from dialer.storage.scores import SqlScoreStore
from tests.clinics import Chain, Person, clinic_chain
from tests.integration.test_quality_routes import fetch, seed_calls
from tests.quality_calls import add_call


async def csv_rows(person: Person, chain: Chain, **params: str) -> list[dict[str, str]]:
    status, text = await fetch(person, chain, "/supervisor/calls.csv", **params)
    assert status == 200, text
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_call_log_csv_follows_the_pages_filters_in_the_clinics_zone(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        sup, now = chain.people["sup1"], chain.time.now()
        ids = await seed_calls(chain, now)
        await SqlScoreStore(chain.rt.storage.engine).save(
            NewScore(
                clinic_id="c1",
                contact_id=ids["booked"],
                user_id=chain.people["op1"].user_id,
                scored_by=sup.user_id,
                sheet=ScoreSheet({"greeting": ItemScore(7, "")}, ""),
                scored_at=now,
            )
        )
        zone = chain.rt.settings.clinics["c1"].timezone
        today, yesterday = chain.time.today, chain.time.today - timedelta(days=1)
        span = {"date": yesterday.isoformat(), "until": today.isoformat()}
        rows = await csv_rows(sup, chain, **span)
        assert [r["time"] for r in rows] == [
            (now - shift).astimezone(zone).isoformat(timespec="seconds")
            for shift in (timedelta(0), timedelta(minutes=5), timedelta(days=1))
        ]
        booked, kos, long = rows
        assert booked == {
            "time": booked["time"],
            "kind": "Входящий",
            "operator": "Сотрудник op1",
            "phone": "'" + mask_phone(chain.phones["c1"]),  # a leading + would be a formula to a spreadsheet
            "result": "Записан",
            "talk_seconds": "95",
            "recorded": "да",
            "score": "7",
        }
        assert (kos["kind"], kos["result"], kos["recorded"], kos["score"]) == (
            "Мы звоним, КОС",
            "Отказ",
            "нет",
            "",
        )
        assert long["operator"] == "Сотрудник optoken" and long["talk_seconds"] == "400"
        assert booked["time"].endswith("+03:00")  # Moscow, whatever the host's zone
        # The page's filters, the same way.
        assert len(await csv_rows(sup, chain, **span, kind="out")) == 2
        assert [r["score"] for r in await csv_rows(sup, chain, **span, scored="yes")] == ["7"]
        assert [r["talk_seconds"] for r in await csv_rows(sup, chain, **span, recorded="no")] == ["20"]
        assert (await fetch(sup, chain, "/supervisor/calls.csv", kind="x"))[0] == 400
        # The other clinic's supervisor has their own calls only, and is refused c1 by name.
        assert len(await csv_rows(chain.people["sup23"], chain)) == 1
        assert (await fetch(chain.people["sup23"], chain, "/supervisor/calls.csv", clinic="c1"))[0] == 403
        # Every export is in the audit log, with what was asked and no number.
        entries = [e for e in await chain.rt.storage.audit.entries() if e.detail.get("report") == "calls"]
        assert entries and entries[-1].actor == "sup1" and entries[-1].clinic_id == "c1"
        assert all(chain.phones["c1"] not in str(e.detail) for e in entries)
        # The page links to the CSV of what it shows.
        _, page = await fetch(sup, chain, "/supervisor/calls", kind="kos", page="1")
        assert 'href="/supervisor/calls.csv?kind=kos"' in page


async def test_the_call_log_csv_holds_every_page(tmp_path: Path, database_url: str) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        now, op1 = chain.time.now(), chain.people["op1"].user_id
        for n in range(55):
            await add_call(
                chain.rt.storage.engine, "c1", user_id=op1, phone=chain.phones["c1"], at=now - timedelta(seconds=n),
                call_ref=f"L-{n}",
            )  # fmt: skip
        assert len(await csv_rows(chain.people["sup1"], chain)) == 55
