"""The reminder flow's batches: its targets read together, its follow-ups written in one transaction.

The writes go in runs of one kind, each run one executemany; each target's own writes keep their order, so
that its final status is written after the key that led to it (core/followups.in_kind_runs). The statements
set the same values as the store's one-at-a-time methods (reminders.py, due.py), and each is safe to repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.followups import (
    FinishTarget,
    FollowUpWrite,
    FreeSlot,
    OpenAdminTask,
    ScheduleDue,
    SetVisitStatus,
    TargetView,
    in_kind_runs,
)
from dialer.core.records import AttemptRow, DueState, ReminderTarget, TargetState
from dialer.core.worklist_states import AdminTaskStatus
from dialer.storage.attempts import ATTEMPT_ROW, attempt_from_row
from dialer.storage.freed import keep_freed
from dialer.storage.schema import admin_tasks, appointments, attempts, due_tasks, sms_messages, targets
from dialer.storage.upsert import insert_dialect, insert_ignore

_VISIT = (
    appointments.c.clinic_id == bindparam("b_clinic"),
    appointments.c.appointment_id == bindparam("b_appointment"),
)
_SET_STATUS = (
    update(appointments)
    .where(*_VISIT)
    .values(
        reminder_status=func.coalesce(bindparam("b_status"), appointments.c.reminder_status),
        reminder_digit=func.coalesce(bindparam("b_digit"), appointments.c.reminder_digit),
        updated_at=bindparam("b_at"),
    )
)
_FINAL_STATUS = (
    update(appointments)
    .where(*_VISIT)
    .values(
        reminder_status=bindparam("b_status"),
        reminder_digit=func.coalesce(bindparam("b_digit"), appointments.c.reminder_digit),
        updated_at=bindparam("b_at"),
    )
)
_FINISH = (
    update(targets)
    .where(targets.c.target_id == bindparam("b_target"))
    .values(state=TargetState.DONE.value, stop_reason=bindparam("b_reason"), updated_at=bindparam("b_at"))
)
_REPLANNABLE = (DueState.PENDING.value, DueState.CANCELLED.value)


@dataclass(frozen=True)
class ViewRows:
    """What a batch's view is made of: the targets' rows, their SMS (oldest first), their attempts in order."""

    targets: list[Any]
    sms: list[Any]
    attempts: list[Any]

    def views(self, target_of: Callable[[Any, str | None], ReminderTarget]) -> dict[int, TargetView]:
        latest_sms = {int(target_id): str(status) for target_id, status in self.sms}
        histories: dict[int, list[AttemptRow]] = {}
        for row in self.attempts:
            histories.setdefault(int(row.target_id), []).append(attempt_from_row(row))
        views: dict[int, TargetView] = {}
        for row in self.targets:
            target = target_of(row, latest_sms.get(int(row.target_id)))
            views[target.target_id] = TargetView(target, histories.get(target.target_id, []))
        return views


async def read_views(engine: AsyncEngine, target_query: Select[Any], target_ids: Collection[int]) -> ViewRows:
    """`target_query` (the store's target select) for all of `target_ids`, their SMS and attempts."""
    ids = sorted(set(target_ids))
    if not ids:
        return ViewRows([], [], [])
    async with engine.connect() as conn:
        rows = list(
            await conn.execute(target_query.where(targets.c.target_id.in_(ids)).order_by(targets.c.target_id))
        )
        sms = await conn.execute(
            select(sms_messages.c.target_id, sms_messages.c.status)
            .where(sms_messages.c.target_id.in_(ids))
            .order_by(sms_messages.c.created_at)
        )
        history = await conn.execute(
            ATTEMPT_ROW.where(attempts.c.target_id.in_(ids)).order_by(attempts.c.target_id, attempts.c.n)
        )
        return ViewRows(rows, list(sms), list(history))


async def write_follow_ups(engine: AsyncEngine, writes: Sequence[FollowUpWrite]) -> None:
    """Every write, in order, in one transaction: the batch is written whole or not at all."""
    if not writes:
        return
    async with engine.begin() as conn:
        for run in in_kind_runs(writes):
            await _WRITERS[type(run[0])](conn, run)


async def _statuses(conn: AsyncConnection, run: list[Any]) -> None:
    writes: list[SetVisitStatus] = run
    await conn.execute(
        _SET_STATUS,
        [
            {
                "b_clinic": w.clinic_id,
                "b_appointment": w.appointment_id,
                "b_status": w.status.value if w.status is not None else None,
                "b_digit": w.digit,
                "b_at": w.at,
            }
            for w in writes
        ],
    )


async def _admin_tasks(conn: AsyncConnection, run: list[Any]) -> None:
    writes: list[OpenAdminTask] = run
    await conn.execute(
        insert_ignore(conn, admin_tasks, ["clinic_id", "kind", "subject_id", "source"]),
        [
            {
                "clinic_id": w.clinic_id,
                "kind": w.kind,
                "subject_id": w.appointment_id,
                "patient_id": w.patient_id,
                "source": w.source,
                "status": AdminTaskStatus.OPEN.value,
                "comment": w.comment,
                "created_at": w.at,
            }
            for w in writes
        ],
    )


async def _freed(conn: AsyncConnection, run: list[Any]) -> None:
    writes: list[FreeSlot] = run
    await keep_freed(conn, [(w.clinic_id, w.appointment_id, w.at) for w in writes])


async def _due(conn: AsyncConnection, run: list[Any]) -> None:
    """Scheduled under the task's id; a task set aside (cancelled) is planned again, one that ran stays done."""
    writes: list[ScheduleDue] = run
    insert = insert_dialect(conn, due_tasks)
    statement = insert.on_conflict_do_update(
        index_elements=["task_id"],
        set_={"due_at": insert.excluded.due_at, "state": DueState.PENDING.value},
        # Two plain comparisons: an IN list would expand, which executemany does not allow.
        where=or_(*(due_tasks.c.state == state for state in _REPLANNABLE)),
    )
    await conn.execute(
        statement,
        [
            {
                "task_id": w.task.task_id,
                "clinic_id": w.task.clinic_id,
                "kind": w.task.kind.value,
                "campaign": w.task.campaign,
                "target_id": w.task.target_id,
                "due_at": w.task.due_at,
                "state": DueState.PENDING.value,
                "tries": w.task.tries,
                "updated_at": w.task.due_at,
            }
            for w in writes
        ],
    )


async def _finishes(conn: AsyncConnection, run: list[Any]) -> None:
    writes: list[FinishTarget] = run
    await conn.execute(
        _FINAL_STATUS,
        [
            {
                "b_clinic": w.clinic_id,
                "b_appointment": w.appointment_id,
                "b_status": w.status.value,
                "b_digit": w.digit,
                "b_at": w.at,
            }
            for w in writes
        ],
    )
    await conn.execute(
        _FINISH, [{"b_target": w.target_id, "b_reason": w.reason, "b_at": w.at} for w in writes]
    )


_WRITERS = {
    SetVisitStatus: _statuses,
    OpenAdminTask: _admin_tasks,
    FreeSlot: _freed,
    ScheduleDue: _due,
    FinishTarget: _finishes,
}
