"""The reminder flow's batch reads and writes over stores that have no batch method of their own: each read and
each write through the store it belongs to, one after another. The SQL stores write a batch in one transaction
instead (dialer/storage/followups.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from dialer.core.followups import (
    FinishTarget,
    FollowUpWrite,
    FreeSlot,
    OpenAdminTask,
    ScheduleDue,
    SetVisitStatus,
    TargetView,
)
from dialer.core.stores import AttemptStore, DueStore, ReminderStore


class OneByOne:
    def __init__(self, reminders: ReminderStore, attempts: AttemptStore, due: DueStore) -> None:
        self.reminders = reminders
        self.attempts = attempts
        self.due = due

    async def follow_up_view(self, target_ids: Collection[int]) -> Mapping[int, TargetView]:
        views: dict[int, TargetView] = {}
        for target_id in target_ids:
            target = await self.reminders.target(target_id)
            if target is not None:
                views[target_id] = TargetView(target, await self.attempts.history(target_id))
        return views

    async def write_follow_ups(self, writes: Sequence[FollowUpWrite]) -> None:
        for write in writes:
            if isinstance(write, SetVisitStatus):
                await self.reminders.set_status(write.target_id, write.status, write.digit, write.at)
            elif isinstance(write, OpenAdminTask):
                await self.reminders.open_admin_task(
                    write.target_id, write.kind, write.source, write.comment, write.at
                )
            elif isinstance(write, ScheduleDue):
                await self.due.schedule(write.task)
            elif isinstance(write, FinishTarget):
                if write.digit is not None:
                    await self.reminders.set_status(write.target_id, None, write.digit, write.at)
                await self.reminders.finish(write.target_id, write.status, write.reason, write.at)
            elif isinstance(write, FreeSlot):
                pass  # these stores keep no freed slots: the flow offers them from memory only
