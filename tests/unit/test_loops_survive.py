"""Every long-running loop survives its own errors: a failing turn is logged, the loop goes on after a pause,
and the service goes on placing calls and applying their facts. Only the errors that must stop the service
(the dialing lease lost, Asterisk refusing the login) stop it.

The failures are injected through the service's own ports: one store of the real runtime fails a chosen
number of times (tests/engine_world.py), on a FakeClock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.core.clock import FakeClock
from dialer.core.errors import ServiceStop
from dialer.engine.inbound import STORE_TRIES
from dialer.engine.loops import consume, forever, pause_after
from dialer.engine.recovery import SEEN_MARK_EVERY
from dialer.lease import AlreadyDialing
from dialer.storage.held_calls import HELD_CALLS_FILE
from dialer.storage.repository import Storage
from tests.engine_world import MORNING, Flaky, World, replace_store, running_world, world_settings

Trigger = Callable[[World, Flaky], Awaitable[None]]


async def nothing(world: World, store: Flaky) -> None:
    """The loop calls its store on its own, every few seconds."""


async def a_confirmed_reminder(world: World, store: Flaky, arm: int = 0) -> None:
    """A patient is called, presses 1 and hangs up: facts to apply, a reminder to finish. With `arm`, the
    store is armed once the call is out, the first time only: the day's list is planned before."""
    count = len(world.pbx.originated)
    await world.book_visit(f"T{count}", f"+7916123456{count}")
    await world.run_until(lambda: len(world.pbx.originated) > count, "Originate")
    if arm and store.failed == 0:
        store.arm(arm)
    world.answer_and_confirm(world.pbx.originated[-1].attempt_id)
    await world.run_for(3)


async def the_answer_kept_on_the_second_try(world: World, store: Flaky) -> None:
    """A confirmed reminder whose answer and end the reminder loop writes together, and fails to once."""
    await a_confirmed_reminder(world, store, arm=1)


async def an_inbound_call(world: World, store: Flaky) -> None:
    """Someone calls the clinic and hangs up in the greeting: a missed call to record with its callback."""
    uid = f"1795600800.{100 + len(world.pbx.originated) + int(world.clock.monotonic())}"
    channel = f"Local/100@clinic-inbound-{uid[-4:]};1"
    world.pbx.emit(
        {"Event": "Newchannel", "Channel": channel, "Uniqueid": uid, "Linkedid": uid,
         "Context": "clinic-inbound", "Exten": "100", "CallerIDNum": "79161234599"},
        {"Event": "Hangup", "Channel": channel, "Uniqueid": uid, "Linkedid": uid, "Cause": "16"},
    )  # fmt: skip
    await world.run_for(3)


@dataclass(frozen=True)
class Case:
    loop: str  # the loop's name in the log
    task: str  # the task of run_core that holds it
    store: str  # the store of Storage that fails
    method: str
    trigger: Trigger = nothing
    at_start: bool = False  # fail from the very start, before the link is up
    armed_by_trigger: bool = False  # the trigger arms the store itself
    times: int = 2  # how many calls in a row fail
    kept: str = ""  # for a loop that tries an item again: a query counting what both triggers stored
    settings: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.loop


CASES = [
    Case("worker", "worker", "due", "claim_due"),
    Case(
        "webhook",
        "webhook",
        "outbox",
        "due",
        settings={"webhook": {"url": "http://127.0.0.1:9/", "secret": "s"}},
    ),
    Case("seen-mark", "seen-mark", "inbound", "mark"),
    Case("operators", "popups", "users", "all"),
    Case("alerts", "alerts", "alerts", "active", at_start=True),
    Case("lease", "lease", "leases", "renew"),
    Case("facts", "facts", "attempts", "apply", trigger=a_confirmed_reminder, times=1),
    Case(
        "reminders",
        "reminders",
        "reminders",
        "write_follow_ups",
        trigger=the_answer_kept_on_the_second_try,
        times=1,
        armed_by_trigger=True,
    ),
    Case(
        "inbound",
        "inbound",
        "callbacks",
        "record_miss",
        trigger=an_inbound_call,
        times=1,
        kept="select count(*) as n from inbound_calls join callback_tasks using (task_id)",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_a_loop_whose_turn_fails_goes_on_and_so_does_the_service(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: Case
) -> None:
    flaky: list[Flaky] = []

    def wrap(storage: Storage) -> Storage:
        flaky.append(Flaky(getattr(storage, case.store), case.method))
        if case.at_start:
            flaky[0].arm(case.times)
        return replace_store(storage, case.store, flaky[0])

    settings = world_settings(tmp_path, **case.settings)
    with caplog.at_level(logging.ERROR, logger="dialer.loops"):
        async with running_world(tmp_path, settings, wrap) as world:
            store = flaky[0]
            before = 0 if case.at_start else store.calls
            if not case.at_start and not case.armed_by_trigger:
                store.arm(case.times)
            await case.trigger(world, store)
            await world.run_until(lambda: store.failed == case.times, f"{case.store}.{case.method} to fail")
            # The loop goes on: its store is called again, and this time it works.
            await case.trigger(world, store)
            await world.run_until(
                lambda: store.calls > before + case.times, f"{case.loop} to go on", limit=180
            )
            if case.kept:  # the item that failed was stored on its next try, not dropped
                assert (await world.db(case.kept))[0]["n"] == 2
            # And so does the service: a call is placed, its facts applied, the patient's answer kept.
            placed = len(world.pbx.originated)
            await world.book_visit("LAST", "+79160000001")
            await world.run_until(lambda: len(world.pbx.originated) > placed, "the last call")
            world.answer_and_confirm(world.pbx.originated[-1].attempt_id)

            async def confirmed() -> bool:
                rows = await world.db(
                    "select reminder_status from appointments where appointment_id = 'LAST'"
                )
                return bool(rows) and rows[0]["reminder_status"] == "confirmed"

            await world.run_until(confirmed, "the last patient's confirmation")
            assert not world.task(case.task).done()
            assert not [t.get_name() for t in world.tasks if t.done() and t.exception() is not None]
    failures = [
        r
        for r in caplog.records
        if r.name == "dialer.loops" and isinstance(r.args, tuple) and r.args and r.args[0] == case.loop
    ]
    assert len(failures) >= 1, [r.getMessage() for r in caplog.records]
    # The error's type and where it was raised, never its text (which may carry a patient's number).
    assert all("StoreTrouble at " in r.getMessage() and "on purpose" not in r.getMessage() for r in failures)


async def test_a_lease_that_cannot_be_renewed_in_time_stops_the_service(tmp_path: Path) -> None:
    flaky: list[Flaky] = []

    def wrap(storage: Storage) -> Storage:
        flaky.append(Flaky(storage.leases, "renew"))
        return replace_store(storage, "leases", flaky[0])

    with pytest.raises(BaseExceptionGroup) as stopped:
        async with running_world(tmp_path, world_settings(tmp_path), wrap) as world:
            armed_at = world.clock.monotonic()
            flaky[0].arm(1000)
            await world.run_for(60)
    errors = stopped.value.exceptions
    assert errors and all(isinstance(e, AlreadyDialing) and "could not renew" in str(e) for e in errors)
    # The last renewal was at most a third of the lease's life (10 s) before the failures began: stopped two
    # thirds after it, before the lease could expire under it.
    assert 0 < world.clock.monotonic() - armed_at <= 20 / 3 + 0.5


# The helper itself ------------------------------------------------------------------------------------


async def test_forever_pauses_longer_while_turns_keep_failing_and_resets_after_one_works() -> None:
    clock = FakeClock(MORNING)
    outcomes = iter([False, False, False, True, False, True])
    started: list[float] = []

    async def turn() -> None:
        started.append(clock.monotonic())
        if not next(outcomes, True):
            raise OSError("database is locked")
        await clock.sleep(10)

    loop = __import__("asyncio").ensure_future(forever("test", turn, clock))
    await clock.run_for(50)
    loop.cancel()
    assert started[:6] == [0.0, 1.0, 3.0, 7.0, 17.0, 18.0]  # fails at 0, 1, 3, 7; works at 17 (and sleeps 10)
    assert [pause_after(n) for n in (1, 2, 3, 7, 8, 100)] == [1.0, 2.0, 4.0, 60.0, 60.0, 60.0]


async def test_forever_stops_on_a_service_stop_and_on_cancellation() -> None:
    clock = FakeClock(MORNING)

    async def stop() -> None:
        raise AlreadyDialing("lost the lease")

    with pytest.raises(ServiceStop):
        await forever("test", stop, clock)


async def test_consume_drops_the_item_that_failed_unnamed_and_handles_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    clock = FakeClock(MORNING)
    queue: asyncio.Queue[int] = asyncio.Queue()
    done: list[int] = []

    async def handle(item: int) -> None:
        if item == 2:
            raise ValueError("bad item +79161234567")
        done.append(item)

    for item in (1, 2, 3):
        queue.put_nowait(item)
    loop = asyncio.ensure_future(consume("things", queue, handle, clock))
    await clock.run_for(5)
    loop.cancel()
    assert done == [1, 3]
    (record,) = [r for r in caplog.records if r.name == "dialer.loops"]
    assert "things: a turn failed" in record.getMessage() and "ValueError" in record.getMessage()
    assert "bad item" not in record.getMessage() and record.exc_info is None


async def test_consume_with_tries_handles_a_failed_item_again_then_drops_it_if_it_keeps_failing() -> None:
    import asyncio

    clock = FakeClock(MORNING)
    queue: asyncio.Queue[str] = asyncio.Queue()
    handled: list[tuple[str, float]] = []
    failing = {"locked": 1, "broken": 99}  # how many times each fails before it works

    async def handle(item: str) -> None:
        handled.append((item, clock.monotonic()))
        if failing.get(item, 0) > 0:
            failing[item] -= 1
            raise OSError("database is locked")

    for item in ("locked", "broken", "next"):
        queue.put_nowait(item)
    loop = asyncio.ensure_future(consume("things", queue, handle, clock, tries=3))
    await clock.run_for(30)
    loop.cancel()
    assert handled == [
        ("locked", 0.0),
        ("locked", 1.0),  # again after the first pause, and it works
        ("broken", 1.0),
        ("broken", 2.0),
        ("broken", 4.0),  # three tries in all, then given up
        ("next", 8.0),
    ]


async def test_a_missed_call_the_database_refuses_for_minutes_is_held_and_stored_when_it_takes_writes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Longer than the desk's own tries (a PostgreSQL restart, a failover): the call is held aside, tried
    again, and stored with its callback once the database is back. Meanwhile the seen mark stays before it, so
    that a restart would read it from queue_log again; /metrics counts it."""
    flaky: list[Flaky] = []

    def wrap(storage: Storage) -> Storage:
        flaky.append(Flaky(storage.callbacks, "record_miss"))
        return replace_store(storage, "callbacks", flaky[0])

    stored = "select count(*) as n from inbound_calls join callback_tasks using (task_id)"
    with caplog.at_level(logging.INFO, logger="dialer.inbound"):
        async with running_world(tmp_path, world_settings(tmp_path), wrap) as world:
            store = flaky[0]
            store.arm(STORE_TRIES + 3)  # the desk's tries, then the held call's first tries too
            started = world.clock.now()
            await an_inbound_call(world, store)
            await world.run_until(lambda: world.rt.inbound.held, "the call held aside")
            assert store.failed == STORE_TRIES
            await world.run_for(2 * SEEN_MARK_EVERY)
            (mark,) = await world.db("select at from marks where name = 'ami_seen'")
            assert aware(mark["at"]) <= started + timedelta(seconds=1)  # not past the held call
            assert (await world.db(stored))[0]["n"] == 0

            # Another caller meanwhile is not kept waiting behind the held one.
            store_after = store.calls
            await an_inbound_call(world, store)
            await world.run_until(lambda: store.calls > store_after, "the next call's store")

            await world.run_until(lambda: not world.rt.inbound.held, "the held call stored", limit=600)
            assert store.failed == STORE_TRIES + 3

            # The next caller's own tries may end a pause after the held call is stored.
            async def both_stored() -> bool:
                return bool((await world.db(stored))[0]["n"] == 2)

            await world.run_until(both_stored, "both calls stored with their callbacks", limit=60)
            await world.run_for(2 * SEEN_MARK_EVERY)
            (mark,) = await world.db("select at from marks where name = 'ami_seen'")
            assert aware(mark["at"]) > world.clock.now() - timedelta(seconds=2 * SEEN_MARK_EVERY)
    held = [r.getMessage() for r in caplog.records if "held" in r.getMessage()]
    assert held and "not stored; held" in held[0] and "79161234599" not in " ".join(held)


async def test_a_held_call_outlives_the_process_and_the_next_run_stores_it(tmp_path: Path) -> None:
    """The database is away until the process ends (killed, or restarted for an update): the call held aside
    was kept in the data folder, readable by the service alone, and the next run stores it with its callback,
    once."""
    flaky: list[Flaky] = []

    def wrap(storage: Storage) -> Storage:
        flaky.append(Flaky(storage.callbacks, "record_miss"))
        return replace_store(storage, "callbacks", flaky[0])

    kept = tmp_path / "var" / HELD_CALLS_FILE
    stored = "select count(*) as n from inbound_calls join callback_tasks using (task_id)"
    async with running_world(tmp_path, world_settings(tmp_path), wrap) as world:
        flaky[0].arm(10_000)  # the database takes nothing until this run ends
        await an_inbound_call(world, flaky[0])
        await world.run_until(lambda: world.rt.inbound.held, "the call held aside")
        assert kept.stat().st_mode & 0o777 == 0o600
        assert (await world.db(stored))[0]["n"] == 0
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        assert len(world.rt.inbound.held) == 1
        await world.run_until(lambda: not world.rt.inbound.held, "the held call stored", limit=600)
        assert (await world.db(stored))[0]["n"] == 1
        assert not kept.exists()


def aware(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def test_consume_hands_an_item_that_keeps_failing_to_give_up() -> None:
    import asyncio

    clock = FakeClock(MORNING)
    queue: asyncio.Queue[str] = asyncio.Queue()
    given_up: list[str] = []
    handled: list[str] = []

    async def handle(item: str) -> None:
        handled.append(item)
        if item == "broken":
            raise OSError("database is locked")

    for item in ("broken", "next"):
        queue.put_nowait(item)
    loop = asyncio.ensure_future(consume("things", queue, handle, clock, tries=2, give_up=given_up.append))
    await clock.run_for(30)
    loop.cancel()
    assert handled == ["broken", "broken", "next"] and given_up == ["broken"]
