"""An administrator's own recordings page, over a real socket to the app as the service builds it, on a real
database (a SQLite file; PostgreSQL with --db=postgresql) with real Ogg Vorbis files made by sox: refused while
the clinic does not allow it; where it does, their own saved recordings of the last 30 days only, each playable
by them."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from dialer.core.privacy import mask_phone
from dialer.web.operator import OPERATORS
from dialer.web.quality import QUALITY
from tests.clinics import Chain, clinic_chain
from tests.integration.test_quality_routes import fetch, seed_calls
from tests.quality_calls import add_recording


def let_operators_hear_own(chain: Chain, clinic_id: str) -> None:
    """The clinic's `[clinics.quality] operators_hear_own = true`, as the running app's settings."""
    assert chain.app is not None
    for key in (QUALITY, OPERATORS):
        ctx = chain.app[key]
        clinic = ctx.settings.clinics[clinic_id]
        allowed = replace(clinic, quality=replace(clinic.quality, operators_hear_own=True))
        ctx.settings = replace(ctx.settings, clinics={**ctx.settings.clinics, clinic_id: allowed})


def listed(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-recording="(\d+)"', page)]


async def test_an_operator_hears_their_own_calls_only_where_the_clinic_allows_it(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        ids = await seed_calls(chain)
        op1, engine = chain.people["op1"], chain.rt.storage.engine
        folder, now = chain.rt.settings.service.recordings_dir, chain.time.now()
        older = await add_recording(
            engine,
            folder,
            "c1",
            call_ref="L-old",
            user_id=op1.user_id,
            at=now - timedelta(days=31),
            seconds=1,
        )
        callback = await add_recording(
            engine,
            folder,
            "c1",
            call_ref="L-cb",
            user_id=op1.user_id,
            at=now - timedelta(days=29),
            seconds=1,
            phone=chain.phones["c1"],
            kind="callback",
        )
        saving = await add_recording(
            engine, folder, "c1", call_ref="L-now", user_id=op1.user_id, at=now, file_name=""
        )
        status, text = await fetch(op1, chain, "/operator/calls")
        assert status == 403 and "не слушают" in text
        _, own_page = await fetch(op1, chain, "/operator")
        assert "/operator/calls" not in own_page

        let_operators_hear_own(chain, "c1")
        status, text = await fetch(op1, chain, "/operator/calls")
        assert status == 200
        # Not optoken's, not 31 days old, not one still being saved; the newest first.
        assert listed(text) == [ids["rec_booked"], callback]
        assert older not in listed(text) and saving not in listed(text)
        assert mask_phone(chain.phones["c1"]) in text and chain.phones["c1"] not in text
        assert "<td>Перезвон</td>" in text and "<td>Входящий</td>" in text
        assert f'src="/recordings/{ids["rec_booked"]}"' in text
        assert (await fetch(op1, chain, f"/recordings/{ids['rec_booked']}"))[0] == 200
        _, own_page = await fetch(op1, chain, "/operator")
        assert 'href="/operator/calls"' in own_page
        # Another clinic by name, a supervisor, an API token: refused.
        assert (await fetch(op1, chain, "/operator/calls", clinic="c2"))[0] == 403
        assert (await fetch(chain.people["sup1"], chain, "/operator/calls"))[0] == 403
        assert (await fetch(chain.people["optoken"], chain, "/operator/calls"))[0] == 403
