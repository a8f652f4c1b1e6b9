"""The due-task table on a real SQLite file: work set aside is planned again, work done stays done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.core.records import DueTask, TaskKind
from dialer.storage.repository import Storage

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
REMINDERS = {(TaskKind.DIAL, "reminders"): 10}


async def test_a_cancelled_task_planned_again_comes_due_and_a_done_one_does_not(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        due = storage.due
        early = DueTask("dial:reminders:1:2", "c1", TaskKind.DIAL, "reminders", 1, NOW)
        await due.schedule(early)
        (claimed,) = await due.claim_due(NOW, REMINDERS, "w")
        # The flow finds the window's gap not yet passed: it sets the task aside and plans it again later.
        await due.finish(claimed.task_id, cancelled=True)
        later = NOW + timedelta(hours=2)
        await due.schedule(DueTask(early.task_id, "c1", TaskKind.DIAL, "reminders", 1, later))
        assert await due.claim_due(NOW + timedelta(hours=1), REMINDERS, "w") == []
        assert await due.next_due_at(REMINDERS) == later
        (again,) = await due.claim_due(later, REMINDERS, "w")
        assert again.task_id == early.task_id and again.due_at == later
        await due.finish(again.task_id)
        await due.schedule(DueTask(early.task_id, "c1", TaskKind.DIAL, "reminders", 1, later))
        assert await due.claim_due(later + timedelta(days=1), REMINDERS, "w") == []
    finally:
        await storage.close()


async def test_a_backlog_of_one_share_leaves_the_others_their_room(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        due = storage.due
        callbacks, reminders = (TaskKind.DIAL, "callbacks"), (TaskKind.DIAL, "reminders")
        # Thirty callbacks due since before the reminder window opened, all of them older than any reminder.
        for n in range(30):
            await due.schedule(
                DueTask(f"dial:callbacks:{n}:1", "c1", *callbacks, n, NOW - timedelta(minutes=n))
            )
        for n in range(3):
            await due.schedule(
                DueTask(f"dial:reminders:{n}:1", "c1", *reminders, n, NOW + timedelta(seconds=n))
            )
        later = NOW + timedelta(minutes=1)
        claimed = await due.claim_due(later, {callbacks: 5, reminders: 2}, "w")
        assert [t.campaign for t in claimed].count("callbacks") == 5
        # Each share's oldest first.
        assert [t.task_id for t in claimed if t.campaign == "reminders"] == [
            "dial:reminders:0:1",
            "dial:reminders:1:1",
        ]
        assert min(t.due_at for t in claimed) == NOW - timedelta(minutes=29)
        # With the callbacks' room used up, only the reminders' next row counts for the worker's sleep.
        assert await due.next_due_at([reminders]) == NOW + timedelta(seconds=2)
        assert await due.next_due_at([callbacks]) == NOW - timedelta(minutes=24)
        assert await due.next_due_at([]) is None
        assert await due.claim_due(later, {callbacks: 0, reminders: 0}, "w") == []
        (last,) = await due.claim_due(later, {reminders: 5}, "w")
        assert last.task_id == "dial:reminders:2:1"
        # What waits, by share: the claimed ones are running, not waiting.
        assert await due.pending_by_share() == {("dial", "callbacks"): 25}
    finally:
        await storage.close()
