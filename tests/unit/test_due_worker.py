"""The due-task worker's shares: callbacks waiting for a free administrator, however many, never keep a reminder
window from its calls, and a share without room neither claims more nor spins the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import pytest

from dialer.core.clock import FakeClock
from dialer.core.records import DueTask, TaskKind
from dialer.engine.worker import DueWorker
from tests.fakes.memory import MemoryDueStore

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


async def test_callbacks_waiting_for_an_administrator_leave_the_reminders_their_room() -> None:
    clock, due = FakeClock(T0), MemoryDueStore()
    ready = asyncio.Event()
    ready.set()
    worker = DueWorker(due=due, clock=clock, ready=ready, max_outstanding=4)
    administrator_free = asyncio.Event()
    waiting: list[str] = []
    dialled: list[str] = []
    claims: list[int] = []
    claim_due = due.claim_due

    async def counted_claim(*args: object, **kwargs: object) -> list[DueTask]:
        claims.append(1)
        return await claim_due(*args, **kwargs)  # type: ignore[arg-type]

    due.claim_due = counted_claim  # type: ignore[method-assign]

    async def callback(t: DueTask) -> None:
        waiting.append(t.task_id)
        await administrator_free.wait()  # every administrator is talking to a queue caller
        await due.finish(t.task_id)

    async def reminder(t: DueTask) -> None:
        dialled.append(t.task_id)
        await due.finish(t.task_id)

    worker.register(TaskKind.DIAL, "callbacks", callback)
    worker.register(TaskKind.DIAL, "reminders", reminder)
    for n in range(10):  # missed calls since before the window, all due earlier than any reminder
        await due.schedule(
            DueTask(f"cb{n}", "c1", TaskKind.DIAL, "callbacks", n, T0 - timedelta(minutes=10 - n))
        )
    for n in range(6):
        await due.schedule(
            DueTask(f"rem{n}", "c1", TaskKind.DIAL, "reminders", 100 + n, T0 + timedelta(seconds=n))
        )
    running = asyncio.create_task(worker.run())
    try:
        await clock.run_for(10)
        assert dialled == [f"rem{n}" for n in range(6)]  # the window's calls go out beside the backlog
        assert waiting == ["cb0", "cb1", "cb2", "cb3"]  # the callbacks' own room, oldest first
        settled = len(claims)
        await clock.run_for(60)
        # Full callbacks and nothing else due: the worker sleeps its idle poll, it does not spin on their rows.
        assert len(claims) - settled <= 60 / 5 + 1
        administrator_free.set()
        await clock.run_for(10)
        assert waiting == [f"cb{n}" for n in range(10)]
        assert due.states() == {
            **{f"cb{n}": "done" for n in range(10)},
            **{f"rem{n}": "done" for n in range(6)},
        }
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_tasks_no_flow_runs_stay_pending_and_are_named_once(caplog: pytest.LogCaptureFixture) -> None:
    clock, due = FakeClock(T0), MemoryDueStore()
    ready = asyncio.Event()
    ready.set()
    worker = DueWorker(due=due, clock=clock, ready=ready)
    dialled: list[str] = []

    async def reminder(t: DueTask) -> None:
        dialled.append(t.task_id)
        await due.finish(t.task_id)

    worker.register(TaskKind.DIAL, "reminders", reminder)
    # A campaign kind the clinic ran before an upgrade that dropped it: its rows are still in the table.
    for n in range(3):
        await due.schedule(DueTask(f"old{n}", "c1", TaskKind.DIAL, "survey", n, T0 - timedelta(hours=1)))
    await due.schedule(DueTask("rem0", "c1", TaskKind.DIAL, "reminders", 100, T0))
    running = asyncio.create_task(worker.run())
    try:
        with caplog.at_level(logging.WARNING, logger="dialer.worker"):
            await clock.run_for(30)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert dialled == ["rem0"]
    assert due.states("old") == {f"old{n}": "pending" for n in range(3)}
    told = [r.getMessage() for r in caplog.records if r.name == "dialer.worker"]
    assert told == [
        "3 dial tasks of campaign survey wait, but this service runs no flow for them; they stay pending"
    ]
