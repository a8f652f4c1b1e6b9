"""The parts of a process that run on every node, and those only the leader runs.

Every node keeps its own AMI link, follows the calls in memory (the intake, the queues, the rung phones) and
serves the pages: pop-ups and the live board work whichever node a browser is on. Only the leader, the holder
of the dialing lease, dials, runs the due work and the day's jobs, and writes calls, missed calls and
attempts. A standby tries the lease every fifth of `[service] takeover`; when it gets it, it does what a
restart does (requeue the due work the old leader had claimed, reconcile the calls in the air with Asterisk,
recover missed calls from queue_log) and then what a leader does. A leader that loses the lease (taken by
another, or not renewed in time) steps back in the same process: it stops everything it ran as leader, forgets
the calls it followed (the next leader asks Asterisk about them), and stands by again, its pages, pop-ups and
AMI link up throughout. It may take the lease again later, at a new generation.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from dialer.app.parts import Runtime
from dialer.core.fencing import Fence, FencedOut, Tenure
from dialer.core.health import HealthView
from dialer.core.inbound import InboundFact
from dialer.engine.loops import forever
from dialer.engine.metrics import Readiness, ReadyState
from dialer.lease import LEASE, AlreadyDialing, hold_lease, renew_lease, tenure_of_new_lease, try_lease

log = logging.getLogger("dialer")

# A standby keeps the inbound calls that ended lately: after a takeover they are told again (the database
# counts each call once), so a call the dead leader did not write in its last seconds is not lost.
KEEP_INBOUND_SECONDS = 120.0


def leads(rt: Runtime) -> bool:
    """Whether this node dials now."""
    return rt.connection.leadership.leading


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


def stop_writing(rt: Runtime) -> None:
    """No attempt is written and no link hook starts from now on: the fence is one that is never current."""
    rt.storage.attempts.fence = Fence(LEASE, rt.worker.worker_id, 0)
    rt.connection.leadership.leading = False


async def keep_lease(rt: Runtime, fence: Fence, tenure: Tenure, *, step_back: bool) -> None:
    """Renew the lease until it is lost (AlreadyDialing), telling `tenure` each renewal. `step_back`: the
    node stops writing at that very moment, before the other leader's loops are even cancelled."""
    try:
        await renew_lease(rt.storage.leases, fence, rt.clock, takeover_seconds(rt), tenure)
    except AlreadyDialing:
        if step_back:
            stop_writing(rt)
        raise


async def run_leader(
    rt: Runtime, group: asyncio.TaskGroup, fence: Fence, *, taking_over: bool
) -> list[asyncio.Task[None]]:
    """Dialing, the due work, the writes of calls and missed calls, under `fence` from now on. `taking_over`:
    the link is already up, so what a link-up does for the leader (the calls reconciled) is done now, and a
    lost lease is stepped back from (a standby's takeover), not the end of the process."""
    rt.storage.attempts.fence = fence
    tenure = rt.desk.tenure = tenure_of_new_lease(rt.clock, takeover_seconds(rt))
    await rt.storage.due.requeue_running()
    tasks = [
        group.create_task(keep_lease(rt, fence, tenure, step_back=taking_over), name="lease"),
        group.create_task(rt.desk.run(), name="facts"),
        group.create_task(rt.events.run(), name="attempt-log"),
        group.create_task(rt.worker.run(), name="worker"),
        group.create_task(rt.reminders.run(), name="reminders"),
        group.create_task(rt.callbacks.run(), name="callbacks"),
        group.create_task(rt.progressive.run(), name="progressive"),
        group.create_task(rt.ivr.run(), name="post-visit"),
        group.create_task(rt.webhook.run(), name="webhook"),
        group.create_task(rt.inbound.run(), name="inbound"),
        group.create_task(rt.inbound.keep_trying_held(), name="inbound-held"),
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
    if taking_over:
        tasks.append(group.create_task(rt.connection.lead(), name="take-over-calls"))
    return tasks


async def lead_now(rt: Runtime, group: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
    """Take the lease or stop (AlreadyDialing), then lead: a process that only dials (`campaign run`). It
    stops when it loses the lease too: with no pages to serve, standing by would only hide a stopped run."""
    fence = await hold_lease(rt.storage.leases, rt.worker.worker_id, rt.clock.now(), takeover_seconds(rt))
    # Leading before the link starts: its first link-up reconciles the calls once. Run again as at a
    # takeover, the reconcile could meet a call the worker has just placed and whose channel is not up yet.
    rt.connection.leadership.leading = True
    return await run_leader(rt, group, fence, taking_over=False)


class Standby:
    """A node that serves the pages, waits for the dialing lease, leads while it holds it, and stands by
    again when it loses it."""

    def __init__(
        self,
        rt: Runtime,
        group: asyncio.TaskGroup,
        also_lead: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        """`also_lead`: more loops the leader runs (the service's day jobs). `group` is the process's: the
        leader's loops run in a group of their own inside this node's task, so a lost lease ends only them."""
        self.rt = rt
        self.group = group
        self.also_lead = also_lead
        self.leader_tasks: list[asyncio.Task[None]] = []
        self.generations: list[int] = []  # the lease generations this node has led under, in order
        self._recent: deque[tuple[float, InboundFact]] = deque()

    async def run(self) -> None:
        """Stand by until the lease is ours, lead until it is lost, step back; for ever."""
        while True:
            fence = await self._stand_by()
            lost = await self._lead(fence)
            await self._step_back(lost)

    async def _stand_by(self) -> Fence:
        """Until this node may lead: drop the attempts' facts (the takeover asks Asterisk about the calls
        instead), keep the inbound ones lately told, and try the lease."""
        rt = self.rt
        stop_writing(rt)
        async with asyncio.TaskGroup() as waiting:
            drains = [
                waiting.create_task(forever("standby-facts", self._drop_fact, rt.clock)),
                waiting.create_task(forever("standby-inbound", self._keep_inbound, rt.clock)),
            ]
            fence = await self._wait_for_lease(takeover_seconds(rt))
            for task in drains:
                task.cancel()
        return fence

    async def _lead(self, fence: Fence) -> str:
        """Lead under `fence` until the lease is lost; why it was lost. Any other stop ends the process."""
        log.info("taking over dialing (lease generation %d)", fence.generation)
        self.generations.append(fence.generation)
        self.rt.storage.attempts.fence = fence
        why = "the leader's loops ended"
        try:
            async with asyncio.TaskGroup() as leading:
                await self._tell_again()
                tasks = await run_leader(self.rt, leading, fence, taking_over=True)
                tasks += [leading.create_task(loop()) for loop in self.also_lead]
                self.leader_tasks = tasks
        except* (AlreadyDialing, FencedOut) as lost:
            stop_writing(self.rt)
            why = first_reason(lost)
        return why

    async def _step_back(self, why: str) -> None:
        """Back to standby: forget the calls (and, with several Asterisks, each one's reconciled gate), so a
        later takeover starts clean and reconciles them with Asterisk first."""
        rt = self.rt
        self.leader_tasks = []
        stop_writing(rt)
        link = rt.connection
        if not await link.leadership.stand_down(takeover_seconds(rt)):
            # A link-up step the leader started (a reconcile, the recovery from queue_log) is still waiting on
            # the database or Asterisk: it could write, or refill the calls forgotten here, after the step
            # back. Only the end of the process stops it for sure, so the process ends, as before.
            raise AlreadyDialing(f"{why}; a link-up step did not finish, so stopping instead of standing by")
        rt.desk.drop_all()
        gates = rt.health.gates
        if gates is not None:
            for gate in gates.reconciled.values():
                gate.clear()
            gates.changed()
        log.warning("lost the dialing lease; standing by (%s)", why)

    async def _wait_for_lease(self, ttl: float) -> Fence:
        rt, said, away = self.rt, False, False
        while True:
            try:
                taken = await try_lease(rt.storage.leases, rt.worker.worker_id, rt.clock.now(), ttl)
            except Exception as err:  # the database away for a while: try again at the next turn
                if not away:  # once per outage: a node cut off for an hour would log every few seconds
                    log.warning(
                        "standby: cannot ask for the dialing lease (%s); trying on", type(err).__name__
                    )
                away, taken = True, ""
            else:
                if away:
                    log.info("standby: the database answers again")
                away = False
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
                self.rt.inbound.hold(fact)  # a finished call is stored later, as the desk's own are


def first_reason(lost: BaseExceptionGroup[AlreadyDialing | FencedOut]) -> str:
    """The text of the first lease error in the group (nested groups too): it names no patient."""
    error: BaseException = lost
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return str(error)
