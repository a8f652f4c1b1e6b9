"""The weekly listening in the browser's HTTP: the supervisor sees each administrator's proposed calls of the
week (the service's draw, marked when scored, linking to the call's card), sets «навык недели», replaces it,
and the administrator sees it on their own screen; another clinic's supervisor sees neither. The web app as the
service builds it, a real SQLite file, real sockets."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from dialer.core.listening import ListenCall, propose, week_bounds, week_start
from dialer.storage import journal_schema, quality_schema
from dialer.web.listening import clinic_seed
from tests.clinics import Chain, Person, clinic_chain
from tests.people_db import Db


async def page(chain: Chain, person: Person, path: str, **params: str) -> tuple[int, str]:
    assert person.http is not None
    async with person.http.get(f"{chain.base}{path}", params=params, headers=person.headers()) as r:
        return r.status, await r.text()


async def set_skill(chain: Chain, person: Person, clinic: str, user_id: int, week: str, skill: str) -> int:
    assert person.http is not None
    async with person.http.post(
        f"{chain.base}/supervisor/listening/skill",
        params={"clinic": clinic},
        data={"user_id": str(user_id), "week": week, "skill": skill},
        headers=person.headers(),
        allow_redirects=False,
    ) as r:
        return r.status


async def test_the_week_s_proposed_calls_and_the_skill_of_the_week(tmp_path: Path, database_url: str) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        op1, sup1, sup23 = chain.people["op1"], chain.people["sup1"], chain.people["sup23"]
        monday = week_start(chain.time.today)
        start, _ = week_bounds(monday, chain.time.tz)
        db = Db(chain.rt.storage.engine)
        results = ("booked", "refused", "call_again", "no_result")
        calls = []
        for n in range(20):
            flags = "Мы звоним,КОС" if n % 5 == 0 else ""
            at = start + timedelta(hours=9, minutes=7 * n)
            contact_id = await db.add(
                journal_schema.contacts,
                clinic_id="c1",
                phone="+79160000001",
                direction="out" if flags else "in",
                flags=flags,
                user_id=op1.user_id,
                result=results[n % 4],
                talk_seconds=30.0 + 20 * n,
                created_at=at,
            )
            calls.append(
                ListenCall(
                    contact_id, op1.user_id, "out" if flags else "in", tuple(f for f in flags.split(",") if f),
                    results[n % 4], 30.0 + 20 * n, at,
                )
            )  # fmt: skip
        # A call of the week before: never proposed.
        await db.add(
            journal_schema.contacts, clinic_id="c1", phone="+79160000001", direction="in", user_id=op1.user_id,
            result="booked", talk_seconds=400.0, created_at=start - timedelta(hours=1),
        )  # fmt: skip
        expected = propose(
            calls, user_id=op1.user_id, monday=monday, zone=chain.time.tz, seed=clinic_seed("c1")
        )
        first = expected[0].call.contact_id
        await db.add(
            quality_schema.call_scores, clinic_id="c1", contact_id=first, user_id=op1.user_id, total=90,
            scored_at=start + timedelta(days=1),
        )  # fmt: skip

        status, html = await page(chain, sup1, "/supervisor/listening", clinic="c1", date=monday.isoformat())
        assert status == 200
        linked = [int(x) for x in re.findall(r'href="/supervisor/calls/(\d+)"', html)]
        assert linked == [p.call.contact_id for p in expected]  # the same draw, in time order
        assert len(linked) == 10
        assert html.count("оценён") == 1 and f'href="/supervisor/calls/{first}"' in html
        again = await page(chain, sup1, "/supervisor/listening", clinic="c1", date=monday.isoformat())
        assert again == (status, html)  # reproducible: the list is the same on every visit

        week = (monday + timedelta(days=2)).isoformat()  # any day of the week names the week
        assert await set_skill(chain, sup1, "c1", op1.user_id, week, "Два конкретных слота") == 303
        assert await set_skill(chain, sup1, "c1", op1.user_id, week, "Работа с возражениями") == 303
        async with chain.rt.storage.engine.connect() as conn:
            from sqlalchemy import select

            rows = list(await conn.execute(select(quality_schema.weekly_skills)))
        assert [(r.user_id, r.week_start, r.skill) for r in rows] == [
            (op1.user_id, monday, "Работа с возражениями")
        ]
        status, html = await page(chain, sup1, "/supervisor/listening", clinic="c1")
        assert 'value="Работа с возражениями"' in html
        status, html = await page(chain, op1, "/operator")
        assert status == 200 and "Навык недели:</strong> Работа с возражениями" in html

        # Bad input is refused and changes nothing; another clinic's supervisor can neither read nor write.
        assert await set_skill(chain, sup1, "c1", op1.user_id, week, "  ") == 400
        assert await set_skill(chain, sup1, "c1", sup1.user_id, week, "x") == 400  # not an administrator
        assert await set_skill(chain, sup1, "c1", op1.user_id, "понедельник", "x") == 400
        assert await set_skill(chain, sup23, "c1", op1.user_id, week, "x") == 403
        assert (await page(chain, sup23, "/supervisor/listening", clinic="c1"))[0] == 403
        status, html = await page(chain, sup23, "/supervisor/listening", clinic="c2")
        assert status == 200 and "/supervisor/calls/" not in html
