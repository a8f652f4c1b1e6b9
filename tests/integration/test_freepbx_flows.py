"""FreePBX-style call flows on the real Asterisk, callers coming in from the carrier over the PJSIP trunk
(tests/asterisk/freepbx.conf): a queue whose members are Local/ channels (Local/admin7@from-queue/n, which
dial the administrator's phone from [from-queue]) and a ring group dialling Local/ members at once. The
caller's card pops up on the screen of the administrator whose phone rings, through the service's live
socket, and nobody else's; the misses are told apart as the administrators' reports need them."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import FREEPBX_QUEUE, QUEUE_DID, RING_GROUP_DID, Service, running_service
from tests.operators import add_user, operators
from tests.support import sim_phone

# Not among the faked-hour reruns (scripts/test-anyhour): the missed-call rules are rerun there by
# test_trunk_staff_calls and test_missed_calls, and this module would add about 40 s to each rerun.
pytestmark = pytest.mark.asterisk

ANNA, OLGA = "Local/admin7@sandbox-agents", "Local/admin8@sandbox-agents"  # members admin7 and admin8
OLGAS_MEMBER = "Local/admin8@from-queue/n"


async def admins(svc: Service, **modes: str) -> None:
    for admin, mode in modes.items():
        await svc.set_global(f"SIM_MODE_{admin}", mode)
        await svc.set_global(f"SIM_TALK_{admin}", "3")


async def test_a_queue_call_pops_up_for_the_ringing_administrator_only_and_is_answered(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    caller = sim_phone(1, random.Random())
    async with running_service(sandbox, tmp_path, carrier_ami=True, database_url=database_url) as svc:
        add_user(svc, "anna", "operator", "Анна Кузнецова", ANNA)
        add_user(svc, "olga", "operator", "Ольга Белова", OLGA)
        add_user(
            svc, "irina", "operator", "Ирина Волкова", "Local/admin1@sandbox-agents"
        )  # not in this queue
        await admins(svc, admin7="answer", admin8="answer")
        svc.sandbox.rx(f"queue pause member {OLGAS_MEMBER} queue {FREEPBX_QUEUE} reason lunch")
        try:
            async with operators(svc, "anna", "olga", "irina") as people:
                await svc.call_from_public_network(QUEUE_DID, caller, patience=10)
                card = await people["anna"].card(lambda c: c["phone"] == caller, 15, "for the caller")
                assert (card["kind"], card["state"]) == ("inbound", "ringing"), card
                answered = await people["anna"].card(
                    lambda c: c["phone"] == caller and c["state"] != "ringing", 15, "answered"
                )
                assert answered["wrapup_id"] is not None
                rows = await svc.until(svc.calls, 20, "the call recorded")
                await asyncio.sleep(0.5)  # the live socket's last messages
                assert people["olga"].seen == [] and people["irina"].seen == []
        finally:
            svc.sandbox.rx(f"queue unpause member {OLGAS_MEMBER} queue {FREEPBX_QUEUE}")
        (row,) = rows
        assert (row["caller"], row["did"], row["queue"], row["miss_reason"], row["task_id"]) == (
            caller,
            QUEUE_DID,
            FREEPBX_QUEUE,
            None,
            None,
        )
        assert row["answered_by"] == "Local/admin7@from-queue/n"
        assert not svc.tasks()


async def test_freepbx_misses_are_told_apart_and_the_ring_group_pops_up_on_both_phones(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    rng = random.Random()
    abandoned, kept_waiting, rang_out = (sim_phone(1, rng) for _ in range(3))
    async with running_service(sandbox, tmp_path, carrier_ami=True, database_url=database_url) as svc:
        add_user(svc, "anna", "operator", "Анна Кузнецова", ANNA)
        add_user(svc, "olga", "operator", "Ольга Белова", OLGA)
        await admins(svc, admin7="ring", admin8="ring")  # on shift, nobody picks up
        await svc.set_global("FREEPBX_QUEUE_TIMEOUT", "5")
        async with operators(svc, "anna", "olga") as people:
            await svc.call_from_public_network(RING_GROUP_DID, rang_out, patience=12)  # rings 6 s
            for person in people.values():
                card = await person.card(lambda c: c["phone"] == rang_out, 10, "for the ring group's caller")
                assert card["kind"] == "direct", card
            await svc.call_from_public_network(QUEUE_DID, abandoned, patience=3)  # hangs up while it rings
            await svc.call_from_public_network(
                QUEUE_DID, kept_waiting, patience=12
            )  # the queue gives up at 5 s
            rows = await svc.until(lambda: len(svc.calls()) == 3 and svc.calls(), 30, "three finished calls")
            for person in people.values():
                assert not person.cards, person.cards  # every card closed with its call
        reasons = {r["caller"]: (r["miss_reason"], r["queue"], r["did"]) for r in rows}
        assert reasons == {
            abandoned: ("abandoned", FREEPBX_QUEUE, QUEUE_DID),
            kept_waiting: ("queue_timeout", FREEPBX_QUEUE, QUEUE_DID),
            rang_out: ("not_answered", "", RING_GROUP_DID),
        }
        tasks = await svc.until(lambda: len(svc.tasks()) == 3 and svc.tasks(), 10, "three tasks")
        assert {t["phone"]: t["reason"] for t in tasks} == {
            abandoned: "abandoned",
            kept_waiting: "queue_timeout",
            rang_out: "not_answered",
        }
