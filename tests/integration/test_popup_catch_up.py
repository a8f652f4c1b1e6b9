"""An operator's page that opens while calls change. It catches up with the calls in progress and the wrap-ups
not yet saved, and the pop-ups pushed during its catch-up are neither lost, nor shown twice, nor shown in an
older state after a newer one. The service's web app over a real SQLite file (PostgreSQL in its tier) and a
real WebSocket; the catch-up's read of the wrap-ups is held open, as a busy database would hold it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dialer.core.records import WrapupRow
from dialer.core.ringing import CallGone, PhoneAnswered, PhoneRinging, RingFact
from dialer.core.staff import UserRow
from dialer.engine.popups import Popups
from tests.clinics import Chain, Person, clinic_chain

PHONE = "PJSIP/101"  # op1's


async def until(check: Callable[[], bool], seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.02)


def is_shown(popups: Popups, user: UserRow, calls: list[tuple[str, str]]) -> bool:
    """Are these the calls (with their state) the service shows the user now?"""
    return [(card["call"], card["state"]) for card in popups.in_progress(user)] == calls


async def received(ws: aiohttp.ClientWebSocketResponse, quiet: float = 1.0) -> list[dict[str, Any]]:
    """Every message until the socket is quiet for `quiet` seconds."""
    got: list[dict[str, Any]] = []
    while True:
        try:
            message = await ws.receive(timeout=quiet)
        except TimeoutError:
            return got
        got.append(json.loads(message.data))


def ring(chain: Chain, call: str) -> PhoneRinging:
    caller = chain.phones["c1"].lstrip("+")
    return PhoneRinging(PHONE, call, caller, "inbound", "c1-reception", "", chain.time.now(), did="100")


async def test_a_page_that_opens_while_calls_change_shows_each_call_once_in_its_last_state(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        op1: Person = chain.people["op1"]
        popups = chain.rt.popups
        user = await chain.rt.storage.users.by_id(op1.user_id)
        assert user is not None and op1.http is not None
        # An earlier call of op1's, answered and over, its wrap-up not filled in: the page must show it.
        earlier = await chain.pending_wrapup("c1", op1.user_id, "earlier")

        reading, release = asyncio.Event(), asyncio.Event()
        pending = popups.wrapups.pending

        async def slow_pending(user_id: int) -> list[WrapupRow]:
            if user_id == op1.user_id and not release.is_set():
                reading.set()
                await release.wait()
            return await pending(user_id)

        monkeypatch.setattr(popups.wrapups, "pending", slow_pending)
        running = asyncio.create_task(popups.run())
        try:
            await popups.refresh_operators()
            async with op1.http.ws_connect(f"{chain.base}/ws") as ws:
                await asyncio.wait_for(reading.wait(), 10)
                # While the page reads its wrap-ups: call A rings op1's phone and is answered (its wrap-up is
                # opened, so the read, once it goes on, finds it too); call B rings and its caller hangs up.
                steps: list[tuple[RingFact, list[tuple[str, str]]]] = [
                    (ring(chain, "B"), [("B", "ringing")]),
                    (CallGone("B", chain.time.now()), []),
                    (ring(chain, "A"), [("A", "ringing")]),
                    (PhoneAnswered(PHONE, "A", chain.time.now()), [("A", "active")]),
                ]
                for fact, then in steps:
                    popups.feed(fact)
                    await until(partial(is_shown, popups, user, then))
                release.set()
                got = await received(ws)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    calls = [(m["call"], m["type"], m.get("state")) for m in got]
    # A once, as it is now (not ringing after active, nor as a wrap-up while the patient is still on the line);
    # the earlier call's wrap-up; B as it happened, ending closed.
    assert [c for c in calls if c[0] == "A"] == [("A", "card", "active")], calls
    assert [c for c in calls if c[0] == "earlier"] == [("earlier", "card", "wrapup")], calls
    assert [c for c in calls if c[0] == "B"] == [("B", "card", "ringing"), ("B", "close", None)], calls
    assert len(calls) == 4, calls
    assert earlier.wrapup_id in {m.get("wrapup_id") for m in got}
