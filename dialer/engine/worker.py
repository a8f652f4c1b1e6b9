"""The due-task worker: picks rows whose due_at has come and runs them, each under the worker's TaskGroup."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from dialer.core.clock import Clock
from dialer.core.pbx_links import PbxAway
from dialer.core.privacy import describe_error
from dialer.core.records import DueTask, TaskKind, WorkShare
from dialer.core.retry import RetryBackoff
from dialer.core.stores import DueStore
from dialer.engine.loops import forever
from dialer.engine.pacer import TrunkPacer

log = logging.getLogger("dialer.worker")

TaskRunner = Callable[[DueTask], Awaitable[None]]
# Which due tasks a flow runs: (kind, campaign, the flow's runner for them).
DueRunners = tuple[tuple[TaskKind, str, TaskRunner], ...]

IDLE_POLL_SECONDS = 5.0
PBX_AWAY_RETRY = timedelta(seconds=3)  # how soon a task of a clinic whose Asterisk is away is looked at again
# A task that raised: tried again soon, then less and less often, at least every five minutes.
FAILED_TASK_BACKOFF = RetryBackoff(first=timedelta(seconds=5), longest=timedelta(minutes=5), max_doublings=6)


def this_process() -> str:
    """The worker's name as the holder of its due tasks and of the dialing lease: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def outstanding_for(pacers: Iterable[TrunkPacer]) -> int:
    """How many due tasks of one share run at once: twice the channels of all the trunks, and 16 more."""
    return 2 * sum(p.max_channels for p in pacers) + 16


class DueWorker:
    def __init__(
        self,
        *,
        due: DueStore,
        clock: Clock,
        ready: asyncio.Event,
        worker_id: str | None = None,
        max_outstanding: int = 64,
        clinic_ready: Callable[[str], bool] | None = None,
    ) -> None:
        """`max_outstanding` is the room of each share (one flow's dial or SMS tasks), so that callbacks waiting
        for an administrator never keep a reminder window from its calls. `ready` holds the whole worker;
        `clinic_ready`, with several Asterisks, holds one clinic's tasks while its own Asterisk is down or not yet
        reconciled (engine/pbx_gates.py)."""
        self.due = due
        self.clock = clock
        self.worker_id = worker_id or this_process()
        self.ready = ready
        self.clinic_ready = clinic_ready
        self.max_outstanding = max_outstanding
        self.runners: dict[WorkShare, TaskRunner] = {}
        self._wake = asyncio.Event()
        self._outstanding: Counter[WorkShare] = Counter()
        self.failures = 0

    def register(self, kind: TaskKind, campaign: str, runner: TaskRunner) -> None:
        self.runners[(kind, campaign)] = runner

    def register_all(self, runners: DueRunners) -> None:
        for kind, campaign, runner in runners:
            self.register(kind, campaign, runner)

    def wake(self) -> None:
        self._wake.set()

    def _rooms(self) -> dict[WorkShare, int]:
        rooms = {share: self.max_outstanding - self._outstanding[share] for share in self.runners}
        return {share: room for share, room in rooms.items() if room > 0}

    async def run(self) -> None:
        told = False
        async with asyncio.TaskGroup() as group:

            async def turn() -> None:
                nonlocal told
                await self.ready.wait()
                if not told:
                    await self._tell_unrun()
                    told = True
                rooms = self._rooms()
                tasks = await self.due.claim_due(self.clock.now(), rooms, self.worker_id) if rooms else []
                for task in tasks:
                    self._outstanding[task.share] += 1
                    group.create_task(self._execute(task), name=task.task_id)
                await self._sleep()

            await forever("worker", turn, self.clock)

    async def _tell_unrun(self) -> None:
        """Say once which waiting tasks no flow of this service runs (a campaign kind since removed, a flow turned
        off): they stay pending, untouched, and would otherwise wait without a word."""
        run = {(kind.value, campaign) for kind, campaign in self.runners}
        for (kind, campaign), waiting in sorted((await self.due.pending_by_share()).items()):
            if (kind, campaign) not in run:
                log.warning(
                    "%d %s tasks of campaign %s wait, but this service runs no flow for them; they stay pending",
                    waiting,
                    kind,
                    campaign,
                )

    async def _sleep(self) -> None:
        # A share without room waits for one of its tasks to end (which wakes us), not for its due rows.
        next_at = await self.due.next_due_at(self._rooms().keys())
        delay = IDLE_POLL_SECONDS
        if next_at is not None:
            delay = min(delay, max(0.0, (next_at - self.clock.now()).total_seconds()))
        # A row due now that another run holds must not spin us.
        await self.clock.wait_for(self._wake, max(delay, 0.02))
        self._wake.clear()

    async def _execute(self, task: DueTask) -> None:
        try:
            if self.clinic_ready is not None and not self.clinic_ready(task.clinic_id):
                # Its Asterisk is away: the task waits, neither run through a dead link nor counted failed.
                await self.due.retry_later(task.task_id, self.clock.now() + PBX_AWAY_RETRY)
                return
            await self.runners[task.share](task)
        except PbxAway:
            await self._retry_later(task, PBX_AWAY_RETRY)  # it went away while the task waited for a channel
        except Exception as exc:
            self.failures += 1
            delay = FAILED_TASK_BACKOFF.after(task.tries)
            log.error(
                "task %s failed (%s); retry in %.0f s",
                task.task_id,
                describe_error(exc),
                delay.total_seconds(),
            )
            await self._retry_later(task, delay)
        finally:
            self._outstanding[task.share] -= 1
            self._wake.set()

    async def _retry_later(self, task: DueTask, delay: timedelta) -> None:
        try:
            await self.due.retry_later(task.task_id, self.clock.now() + delay)
        except Exception as exc:
            # Not a reason to stop the other tasks: the row stays claimed and is requeued at the next start.
            log.error("task %s could not be put back for a retry: %s", task.task_id, describe_error(exc))
