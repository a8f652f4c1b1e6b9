"""A call's end closes its card for everyone who has it, even when another call rings a new phone while the
end is being written; on a FakeClock with a fake Asterisk and the service's own SQLite storage
(tests/engine_world.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

import pytest

from dialer.core.cards import PopupMessage
from dialer.core.ringing import CallGone, PhoneAnswered, PhoneRinging
from tests.engine_world import running_world, world_settings
from tests.staff import add_staff

SHARED, OTHER = "PJSIP/101", "PJSIP/102"  # a desk two administrators share; another desk


async def test_a_call_that_ends_while_another_rings_a_new_phone_leaves_every_holders_card_in_wrap_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        popups = world.rt.popups
        now = world.clock.now()
        ids = {}
        for name, phone in (("anna", SHARED), ("olga", SHARED), ("boris", OTHER)):
            staff = await add_staff(world.rt.storage, name, interfaces=(phone,), display_name=name, now=now)
            ids[staff.user_id] = name
        pushed: list[tuple[str, PopupMessage]] = []
        popups.push = lambda user_id, message: pushed.append((ids[user_id], message))
        await popups.refresh_operators()

        # Each card's end is written to the database (its wrap-up's end) before the card turns to wrap-up: hold
        # that write, as a busy database would.
        ending, go = asyncio.Event(), asyncio.Event()
        ended = popups.wrapups.ended

        async def held_ended(wrapup_id: int, at: datetime) -> None:
            ending.set()
            await go.wait()
            await ended(wrapup_id, at)

        popups.wrapups.ended = held_ended  # type: ignore[method-assign]

        def states(call: str) -> dict[str, str]:
            return {
                name: m["state"] if m["type"] == "card" else "closed"
                for name, m in pushed
                if m["call"] == call
            }

        at = world.clock.now()
        popups.feed(PhoneRinging(SHARED, "A", "79161110001", "inbound", "reception", "", at))
        popups.feed(PhoneAnswered(SHARED, "A", at))
        await world.run_until(lambda: states("A") == {"anna": "active", "olga": "active"}, "A answered")
        popups.feed(CallGone("A", at))
        await world.run_until(ending.is_set, "A's end being written")
        popups.feed(
            PhoneRinging(OTHER, "B", "79161110002", "inbound", "reception", "", at)
        )  # boris's first card
        await world.run_until(lambda: states("B") == {"boris": "ringing"}, "B ringing")
        go.set()
        await world.run_until(
            lambda: states("A") == {"anna": "wrapup", "olga": "wrapup"}, "A in wrap-up for both"
        )

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "popups" in r.getMessage()]
