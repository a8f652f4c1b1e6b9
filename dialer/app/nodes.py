"""The parts of a process that run on every node, and those only the leader runs.

Every node keeps its own AMI link, follows the calls in memory (the intake, the queues, the rung phones) and
serves the pages: pop-ups and the live board work whichever node a browser is on. Only the leader, the holder
of the dialing lease, dials, runs the due work and the day's jobs, and writes calls, missed calls and
attempts. A standby tries the lease every fifth of `[service] takeover`; when it gets it, it does what a
restart does (requeue the due work the old leader had claimed, reconcile the calls in the air with Asterisk,
recover missed calls from queue_log) and then what a leader does. A leader that loses the lease stops the
process (ServiceStop, exit non-zero): it never dials again, and its service manager starts it anew, as a
standby.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from dialer.app.leadership import GatedLink
from dialer.app.parts import Runtime
from dialer.core.fencing import Fence
from dialer.core.health import HealthView
from dialer.core.inbound import InboundFact
from dialer.engine.loops import forever
from dialer.engine.metrics import Readiness, ReadyState
from dialer.lease import LEASE, hold_lease, renew_lease, try_lease

log = logging.getLogger("dialer")

# A standby keeps the inbound calls that ended lately: after a takeover they are told again (the database
# counts each call once), so a call the dead leader did not write in its last seconds is not lost.
KEEP_INBOUND_SECONDS = 120.0


def leads(rt: Runtime) -> bool:
    """Whether this node dials now (a process built without `open_runtime`'s gate always does)."""
    return not isinstance(rt.connection, GatedLink) or rt.connection.leadership.leading


@dataclass(frozen=True)
class NodeReadiness:
    """Ready for the pages' traffic: a standby has no calls to reconcile, so it is ready with the database
    and its link up."""

    rt: Runtime
    leader: Readiness

    async def __call__(self) -> ReadyState:
        state = await self.leader()
        return state if leads(self.rt) else state.without_calls()


@dataclass(frozen=True)
class NodeHealth:
    """The monitoring's view of the process, and whether it leads."""

    rt: Runtime
    health: Callable[[], Awaitable[HealthView]]

    async def __call__(self) -> HealthView:
        view = await self.health()
        view["leader"] = leads(self.rt)
        return view


def takeover_seconds(rt: Runtime) -> float:
    return rt.settings.service.takeover.total_seconds()


def run_every_node(rt: Runtime, group: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
    """The link, the trackers' expiry, the pop-ups and the live board."""
    return [
        group.create_task(rt.connection.run(), name="ami"),
        group.create_task(rt.intake.expire_forever(rt.clock), name="tracker-expiry"),
        group.create_task(rt.popups.run(), name="popups"),
        group.create_task(rt.live.boards(), name="boards"),
    ]


async def run_leader(
    rt: Runtime, group: asyncio.TaskGroup, fence: Fence, *, taking_over: bool
) -> list[asyncio.Task[None]]:
    """Dialing, the due work, the writes of calls and missed calls, under `fence` from now on. `taking_over`:
    the link is already up, so what a link-up does for the leader (the calls reconciled) is done now."""
    rt.storage.attempts.fence = fence
    await rt.storage.due.requeue_running()
    ttl = takeover_seconds(rt)
    tasks = [
        group.create_task(renew_lease(rt.storage.leases, fence, rt.clock, ttl), name="lease"),
        group.create_task(rt.desk.run(), name="facts"),
        group.create_task(rt.events.run(), name="attempt-log"),
        group.create_task(rt.worker.run(), name="worker"),
        group.create_task(rt.reminders.run(), name="reminders"),
        group.create_task(rt.callbacks.run(), name="callbacks"),
        group.create_task(rt.progressive.run(), name="progressive"),
        group.create_task(rt.ivr.run(), name="post-visit"),
        group.create_task(rt.webhook.run(), name="webhook"),
        group.create_task(rt.inbound.run(), name="inbound"),
        group.create_task(rt.dispatcher.run(), name="dispatcher"),
        group.create_task(rt.recovery.keep_seen_mark(), name="seen-mark"),
        group.create_task(rt.alerts.run(), name="alerts"),
        group.create_task(rt.recordings.run(), name="recordings"),
    ]
    if rt.jump is not None:
        tasks.append(group.create_task(rt.jump.run(), name="queue-jump"))
    if rt.sms.gateway is not None:
        interval, by_callback = rt.settings.sms.status_poll_interval, bool(rt.settings.service.public_url)
        tasks.append(
            group.create_task(
                rt.sms.poll_forever(interval, reports_by_callback=by_callback), name="sms-status"
            )
        )
    if taking_over and isinstance(rt.connection, GatedLink):
        tasks.append(group.create_task(rt.connection.lead(), name="take-over-calls"))
    return tasks


async def lead_now(rt: Runtime, group: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
    """Take the lease or stop (AlreadyDialing), then lead: a process that only dials (`campaign run`)."""
    fence = await hold_lease(rt.storage.leases, rt.worker.worker_id, rt.clock.now(), takeover_seconds(rt))
    if isinstance(rt.connection, GatedLink):
        # Leading before the link starts: its first link-up reconciles the calls once. Run again as at a
        # takeover, the reconcile could meet a call the worker has just placed and whose channel is not up yet.
        rt.connection.leadership.leading = True
    return await run_leader(rt, group, fence, taking_over=False)


class Standby:
    """A node that serves the pages and waits for the dialing lease."""

    def __init__(
        self,
        rt: Runtime,
        group: asyncio.TaskGroup,
        also_lead: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        """`also_lead`: more loops the leader runs (the service's day jobs)."""
        self.rt = rt
        self.group = group
        self.also_lead = also_lead
        self.leader_tasks: list[asyncio.Task[None]] = []
        self._recent: deque[tuple[float, InboundFact]] = deque()

    async def run(self) -> None:
        """Until this node leads: drop the attempts' facts (the takeover asks Asterisk about the calls
        instead), keep the inbound ones lately told, and try the lease. Then lead."""
        rt = self.rt
        ttl = takeover_seconds(rt)
        rt.storage.attempts.fence = Fence(LEASE, rt.worker.worker_id, 0)  # never current: no attempt written
        async with asyncio.TaskGroup() as waiting:
            drains = [
                waiting.create_task(forever("standby-facts", self._drop_fact, rt.clock)),
                waiting.create_task(forever("standby-inbound", self._keep_inbound, rt.clock)),
            ]
            fence = await self._wait_for_lease(ttl)
            for task in drains:
                task.cancel()
        log.info("taking over dialing (lease generation %d)", fence.generation)
        rt.storage.attempts.fence = fence
        await self._tell_again()
        tasks = await run_leader(rt, self.group, fence, taking_over=True)
        tasks += [self.group.create_task(loop()) for loop in self.also_lead]
        self.leader_tasks = tasks

    async def _wait_for_lease(self, ttl: float) -> Fence:
        rt, said = self.rt, False
        while True:
            try:
                taken = await try_lease(rt.storage.leases, rt.worker.worker_id, rt.clock.now(), ttl)
            except Exception as err:  # the database away for a moment: try again at the next turn
                log.warning("standby: cannot ask for the dialing lease (%s)", type(err).__name__)
                taken = ""
            if isinstance(taken, Fence):
                return taken
            if not said and taken:
                log.info("standby: %s dials; serving the pages and waiting to take over", taken)
                said = True
            await rt.clock.sleep(ttl / 5)

    async def _drop_fact(self) -> None:
        await self.rt.intake.facts.get()

    async def _keep_inbound(self) -> None:
        fact = await self.rt.intake.inbound_facts.get()
        now = self.rt.clock.monotonic()
        self._recent.append((now, fact))
        while self._recent and now - self._recent[0][0] > KEEP_INBOUND_SECONDS:
            self._recent.popleft()

    async def _tell_again(self) -> None:
        """The kept inbound facts, and those that came meanwhile, in their order, before anything else: the
        recovery from queue_log that follows then knows these calls by their queue channel and adds none twice.
        """
        queue = self.rt.intake.inbound_facts
        facts = [fact for _, fact in self._recent] + [queue.get_nowait() for _ in range(queue.qsize())]
        self._recent.clear()
        for fact in facts:
            try:
                await self.rt.inbound.handle(fact)
            except Exception as err:  # one bad fact never stops the takeover; its text may carry a number
                log.warning("taking over: an inbound call's fact failed (%s)", type(err).__name__)
