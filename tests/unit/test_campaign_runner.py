"""The campaign runner's share of every kind's attempts: one due task per attempt, never an attempt placed twice,
and a due attempt placed only while its plan still dials it now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.planner import Dial, Wait
from dialer.core.ids import AttemptId
from dialer.core.records import AttemptRow, DueTask, TaskKind
from dialer.engine.calls import attempt_row
from tests.fakes.rig import CLINIC, build, clinic_settings

NOW = datetime(2026, 12, 2, 8, tzinfo=UTC)
KIND = CampaignKind.REMINDERS


def placed(n: int) -> AttemptRow:
    return attempt_row(
        attempt_id=AttemptId(KIND, 7, n), clinic_id=CLINIC, phone="+79161234567", trunk="sim", now=NOW
    )


async def test_the_next_attempt_is_scheduled_under_its_own_id() -> None:
    rig = build(clinic_settings(), NOW)
    await rig.reminders.runner.schedule_dial(KIND, 7, CLINIC, NOW, [placed(1), placed(2)])
    (task_id,) = rig.due.rows
    assert AttemptId.of_due_task(task_id) == AttemptId(KIND, 7, 3)


async def test_a_due_attempt_that_exists_already_is_cancelled_not_placed() -> None:
    rig = build(clinic_settings(), NOW)
    runner = rig.reminders.runner
    task = DueTask(AttemptId(KIND, 7, 1).due_task_id, CLINIC, TaskKind.DIAL, KIND, 7, NOW)
    await rig.due.schedule(task)
    assert await runner.claim(task, wanted=True) == AttemptId(KIND, 7, 1)
    await rig.attempts.create(placed(1))
    assert await runner.claim(task, wanted=True) is None
    assert rig.due.rows[task.task_id].state == "cancelled"


def test_only_the_plans_next_attempt_due_now_is_still_due() -> None:
    rig = build(clinic_settings(), NOW)
    runner = rig.reminders.runner
    second = AttemptId(KIND, 7, 2)
    assert runner.still_due(Dial(NOW, 2), [placed(1)], second)
    assert not runner.still_due(Dial(NOW + timedelta(minutes=1), 2), [placed(1)], second)
    assert not runner.still_due(Dial(NOW, 2), [placed(1), placed(2)], second)
    assert not runner.still_due(Wait(), [placed(1)], second)
