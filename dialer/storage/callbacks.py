"""Callback tasks for missed calls, each with its calling target."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.campaigns.kinds import CampaignKind
from dialer.core.records import CallbackTask, CloseReason, InboundCallRow, MissTaken, TaskState
from dialer.storage.inbound import record_call
from dialer.storage.schema import callback_tasks, inbound_calls, patients, targets
from dialer.storage.targets import finish_target, target_row


def task_from_row(r: Any) -> CallbackTask:
    return CallbackTask(
        task_id=r.task_id,
        clinic_id=r.clinic_id,
        phone=r.phone,
        state=TaskState(r.state),
        reason=r.reason,
        missed_count=r.missed_count,
        first_call_id=r.first_call_id,
        first_missed_at=r.first_missed_at,
        last_missed_at=r.last_missed_at,
        starts_at=r.starts_at,
        deadline_at=r.deadline_at,
        after_hours=r.after_hours,
        target_id=r.target_id,
        first_attempt_at=r.first_attempt_at,
        contacted_at=r.contacted_at,
        closed_at=r.closed_at,
        close_reason=CloseReason(r.close_reason) if r.close_reason else None,
    )


async def _open(conn: AsyncConnection, task: CallbackTask, now: datetime) -> int:
    """Insert the task and its calling target (campaign "callback"); returns the task's id."""
    task_id: int = (
        await conn.execute(
            insert(callback_tasks)
            .values(
                clinic_id=task.clinic_id,
                phone=task.phone,
                state=TaskState.OPEN.value,
                reason=task.reason,
                missed_count=1,
                first_call_id=task.first_call_id,
                first_missed_at=task.first_missed_at,
                last_missed_at=task.last_missed_at,
                starts_at=task.starts_at,
                deadline_at=task.deadline_at,
                after_hours=task.after_hours,
            )
            .returning(callback_tasks.c.task_id)
        )
    ).scalar_one()
    target_id = (
        await conn.execute(
            insert(targets)
            .values(**target_row(task.clinic_id, CampaignKind.CALLBACK, str(task_id), "", task.phone, now))
            .returning(targets.c.target_id)
        )
    ).scalar_one()
    await conn.execute(
        update(callback_tasks).where(callback_tasks.c.task_id == task_id).values(target_id=target_id)
    )
    return task_id


class SqlCallbackStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _task_where(self, *which: ColumnElement[bool]) -> CallbackTask | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(callback_tasks).where(*which))).first()
        return task_from_row(row) if row else None

    async def open_task(self, clinic_id: str, phone: str) -> CallbackTask | None:
        return await self._task_where(
            callback_tasks.c.clinic_id == clinic_id,
            callback_tasks.c.phone == phone,
            callback_tasks.c.state == TaskState.OPEN.value,
        )

    async def record_miss(self, call: InboundCallRow, task: CallbackTask, now: datetime) -> MissTaken | None:
        """The missed call, and `task` opened for it or the miss counted into the caller's open task, in one
        transaction: a crash leaves both or neither, so a missed call never stays without its callback.
        None when the call was stored before."""
        async with self.engine.begin() as conn:
            if not await record_call(conn, call):
                return None
            row = (
                await conn.execute(
                    select(callback_tasks).where(
                        callback_tasks.c.clinic_id == task.clinic_id,
                        callback_tasks.c.phone == task.phone,
                        callback_tasks.c.state == TaskState.OPEN.value,
                    )
                )
            ).first()
            if row is None:
                task_id = await _open(conn, task, now)
            else:
                task_id = row.task_id
                await conn.execute(
                    update(callback_tasks)
                    .where(callback_tasks.c.task_id == task_id)
                    .values(
                        missed_count=callback_tasks.c.missed_count + 1,
                        last_missed_at=max(row.last_missed_at, task.last_missed_at),
                    )
                )
            await conn.execute(
                update(inbound_calls).where(inbound_calls.c.call_id == call.call_id).values(task_id=task_id)
            )
            stored = (
                await conn.execute(select(callback_tasks).where(callback_tasks.c.task_id == task_id))
            ).one()
        return MissTaken(task_from_row(stored), opened=row is None)

    async def declines_sms(self, clinic_id: str, phone: str) -> bool:
        async with self.engine.connect() as conn:
            declined = await conn.execute(
                select(patients.c.patient_id)
                .where(
                    patients.c.clinic_id == clinic_id,
                    patients.c.phone == phone,
                    patients.c.consent_sms.is_(False),
                )
                .limit(1)
            )
            return declined.first() is not None

    async def task(self, task_id: int) -> CallbackTask | None:
        return await self._task_where(callback_tasks.c.task_id == task_id)

    async def task_for_target(self, target_id: int) -> CallbackTask | None:
        return await self._task_where(callback_tasks.c.target_id == target_id)

    async def first_attempt(self, task_id: int, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(callback_tasks)
                .where(callback_tasks.c.task_id == task_id, callback_tasks.c.first_attempt_at.is_(None))
                .values(first_attempt_at=at)
            )

    async def close(self, task_id: int, state: TaskState, reason: CloseReason, at: datetime) -> bool:
        values: dict[str, Any] = {"state": state.value, "close_reason": reason.value, "closed_at": at}
        if state is TaskState.CONTACTED:
            values["contacted_at"] = at
        async with self.engine.begin() as conn:
            closed = await conn.execute(
                update(callback_tasks)
                .where(callback_tasks.c.task_id == task_id, callback_tasks.c.state == TaskState.OPEN.value)
                .values(**values)
            )
            if not closed.rowcount:
                return False
            target_id = (
                await conn.execute(
                    select(callback_tasks.c.target_id).where(callback_tasks.c.task_id == task_id)
                )
            ).scalar()
            if target_id is not None:
                await finish_target(conn, target_id, reason, at)
        return True

    async def open_tasks(self, clinic_id: str | None = None) -> list[CallbackTask]:
        async with self.engine.connect() as conn:
            return await open_tasks(conn, clinic_id)


async def open_tasks(conn: AsyncConnection, clinic_id: str | None = None) -> list[CallbackTask]:
    """The open callback tasks, the nearest deadline first; of one clinic when named."""
    query = select(callback_tasks).where(callback_tasks.c.state == TaskState.OPEN.value)
    if clinic_id is not None:
        query = query.where(callback_tasks.c.clinic_id == clinic_id)
    return [task_from_row(r) for r in await conn.execute(query.order_by(callback_tasks.c.deadline_at))]
