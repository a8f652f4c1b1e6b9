"""Every part of one dialing process and how they are built on top of the call desk."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from dialer.campaigns.kinds import ADMINISTRATOR_TAKES, POST_VISIT, CampaignKind
from dialer.core.clock import Clock
from dialer.core.ports import PbxLink
from dialer.core.records import TaskKind
from dialer.engine.alerts import AlertWatch
from dialer.engine.board import Board
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.calls import CallDesk
from dialer.engine.daylists import DayLists
from dialer.engine.dispatch import AdminDispatcher
from dialer.engine.eventlog import EventLog
from dialer.engine.inbound import InboundDesk
from dialer.engine.intake import Intake
from dialer.engine.ivr import IvrFlow
from dialer.engine.kos import KosSource
from dialer.engine.popups import Popups
from dialer.engine.progressive import ProgressiveFlow
from dialer.engine.recovery import LinkRecovery
from dialer.engine.reminders import ReminderFlow
from dialer.engine.sms import SmsSender
from dialer.engine.worker import DueWorker
from dialer.engine.worklists import DiarySource, OfferSource
from dialer.settings import Settings
from dialer.storage.repository import Storage
from dialer.web.live import LiveHub, OpenPages
from dialer.webhook import WebhookSender

CAMPAIGNS = frozenset(CampaignKind)


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """Every part of one dialing process, as `open_runtime` wired them."""

    settings: Settings
    storage: Storage
    clock: Clock
    intake: Intake
    connection: PbxLink
    desk: CallDesk
    events: EventLog
    sms: SmsSender
    reminders: ReminderFlow
    callbacks: CallbackFlow
    inbound: InboundDesk
    dispatcher: AdminDispatcher
    alerts: AlertWatch
    popups: Popups
    live: LiveHub
    worker: DueWorker
    holder: str
    progressive: ProgressiveFlow
    ivr: IvrFlow
    webhook: WebhookSender
    recovery: LinkRecovery
    day_lists: DayLists

    async def health(self) -> dict[str, object]:
        return {
            "ami": "connected" if self.connection.connected else "disconnected",
            "reconciled": self.desk.reconciled.is_set(),
            "calls_in_flight": self.desk.in_flight,
            "inbound_calls_open": self.intake.inbound.live_calls if self.intake.inbound is not None else 0,
            "due_tasks": await self.storage.due.pending_count(),
        }


def build_parts(
    settings: Settings,
    storage: Storage,
    clock: Clock,
    connection: PbxLink,
    desk: CallDesk,
    events: EventLog,
    sms: SmsSender,
) -> Runtime:
    """The campaigns, the inbound desk and what the pages show, on top of the call desk."""
    intake = desk.intake
    worker = _worker(storage, desk, clock)
    dispatcher = AdminDispatcher(intake.queues, clock, intake.queues_changed)
    progressive, ivr = _worklists(settings, storage, desk, dispatcher, sms, clock, worker)
    reminders, callbacks = _reminders_and_callbacks(
        settings, storage, desk, dispatcher, sms, clock, worker, progressive
    )
    _register(worker, desk, reminders, callbacks, progressive, ivr)
    intake.queue_watchers.append(progressive.changed)
    inbound = InboundDesk(
        settings=settings, intake=intake, store=storage.inbound, callbacks=callbacks, clock=clock
    )
    pages = OpenPages()
    popups = _popups(settings, storage, clock, pages)
    intake.ring_listeners.append(popups.feed)
    return Runtime(
        settings=settings,
        storage=storage,
        clock=clock,
        intake=intake,
        connection=connection,
        desk=desk,
        events=events,
        sms=sms,
        reminders=reminders,
        callbacks=callbacks,
        inbound=inbound,
        dispatcher=dispatcher,
        alerts=_alerts(settings, storage, intake, callbacks, sms, clock),
        popups=popups,
        live=LiveHub(settings, popups, _board(settings, storage, intake, clock), storage.users, pages),
        worker=worker,
        holder=worker.worker_id,
        progressive=progressive,
        ivr=ivr,
        webhook=WebhookSender(settings.webhook, storage.outbox, clock),
        recovery=LinkRecovery(
            link=connection,
            desk=desk,
            intake=intake,
            store=storage.inbound,
            inbound=inbound,
            clock=clock,
            queue_log=settings.inbound.queue_log,
            clinic_ids=settings.clinics,
        ),
        day_lists=_day_lists(settings, storage, reminders, progressive, ivr, worker, clock),
    )


def _worker(storage: Storage, desk: CallDesk, clock: Clock) -> DueWorker:
    """Runs due tasks as they fall due, this process named so that a task it holds is not taken twice."""
    return DueWorker(
        due=storage.due,
        clock=clock,
        worker_id=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        ready=desk.reconciled,
        max_outstanding=2 * sum(p.max_channels for p in desk.pacers.values()) + 16,
    )


def _day_lists(
    settings: Settings,
    storage: Storage,
    reminders: ReminderFlow,
    progressive: ProgressiveFlow,
    ivr: IvrFlow,
    worker: DueWorker,
    clock: Clock,
) -> DayLists:
    return DayLists(
        settings=settings,
        appointments=storage.appointments,
        plan_reminders=reminders.prepare_day,
        plan_worklists=progressive.prepare_day,
        plan_post_visit=ivr.prepare_day,
        wake=worker.wake,
        clock=clock,
    )


def _reminders_and_callbacks(
    settings: Settings,
    storage: Storage,
    desk: CallDesk,
    dispatcher: AdminDispatcher,
    sms: SmsSender,
    clock: Clock,
    worker: DueWorker,
    progressive: ProgressiveFlow,
) -> tuple[ReminderFlow, CallbackFlow]:
    """The robot's reminder calls, and the calls back to patients whose call was missed."""
    reminders = ReminderFlow(
        settings=settings,
        reminders=storage.reminders,
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        sms=sms,
        clock=clock,
        wake=worker.wake,
        on_cancelled=progressive.slot_freed,  # a cancelled visit's time goes to the waiting list
    )
    callbacks = CallbackFlow(
        settings=settings,
        tasks=storage.callbacks,
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        dispatcher=dispatcher,
        sms=sms,
        clock=clock,
        wake=worker.wake,
    )
    return reminders, callbacks


def _board(settings: Settings, storage: Storage, intake: Intake, clock: Clock) -> Board:
    return Board(
        settings=settings,
        queues=intake.queues,
        sla=storage.sla,
        tasks=storage.callbacks,
        reminders=storage.reminders,
        alerts=storage.alerts,
        users=storage.users,
        clock=clock,
    )


def _worklists(
    settings: Settings,
    storage: Storage,
    desk: CallDesk,
    dispatcher: AdminDispatcher,
    sms: SmsSender,
    clock: Clock,
    worker: DueWorker,
) -> tuple[ProgressiveFlow, IvrFlow]:
    """The administrators' call lists (КОС, the diary, waiting-list offers) and the post-visit IVRs."""
    progressive = ProgressiveFlow(
        settings=settings,
        sources=[
            KosSource(settings=settings, recalls=storage.recalls, clock=clock),
            DiarySource(settings=settings, store=storage.worklists, clock=clock),
        ],
        offers=OfferSource(settings=settings, store=storage.worklists, sms=sms, clock=clock),
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        dispatcher=dispatcher,
        clock=clock,
        wake=worker.wake,
    )
    ivr = IvrFlow(
        settings=settings,
        store=storage.worklists,
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        alerts=storage.alerts,
        sms=sms,
        clock=clock,
        wake=worker.wake,
    )
    return progressive, ivr


def _register(
    worker: DueWorker,
    desk: CallDesk,
    reminders: ReminderFlow,
    callbacks: CallbackFlow,
    progressive: ProgressiveFlow,
    ivr: IvrFlow,
) -> None:
    """Which flow runs which due task, and which follows which campaigns' calls."""
    worker.register(TaskKind.DIAL, CampaignKind.REMINDERS, reminders.run_dial)
    worker.register(TaskKind.SMS, CampaignKind.REMINDERS, reminders.run_sms)
    worker.register(TaskKind.DIAL, CampaignKind.CALLBACK, callbacks.run_dial)
    worker.register(TaskKind.SMS, CampaignKind.CALLBACK, callbacks.run_sms)
    for campaign in ADMINISTRATOR_TAKES:
        worker.register(TaskKind.DIAL, campaign, progressive.run_dial)
    for campaign in POST_VISIT:
        worker.register(TaskKind.DIAL, campaign, ivr.run_dial)
    for flow in (reminders, callbacks, progressive, ivr):
        desk.register(flow, flow.campaigns)


def _alerts(
    settings: Settings,
    storage: Storage,
    intake: Intake,
    callbacks: CallbackFlow,
    sms: SmsSender,
    clock: Clock,
) -> AlertWatch:
    return AlertWatch(
        settings=settings,
        queues=intake.queues,
        tasks=storage.callbacks,
        callbacks=callbacks,
        recent=storage.sla,
        store=storage.alerts,
        sms=sms,
        clock=clock,
    )


def _popups(settings: Settings, storage: Storage, clock: Clock, pages: OpenPages) -> Popups:
    return Popups(
        settings=settings,
        cards=storage.cards,
        users=storage.users,
        attempts=storage.attempts,
        wrapups=storage.wrapups,
        clock=clock,
        push=pages.to_user,
    )
