"""The link's hooks that write (the recovery after link-up, the recordings, the queue pauses) run only while
the node leads, and once at the takeover itself when the link is already up. A node that loses the lease
steps back to standby in the same process, writes nothing more, and may lead again under a new generation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dialer.app import open_runtime, stop_core
from dialer.app.leadership import GatedLink, Leadership
from dialer.app.nodes import NodeHealth, Standby, leads, run_every_node
from dialer.core.clock import FakeClock
from dialer.core.fencing import Fence, FencedOut
from dialer.core.ports import LinkHook, LiveChannel
from dialer.core.records import AttemptRow, AttemptState, CallbackTask, InboundCallRow, MissTaken
from dialer.lease import LEASE
from dialer.storage.leases import SqlLeaseStore
from dialer.storage.repository import Storage
from tests.engine_world import MORNING, FakePbx, World, confirming_call, world_settings


class Link:
    def __init__(self) -> None:
        self.up: list[LinkHook] = []
        self.down: list[LinkHook] = []
        self.connected = False

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        self.up.append(on_up)
        self.down.append(on_down)

    async def come_up(self) -> None:
        self.connected = True
        for hook in self.up:
            await hook()

    async def go_down(self) -> None:
        self.connected = False
        for hook in self.down:
            await hook()

    async def run(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_a_standby_runs_no_hook_and_the_takeover_runs_the_link_up_ones_once() -> None:
    link, told = Link(), []

    async def recovered() -> None:
        told.append("recovery")

    async def gap_opened() -> None:
        told.append("gap")

    gated = GatedLink(link, Leadership())
    gated.subscribe(on_up=recovered, on_down=gap_opened)
    await link.come_up()
    await link.go_down()
    await link.come_up()
    assert told == []  # standing by: nothing reconciled, no gap written

    await gated.lead()
    assert told == ["recovery"]  # the link was up: what a link-up does for the leader, now
    await link.go_down()
    await link.come_up()
    assert told == ["recovery", "gap", "recovery"]


async def test_a_takeover_while_the_link_is_down_waits_for_the_link() -> None:
    link, told = Link(), []

    async def recovered() -> None:
        told.append("recovery")

    async def nothing() -> None:
        return None

    gated = GatedLink(link, Leadership())
    gated.subscribe(on_up=recovered, on_down=nothing)
    await gated.lead()
    assert told == [] and gated.leadership.leading
    await link.come_up()
    assert told == ["recovery"]


async def test_each_asterisk_of_several_is_held_back_on_standby_and_recovered_at_the_takeover_if_up() -> None:
    whole, east, west, told = Link(), Link(), Link(), []

    def hook(name: str) -> LinkHook:
        async def run() -> None:
            told.append(name)

        return run

    gated = GatedLink(whole, Leadership())
    gated.part(east).subscribe(on_up=hook("east up"), on_down=hook("east down"))
    gated.part(west).subscribe(on_up=hook("west up"), on_down=hook("west down"))
    await east.come_up()
    await east.go_down()
    await west.come_up()
    assert told == []  # a standby writes nothing for any Asterisk

    await gated.lead()
    assert told == ["west up"]  # west is up: recovered now; east is down: at its own link-up
    await east.come_up()
    assert told == ["west up", "east up"]


async def test_a_hook_in_flight_is_waited_for_when_the_node_stands_down_and_a_stuck_one_is_told() -> None:
    leadership = Leadership(leading=True)
    release = asyncio.Event()

    async def hook_in_flight() -> None:
        async with leadership.lock:
            await release.wait()

    running = asyncio.create_task(hook_in_flight())
    await asyncio.sleep(0)
    assert not await leadership.stand_down(within=0.05)  # stuck: the caller must not call it clean
    assert not leadership.leading  # yet no new hook starts from the first moment
    release.set()
    await running
    assert await leadership.stand_down(within=0.05)


@contextlib.asynccontextmanager
async def one_node(tmp_path: Path) -> AsyncIterator[tuple[World, Standby, asyncio.Task[None]]]:
    """A `dialer run` node as `serve` builds it (every node's loops and the Standby) on a real SQLite file,
    a fake Asterisk and a FakeClock; it is alone, so it takes the lease at once."""
    settings = world_settings(tmp_path, service={"data_dir": str(tmp_path / "var"), "takeover": "3s"})
    storage = await Storage.open(settings.service.db_url)
    clock, pbx = FakeClock(MORNING), FakePbx()
    async with (
        open_runtime(settings, clock=clock, pbx=pbx, storage=storage) as rt,
        asyncio.TaskGroup() as group,
    ):
        standby = Standby(rt, group)
        node = group.create_task(standby.run(), name="standby")
        tasks = [*run_every_node(rt, group), node]
        world = World(rt, clock, pbx, tasks)
        try:
            await world.run_until(lambda: leads(rt) and rt.desk.reconciled.is_set(), "the node leading")
            yield world, standby, node
        finally:
            await asyncio.sleep(0.2)
            await stop_core(rt, tasks + standby.leader_tasks)


async def _is(rows: Awaitable[list[dict[str, Any]]], expected: list[dict[str, Any]]) -> bool:
    return await rows == expected


async def attempts(world: World) -> list[dict[str, Any]]:
    return [dict(r) for r in await world.db("select attempt_id, state from attempts order by attempt_id")]


async def test_a_leader_whose_lease_is_taken_stands_by_forgets_its_calls_and_can_lead_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dialer")
    async with one_node(tmp_path) as (world, standby, node):
        rt, first = world.rt, rt_fence(world)
        await world.book_visit("A-1", "+79161234567")
        await world.run_until(lambda: world.pbx.originated, "the first call in the air")
        (call,) = world.pbx.originated
        world.pbx.channels[call.attempt_id] = LiveChannel(call.attempt_id, "Local/x@patients-0001;1", "Up")

        # Another node takes the lease (this one looks paused to it): at the next renewal this one finds out.
        other = "node-b:4242:feedface"
        taken = await rt.storage.leases.take(LEASE, other, world.clock.now(), 3.0, steal_from=first.holder)
        assert isinstance(taken, Fence) and taken.generation == first.generation + 1
        await world.run_until(lambda: "lost the dialing lease; standing by" in caplog.text, "the step back")

        assert not leads(rt) and not node.done() and not world.task("ami").done()
        assert rt.storage.attempts.fence is not None and rt.storage.attempts.fence.standby
        assert rt.desk.in_flight == 0 and [p.in_use for p in rt.desk.pacers.values()] == [0]
        assert not rt.desk.reconciled.is_set()  # a later takeover reconciles before anything is dialled
        assert standby.leader_tasks == []
        health = await NodeHealth(rt, rt.health)()
        assert health["leader"] is False

        # Standing by, it writes nothing while the other node leads: the patient's answer is not recorded here
        # (the leader asks Asterisk), and no attempt can be written under any fence of this node's.
        answered, ended = confirming_call(call.attempt_id)
        world.pbx.emit(*answered)
        await other_leads(world, taken, seconds=30)
        assert await attempts(world) == [{"attempt_id": call.attempt_id, "state": "dialing"}]
        assert len(world.pbx.originated) == 1 and not leads(rt)
        for fence in (first, rt_fence(world)):
            with pytest.raises(FencedOut):
                await rt.storage.attempts.create(_row(f"{call.attempt_id}-{fence.generation}", world), [])

        # The other node dies: its lease expires and this one leads again, under a new generation, and
        # asks Asterisk about the call it had forgotten, then follows it to its end.
        await world.run_until(lambda: len(standby.generations) == 2 and leads(rt), "leading again", limit=60)
        assert standby.generations == [first.generation, taken.generation + 1]
        assert rt_fence(world).generation == taken.generation + 1
        await world.run_until(lambda: rt.desk.in_flight == 1, "the call in the air adopted again")
        assert (await NodeHealth(rt, rt.health)())["leader"] is True
        world.pbx.emit(*ended)
        await world.run_until(lambda: rt.desk.in_flight == 0, "the call's end")
        # The desk lets the call go before its batch commits the end: wait for the row, not for the counter.
        ended_row = [{"attempt_id": call.attempt_id, "state": "ended"}]
        await world.run_until(lambda: _is(attempts(world), ended_row), "the call's end written")
        assert len(world.pbx.originated) == 1


async def other_leads(world: World, fence: Fence, *, seconds: float) -> None:
    """Another node holds the lease for `seconds` of the service's time, renewing it as a leader does."""
    for _ in range(int(seconds)):
        assert await world.rt.storage.leases.renew(fence, world.clock.now(), 3.0)
        await world.run_for(1)


def rt_fence(world: World) -> Fence:
    fence = world.rt.storage.attempts.fence
    assert fence is not None
    return fence


def _row(attempt_id: str, world: World) -> AttemptRow:
    return AttemptRow(
        attempt_id=attempt_id,
        clinic_id="c1",
        target_id=1,
        n=9,
        phone="+79161234567",
        trunk="sim",
        state=AttemptState.DIALING,
        created_at=world.clock.now(),
    )


async def test_a_missed_call_told_again_at_the_takeover_that_the_database_refuses_is_held_and_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A call that ended while this node stood by is told again when it takes over; the database refusing it
    then does not lose it: it is held and stored on a later try."""
    caplog.set_level(logging.INFO, logger="dialer")
    async with one_node(tmp_path) as (world, standby, _node):
        rt, first = world.rt, rt_fence(world)
        other = "node-b:4242:feedface"
        taken = await rt.storage.leases.take(LEASE, other, world.clock.now(), 3.0, steal_from=first.holder)
        assert isinstance(taken, Fence)
        await world.run_until(lambda: "lost the dialing lease; standing by" in caplog.text, "the step back")

        uid = "1795600800.301"
        channel = "Local/100@clinic-inbound-0301;1"
        world.pbx.emit(
            {"Event": "Newchannel", "Channel": channel, "Uniqueid": uid, "Linkedid": uid,
             "Context": "clinic-inbound", "Exten": "100", "CallerIDNum": "79161234598"},
            {"Event": "Hangup", "Channel": channel, "Uniqueid": uid, "Linkedid": uid, "Cause": "16"},
        )  # fmt: skip
        await other_leads(world, taken, seconds=5)
        record_miss = rt.callbacks.tasks.record_miss
        refused: list[tuple[InboundCallRow, CallbackTask, datetime]] = []

        async def away_twice(call: InboundCallRow, task: CallbackTask, now: datetime) -> MissTaken | None:
            if len(refused) < 2:
                refused.append((call, task, now))
                raise OSError("connection refused")
            return await record_miss(call, task, now)

        rt.callbacks.tasks.record_miss = away_twice  # type: ignore[method-assign]
        await world.run_until(lambda: len(standby.generations) == 2, "leading again", limit=60)
        await world.run_until(lambda: len(refused) == 2, "the call told again, and refused twice", limit=120)
        stored = "select count(*) as n from inbound_calls join callback_tasks using (task_id)"

        async def in_database() -> bool:
            return bool((await world.db(stored))[0]["n"] == 1)

        await world.run_until(in_database, "the held call stored", limit=120)
        # The desk lets the call go once its write returns, which may be a moment after the row is readable.
        await world.run_until(lambda: not rt.inbound.held, "the held call let go", limit=5)
        assert (await world.db(stored))[0]["n"] == 1
    assert "taking over: an inbound call's fact failed (OSError)" in caplog.text


async def test_the_leaders_tenure_is_kept_fresh_by_its_renewals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renew, asked, answered = SqlLeaseStore.renew, [0], [0]

    async def counted(self: SqlLeaseStore, fence: Fence, now: datetime, ttl_seconds: float) -> bool:
        asked[0] += 1
        try:
            return await renew(self, fence, now, ttl_seconds)
        finally:
            answered[0] += 1

    monkeypatch.setattr(SqlLeaseStore, "renew", counted)
    async with one_node(tmp_path) as (world, _standby, _node):
        tenure = world.rt.desk.tenure
        assert tenure is not None and tenure.good_for == 2.0  # two thirds of the 3 s takeover

        async def step() -> None:
            world.clock.advance(0.25)
            # Time stands still while the database answers, as it does for a leader whose database is quick.
            await _in_real_time(lambda: asked[0] == answered[0], "the renewal answered")

        # Setting up let the service's time run on while the database answered: the watch starts at a renewal.
        await _in_real_time(lambda: asked[0] == answered[0], "the renewal answered")
        so_far = answered[0]
        for _ in range(8):
            if answered[0] > so_far:
                break
            await step()
        assert answered[0] > so_far, "no renewal in the 2 s after the node took the lease"
        started, first = world.clock.monotonic(), tenure.renewed
        while world.clock.monotonic() - started < 6.0:  # three tenures: only renewals keep it fresh so long
            await step()
            assert tenure.fresh(world.clock.monotonic())
        assert answered[0] - so_far >= 6 and tenure.renewed - first >= 5.0


async def _in_real_time(check: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Wait for `check` in real seconds, the service's time standing still: for a real database's answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    await asyncio.sleep(0.002)
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"after {limit:.0f} s, still not {what}")
        await asyncio.sleep(0.002)
