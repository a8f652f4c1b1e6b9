"""The supervisor's call log, call card, scorecard, weekly scores and recordings, over a real socket to the app
as the service builds it, on a real SQLite file, with real Ogg Vorbis files made by sox."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from dialer.core.privacy import mask_phone
from dialer.core.quality import CRITERIA
from dialer.core.quality_ports import NewScore
from dialer.core.scoring import read_sheet
from dialer.storage.quality_schema import call_scores
from dialer.storage.scores import SqlScoreStore
from dialer.web.quality import QUALITY
from tests.clinics import Chain, Person, clinic_chain
from tests.quality_calls import add_call, add_recording


def full_marks(**points: int) -> dict[str, str]:
    return {f"points_{c.key}": str(points.get(c.key, c.points)) for c in CRITERIA}


async def fetch(person: Person, chain: Chain, path: str, **params: str) -> tuple[int, str]:
    assert person.http is not None
    async with person.http.get(
        chain.base + path, params=params or None, headers=person.headers(), allow_redirects=False
    ) as r:
        return r.status, (await r.read()).decode(errors="replace")


async def post_form(person: Person, chain: Chain, path: str, form: dict[str, str]) -> tuple[int, str, str]:
    assert person.http is not None
    async with person.http.post(
        chain.base + path, data={"csrf": person.csrf, **form}, allow_redirects=False
    ) as r:
        return r.status, r.headers.get("Location", ""), await r.text()


async def seed_calls(chain: Chain, now: datetime | None = None) -> dict[str, int]:
    """c1: op1's booked inbound call (recorded, 4 s), op1's short КОС refusal, optoken's long callback;
    c2: one call of its own; their times counted back from `now` (the chain's clock by default: a test that
    checks the times passes the `now` it checks them against). Contact ids by name."""
    engine, folder = chain.rt.storage.engine, chain.rt.settings.service.recordings_dir
    now = now or chain.time.now()
    op1, other = chain.people["op1"].user_id, chain.people["optoken"].user_id
    phone = chain.phones["c1"]
    ids = {
        "booked": await add_call(
            engine, "c1", user_id=op1, phone=phone, at=now, call_ref="L-1", talk_seconds=95
        ),
        "kos": await add_call(
            engine,
            "c1",
            user_id=op1,
            phone=phone,
            at=now - timedelta(minutes=5),
            call_ref="L-2",
            direction="out",
            flags="КОС",
            result="refused",
            talk_seconds=20,
        ),
        "long": await add_call(
            engine,
            "c1",
            user_id=other,
            phone=phone,
            at=now - timedelta(days=1),
            call_ref="L-3",
            direction="out",
            result="call_again",
            talk_seconds=400,
        ),
        "c2": await add_call(engine, "c2", user_id=None, phone=chain.phones["c2"], at=now, call_ref="L-9"),
    }
    ids["rec_booked"] = await add_recording(
        engine, folder, "c1", call_ref="L-1", user_id=op1, at=now, seconds=4
    )
    ids["rec_long"] = await add_recording(
        engine, folder, "c1", call_ref="L-3", user_id=other, at=now, seconds=2
    )
    ids["rec_c2"] = await add_recording(engine, folder, "c2", call_ref="L-9", user_id=None, at=now, seconds=2)
    return ids


def contact_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-contact="(\d+)"', page)]


async def test_the_call_log_filters_the_clinics_calls_and_masks_numbers(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        ids = await seed_calls(chain)
        sup = chain.people["sup1"]
        today, yesterday = chain.time.today, chain.time.today - timedelta(days=1)
        status, page = await fetch(sup, chain, "/supervisor/calls")
        assert status == 200
        assert contact_ids(page) == [ids["booked"], ids["kos"]]  # today's, the newest first; c2's never
        assert chain.phones["c1"] not in page and mask_phone(chain.phones["c1"]) in page
        assert "Найдено звонков: 2" in page
        span = {"date": yesterday.isoformat(), "until": today.isoformat()}
        _, page = await fetch(sup, chain, "/supervisor/calls", **span)
        assert contact_ids(page) == [ids["booked"], ids["kos"], ids["long"]]
        for params, expected in [
            ({"kind": "kos"}, [ids["kos"]]),
            ({"kind": "in"}, [ids["booked"]]),
            ({"kind": "out"}, [ids["kos"], ids["long"]]),
            ({"result": "call_again"}, [ids["long"]]),
            ({"operator": str(chain.people["optoken"].user_id)}, [ids["long"]]),
            ({"min": "90"}, [ids["booked"], ids["long"]]),
            ({"min": "30", "max": "100"}, [ids["booked"]]),
            ({"recorded": "yes"}, [ids["booked"], ids["long"]]),
            ({"recorded": "no"}, [ids["kos"]]),
            ({"scored": "no"}, [ids["booked"], ids["kos"], ids["long"]]),
            ({"scored": "yes"}, []),
        ]:
            _, page = await fetch(sup, chain, "/supervisor/calls", **span, **params)
            assert contact_ids(page) == expected, params
        # A recording is shown as there, or not; another clinic's recording of the same call is not this one's.
        engine, folder = chain.rt.storage.engine, chain.rt.settings.service.recordings_dir
        await add_recording(
            engine, folder, "c2", call_ref="L-2", user_id=None, at=chain.time.now(), seconds=1
        )
        _, page = await fetch(sup, chain, "/supervisor/calls", **span, kind="kos")
        assert "<td>нет</td>" in page and "<td>есть</td>" not in page
        _, card = await fetch(sup, chain, f"/supervisor/calls/{ids['kos']}")
        assert "/recordings/" not in card
        for bad in (
            {"kind": "x"},
            {"min": "-1"},
            {"date": "2026-13-01"},
            {"until": "1999-01-01"},
            {"page": "0"},
        ):
            status, _ = await fetch(sup, chain, "/supervisor/calls", **bad)
            assert status == 400, bad
        # The other clinic's supervisor sees their own clinic's call only, and is refused c1 by name.
        status, page = await fetch(chain.people["sup23"], chain, "/supervisor/calls")
        assert status == 200 and contact_ids(page) == [ids["c2"]]
        status, _ = await fetch(chain.people["sup23"], chain, "/supervisor/calls", clinic="c1")
        assert status == 403


async def test_a_call_is_scored_rescored_and_bad_input_is_refused_naming_the_field(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        ids = await seed_calls(chain)
        sup, path = chain.people["sup1"], f"/supervisor/calls/{ids['booked']}"
        status, card = await fetch(sup, chain, path)
        assert status == 200
        assert f'src="/recordings/{ids["rec_booked"]}"' in card
        assert mask_phone(chain.phones["c1"]) in card and chain.phones["c1"] not in card
        assert all(f'name="points_{c.key}"' in card for c in CRITERIA)

        typed = full_marks(need=16) | {"comment_need": "не спросила о жалобах"}
        status, _, page = await post_form(sup, chain, path + "/score", typed)
        assert status == 400 and 'data-field="points_need"' in page
        assert 'value="16"' in page and "не спросила о жалобах" in page  # kept for correcting
        status, _, page = await post_form(sup, chain, path + "/score", {"points_greeting": "10"})
        assert status == 400 and 'data-field="points_need"' in page
        # Without the form's token: refused before anything is saved.
        assert sup.http is not None
        async with sup.http.post(chain.base + path + "/score", data=full_marks(), allow_redirects=False) as r:
            assert r.status == 403

        form = full_marks(slots=5) | {"comment_slots": "предложен один слот", "comment": "итог не проговорён"}
        form["total"] = "100"  # a total the browser sends is not trusted: the server adds the points
        status, location, _ = await post_form(sup, chain, path + "/score", form)
        assert (status, location) == (303, path)
        _, card = await fetch(sup, chain, path)
        assert "Оценка: <b>90</b>" in card and "предложен один слот" in card
        await post_form(sup, chain, path + "/score", full_marks(slots=0, objections=0))
        async with chain.rt.storage.engine.connect() as conn:
            rows = (await conn.execute(select(call_scores))).all()
        assert [(r.contact_id, r.total, r.user_id, r.scored_by) for r in rows] == [
            (ids["booked"], 70, chain.people["op1"].user_id, sup.user_id)
        ]
        _, log = await fetch(sup, chain, "/supervisor/calls")
        assert 'class="below-goal"' in log  # 70 < 85
        _, log = await fetch(sup, chain, "/supervisor/calls", scored="yes")
        assert contact_ids(log) == [ids["booked"]]
        entries = await chain.rt.storage.audit.entries(actor="sup1")
        scored = [e.detail for e in entries if e.action == "call_score"]
        assert scored == [{"contact_id": ids["booked"], "total": t} for t in (70, 90)]  # the newest first

        # Another clinic's supervisor neither sees nor scores it.
        other = chain.people["sup23"]
        assert (await fetch(other, chain, path))[0] == 404
        assert (await post_form(other, chain, path + "/score", full_marks()))[0] == 404
        assert (await fetch(sup, chain, f"/supervisor/calls/{ids['c2']}"))[0] == 404
        assert (await fetch(sup, chain, "/supervisor/calls/abc"))[0] == 400


async def test_the_weekly_scores_show_each_administrator_against_the_goal(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        ids = await seed_calls(chain)
        sup = chain.people["sup1"]
        _, page = await fetch(sup, chain, "/supervisor/quality")
        assert "Оценённых звонков за эти недели нет" in page
        await post_form(sup, chain, f"/supervisor/calls/{ids['booked']}/score", full_marks())
        await post_form(sup, chain, f"/supervisor/calls/{ids['kos']}/score", full_marks(slots=0, need=0))
        await post_form(sup, chain, f"/supervisor/calls/{ids['long']}/score", full_marks(greeting=0))
        status, page = await fetch(sup, chain, "/supervisor/quality")
        assert status == 200
        rows = dict(re.findall(r'<tr data-user="(\d+)"><td>[^<]*</td>(.*?)</tr>', page))
        op1, other = str(chain.people["op1"].user_id), str(chain.people["optoken"].user_id)
        assert (
            '<td class="below-goal" title="ниже цели">85 <span class="muted">(2)</span></td>' not in rows[op1]
        )
        assert "<td>85 <span" in rows[op1]  # (100 + 70) / 2: at the goal is not below it
        assert (
            '<td class="below-goal" title="ниже цели">90' not in rows[other] and "<td>90 <span" in rows[other]
        )
        assert '<td class="trend none"></td>' in rows[op1]  # one week scored: nothing to compare yet

        # A call of op1's scored in the week before, lower: this week's is up on it.
        earlier = chain.time.now() - timedelta(days=7)
        op1_id = chain.people["op1"].user_id
        old_call = await add_call(
            chain.rt.storage.engine,
            "c1",
            user_id=op1_id,
            phone=chain.phones["c1"],
            at=earlier,
            call_ref="L-0",
        )
        sheet = read_sheet(CRITERIA, full_marks(need=0, slots=0, objections=0))  # 55
        await SqlScoreStore(chain.rt.storage.engine).save(
            NewScore("c1", old_call, op1_id, sup.user_id, sheet, earlier)
        )
        _, page = await fetch(sup, chain, "/supervisor/quality")
        rows = dict(re.findall(r'<tr data-user="(\d+)"><td>[^<]*</td>(.*?)</tr>', page))
        assert '<td class="below-goal" title="ниже цели">55 <span class="muted">(1)</span></td>' in rows[op1]
        assert '<td class="trend up">↑</td>' in rows[op1]
        status, page = await fetch(chain.people["sup23"], chain, "/supervisor/quality")
        assert status == 200 and "Оценённых звонков за эти недели нет" in page


async def test_a_recording_is_served_in_ranges_to_the_clinics_supervisors_and_every_play_is_audited(
    tmp_path: Path,
    database_url: str,
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        ids = await seed_calls(chain)
        sup, path = chain.people["sup1"], f"/recordings/{ids['rec_booked']}"
        whole = (chain.rt.settings.service.recordings_dir / "c1" / "L-1.ogg").read_bytes()
        assert sup.http is not None
        async with sup.http.get(chain.base + path) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "audio/ogg"
            assert r.headers.get("Accept-Ranges") == "bytes"
            assert await r.read() == whole
        async with sup.http.get(chain.base + path, headers={"Range": "bytes=100-199"}) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
            assert await r.read() == whole[100:200]
        async with sup.http.get(chain.base + path, headers={"Range": "bytes=-50"}) as r:
            assert r.status == 206 and await r.read() == whole[-50:]
        async with sup.http.get(chain.base + path, params={"download": "1"}) as r:
            assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
        async with sup.http.get(chain.base + path, headers={"Range": f"bytes={len(whole) + 10}-"}) as r:
            assert r.status == 416
        entries = await chain.rt.storage.audit.entries(actor="sup1")
        actions = [(e.action, e.detail.get("recording_id")) for e in entries]
        assert actions.count(("recording_play", ids["rec_booked"])) == 1  # a seek is not a second play
        assert actions.count(("recording_download", ids["rec_booked"])) == 1
        _, log = await fetch(sup, chain, "/supervisor/audit")
        assert "прослушивание записи" in log and "скачивание записи" in log

        # An administrator hears no recording while the clinic does not allow it, then only their own.
        op1 = chain.people["op1"]
        assert (await fetch(op1, chain, path))[0] == 404
        ctx = chain.app[QUALITY]  # type: ignore[index]
        c1 = ctx.settings.clinics["c1"]
        allowed = replace(c1, quality=replace(c1.quality, operators_hear_own=True))
        ctx.settings = replace(ctx.settings, clinics={**ctx.settings.clinics, "c1": allowed})
        assert (await fetch(op1, chain, path))[0] == 200
        assert (await fetch(op1, chain, f"/recordings/{ids['rec_long']}"))[0] == 404  # another's call
        assert (await fetch(op1, chain, f"/supervisor/calls/{ids['booked']}"))[0] == 403

        # Another clinic's supervisor gets nothing; nor does a row that points outside the recordings folder.
        assert (await fetch(chain.people["sup23"], chain, path))[0] == 404
        assert (await fetch(chain.people["sup23"], chain, f"/recordings/{ids['rec_c2']}"))[0] == 200
        engine, folder, now = (
            chain.rt.storage.engine,
            chain.rt.settings.service.recordings_dir,
            chain.time.now(),
        )
        for name in ("../dialer.db", str(tmp_path / "var" / "dialer.db"), "c1", ""):
            escaped = await add_recording(
                engine, folder, "c1", call_ref=f"X-{name}", user_id=None, at=now, file_name=name
            )
            assert (await fetch(sup, chain, f"/recordings/{escaped}"))[0] == 404, name
        assert (await fetch(sup, chain, "/recordings/999999"))[0] == 404


async def test_the_call_log_pages_through_a_busy_day(tmp_path: Path, database_url: str) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        now, op1 = chain.time.now(), chain.people["op1"].user_id
        made = [
            await add_call(
                chain.rt.storage.engine,
                "c1",
                user_id=op1,
                phone=chain.phones["c1"],
                at=now - timedelta(seconds=n),
                call_ref=f"L-{n}",
            )
            for n in range(55)
        ]
        sup = chain.people["sup1"]
        _, first = await fetch(sup, chain, "/supervisor/calls")
        assert contact_ids(first) == made[:50] and "Страница 1 из 2" in first and "page=2" in first
        _, second = await fetch(sup, chain, "/supervisor/calls", page="2")
        assert contact_ids(second) == made[50:] and "Страница 2 из 2" in second
        _, beyond = await fetch(sup, chain, "/supervisor/calls", page="3")
        assert contact_ids(beyond) == []
