"""The due-task table: work kept as absolute due_at, claimed atomically."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import DueState, DueTask, TaskKind, WorkShare
from dialer.storage.schema import due_tasks
from dialer.storage.upsert import insert_ignore


class SqlDueStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def schedule(self, task: DueTask) -> None:
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                insert_ignore(conn, due_tasks, ["task_id"]).values(
                    task_id=task.task_id,
                    clinic_id=task.clinic_id,
                    kind=task.kind.value,
                    campaign=task.campaign,
                    target_id=task.target_id,
                    due_at=task.due_at,
                    state=DueState.PENDING.value,
                    tries=task.tries,
                    updated_at=task.due_at,
                )
            )
            if inserted.rowcount == 0:
                # A task set aside (cancelled because its moment had not come) is planned again under its id;
                # one that ran to the end stays done.
                await conn.execute(
                    update(due_tasks)
                    .where(
                        due_tasks.c.task_id == task.task_id,
                        due_tasks.c.state.in_((DueState.PENDING.value, DueState.CANCELLED.value)),
                    )
                    .values(due_at=task.due_at, state=DueState.PENDING.value)
                )

    async def claim_due(self, now: datetime, rooms: Mapping[WorkShare, int], worker: str) -> list[DueTask]:
        picks = [
            self._due_of(share, now).order_by(due_tasks.c.due_at).limit(room)
            for share, room in rooms.items()
            if room > 0
        ]
        if not picks:
            return []
        # Each share's pick is limited on its own: one share's backlog must not take another's room.
        ids = picks[0] if len(picks) == 1 else union_all(*(select(p.subquery().c.task_id) for p in picks))
        async with self.engine.begin() as conn:
            rows = await conn.execute(
                update(due_tasks)
                .where(due_tasks.c.task_id.in_(ids), due_tasks.c.state == DueState.PENDING.value)
                .values(state=DueState.RUNNING.value, claimed_by=worker, updated_at=now)
                .returning(due_tasks)
            )
            claimed = [
                DueTask(r.task_id, r.clinic_id, TaskKind(r.kind), r.campaign, r.target_id, r.due_at, r.tries)
                for r in rows
            ]
        return sorted(claimed, key=lambda t: (t.due_at, t.task_id))

    @staticmethod
    def _due_of(share: WorkShare, now: datetime) -> Select[tuple[str]]:
        kind, campaign = share
        return select(due_tasks.c.task_id).where(
            due_tasks.c.state == DueState.PENDING.value,
            due_tasks.c.due_at <= now,
            due_tasks.c.kind == kind.value,
            due_tasks.c.campaign == campaign,
        )

    async def next_due_at(self, shares: Collection[WorkShare]) -> datetime | None:
        if not shares:
            return None
        of_shares = or_(*(and_(due_tasks.c.kind == k.value, due_tasks.c.campaign == c) for k, c in shares))
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                select(func.min(due_tasks.c.due_at)).where(
                    due_tasks.c.state == DueState.PENDING.value, of_shares
                )
            )
        return value  # type: ignore[no-any-return]

    async def finish(self, task_id: str, *, cancelled: bool = False) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(due_tasks)
                .where(due_tasks.c.task_id == task_id)
                .values(state=DueState.CANCELLED.value if cancelled else DueState.DONE.value)
            )

    async def retry_later(self, task_id: str, due_at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(due_tasks)
                .where(due_tasks.c.task_id == task_id)
                .values(
                    state=DueState.PENDING.value, due_at=due_at, tries=due_tasks.c.tries + 1, claimed_by=None
                )
            )

    async def requeue_running(self) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(due_tasks)
                .where(due_tasks.c.state == DueState.RUNNING.value)
                .values(state=DueState.PENDING.value, claimed_by=None)
            )
        return int(result.rowcount or 0)

    async def pending_count(self, kind: str | None = None) -> int:
        query = (
            select(func.count())
            .select_from(due_tasks)
            .where(due_tasks.c.state.in_((DueState.PENDING.value, DueState.RUNNING.value)))
        )
        if kind is not None:
            query = query.where(due_tasks.c.kind == kind)
        async with self.engine.connect() as conn:
            return int(await conn.scalar(query) or 0)

    async def pending_by_share(self) -> dict[tuple[str, str], int]:
        query = (
            select(due_tasks.c.kind, due_tasks.c.campaign, func.count())
            .where(due_tasks.c.state == DueState.PENDING.value)
            .group_by(due_tasks.c.kind, due_tasks.c.campaign)
        )
        async with self.engine.connect() as conn:
            return {(kind, campaign): int(n) for kind, campaign, n in await conn.execute(query)}
