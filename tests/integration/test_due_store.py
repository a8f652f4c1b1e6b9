"""The due-task table on a real SQLite file: work set aside is planned again, work done stays done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.core.records import DueTask, TaskKind
from dialer.storage.repository import Storage

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


async def test_a_cancelled_task_planned_again_comes_due_and_a_done_one_does_not(database_url: str) -> None:
    storage = await Storage.open(database_url)
    try:
        due = storage.due
        early = DueTask("dial:reminders:1:2", "c1", TaskKind.DIAL, "reminders", 1, NOW)
        await due.schedule(early)
        (claimed,) = await due.claim_due(NOW, 10, "w")
        # The flow finds the window's gap not yet passed: it sets the task aside and plans it again later.
        await due.finish(claimed.task_id, cancelled=True)
        later = NOW + timedelta(hours=2)
        await due.schedule(DueTask(early.task_id, "c1", TaskKind.DIAL, "reminders", 1, later))
        assert await due.claim_due(NOW + timedelta(hours=1), 10, "w") == []
        assert await due.next_due_at() == later
        (again,) = await due.claim_due(later, 10, "w")
        assert again.task_id == early.task_id and again.due_at == later
        await due.finish(again.task_id)
        await due.schedule(DueTask(early.task_id, "c1", TaskKind.DIAL, "reminders", 1, later))
        assert await due.claim_due(later + timedelta(days=1), 10, "w") == []
    finally:
        await storage.close()
