"""Two clinics on two Asterisks, each with its own link recovery, writing their link gaps to a real SQLite file
(and, with `--db=postgresql` or `--db=both`, a real PostgreSQL): west's Asterisk coming back closes west's gap
only; east's outage stays open until east is back, and ends at east's own link-up.

The calls, the Asterisks and the clock are the engine's test doubles (tests/fakes/rig.py): what is proved here
is which gap rows the stores close, and that is storage's answer."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from dialer.core.clock import FakeClock
from dialer.engine.pbx_gates import PbxGates
from dialer.engine.recovery import LinkRecovery
from dialer.settings import Settings, parse_settings
from dialer.storage.repository import Storage
from dialer.storage.schema import ami_gaps
from tests.fakes.rig import Rig, build

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
MAIN = '[ami]\nhost = "10.0.0.1"\nsecret = "s1"\n'
EAST = '[pbx.east]\nhost = "10.0.0.2"\nsecret = "s2"\n'

Gaps = dict[str, list[tuple[datetime, datetime | None]]]


def clinic(clinic_id: str, pbx: str = "") -> str:
    on = f'pbx = "{pbx}"\n' if pbx else ""
    return f'[[clinics]]\nid = "{clinic_id}"\nname = "Клиника {clinic_id}"\ntimezone = "Europe/Moscow"\n{on}'


def two_asterisks() -> Settings:
    """West (and north) on the main Asterisk, east on its own."""
    text = "\n".join([MAIN, EAST, clinic("west"), clinic("north"), clinic("east", "east")])
    return parse_settings(tomllib.loads(text))


async def gaps(storage: Storage) -> Gaps:
    """Each clinic's gaps as stored: (started, ended or None while open), oldest first."""
    query = select(ami_gaps.c.clinic_id, ami_gaps.c.started_at, ami_gaps.c.ended_at).order_by(
        ami_gaps.c.gap_id
    )
    found: Gaps = {}
    async with storage.engine.connect() as conn:
        for row in await conn.execute(query):
            found.setdefault(row.clinic_id, []).append((row.started_at, row.ended_at))
    return found


async def done(clock: FakeClock, step: Coroutine[Any, Any, None]) -> None:
    """Run a link hook to its end; reconciling waits on the clock, so the clock is run meanwhile."""
    task = asyncio.create_task(step)
    while not task.done():
        await clock.run_for(0.5)
    await task


def recoveries(rig: Rig, storage: Storage) -> dict[str, LinkRecovery]:
    settings = rig.settings
    clinic_pbx = {c.id: c.pbx for c in settings.clinics.values()}
    gates = PbxGates(clinic_pbx, ["main", "east"], default=settings.pbx_of(""))
    return {
        name: LinkRecovery(
            link=rig.asterisk,
            desk=rig.desk,
            store=storage.inbound,
            inbound=rig.inbound,
            settings=settings,
            clock=rig.clock,
            pbx=(name, gates, rig.asterisk),
        )
        for name in ("main", "east")
    }


async def test_one_asterisk_coming_back_closes_only_its_own_clinics_gaps(storage: Storage) -> None:
    rig = build(two_asterisks(), T0)
    clock = rig.clock
    each = recoveries(rig, storage)
    for name in ("main", "east"):
        await done(clock, each[name].link_up())
    assert await gaps(storage) == {}

    east_lost = clock.now()
    await each["east"].link_down()
    clock.advance(timedelta(minutes=2))
    main_lost = clock.now()
    await each["main"].link_down()
    clock.advance(timedelta(minutes=1))
    main_back = clock.now()
    await done(clock, each["main"].link_up())

    stored = await gaps(storage)
    assert stored["east"] == [(east_lost, None)]  # east is still away: its outage goes on
    for main_clinic in ("west", "north"):
        ((started, ended),) = stored[main_clinic]
        assert started == main_lost and ended is not None and back_soon(main_back, ended)

    clock.advance(timedelta(minutes=5))
    east_back = clock.now()
    await done(clock, each["east"].link_up())
    main_gaps = {c: stored[c] for c in ("west", "north")}
    stored = await gaps(storage)
    ((started, ended),) = stored["east"]
    assert started == east_lost and ended is not None and back_soon(east_back, ended)
    assert ended - started > timedelta(minutes=8)  # the whole outage, not the three minutes main was away
    assert {c: stored[c] for c in ("west", "north")} == main_gaps  # east's link-up leaves main's alone


def back_soon(link_up: datetime, closed: datetime) -> bool:
    """A gap closes once the Asterisk's calls are reconciled, a few (clock) seconds after its link is up."""
    return link_up <= closed <= link_up + timedelta(seconds=30)


async def test_the_store_closes_the_gaps_of_the_clinics_it_is_given_and_all_when_none(
    storage: Storage,
) -> None:
    inbound = storage.inbound
    west = await inbound.open_gap("west", T0, "AMI link lost")
    east = await inbound.open_gap("east", T0 + timedelta(seconds=5), "AMI link lost")
    gone = await inbound.open_gap("closed-clinic", T0 + timedelta(seconds=9), "AMI link lost")

    assert await inbound.close_gaps(T0 + timedelta(minutes=1), []) == []
    assert await inbound.close_gaps(T0 + timedelta(minutes=1), ["west", "south"]) == [(west, T0)]
    assert await inbound.close_gaps(T0 + timedelta(minutes=2), ["west"]) == []  # closed once
    closed = await inbound.close_gaps(T0 + timedelta(minutes=3))
    assert sorted(closed) == [(east, T0 + timedelta(seconds=5)), (gone, T0 + timedelta(seconds=9))]
    assert await gaps(storage) == {
        "west": [(T0, T0 + timedelta(minutes=1))],
        "east": [(T0 + timedelta(seconds=5), T0 + timedelta(minutes=3))],
        "closed-clinic": [(T0 + timedelta(seconds=9), T0 + timedelta(minutes=3))],
    }
