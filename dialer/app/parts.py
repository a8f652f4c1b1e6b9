"""Every part of one dialing process, each built by keyword with what it needs: wiring, no decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dialer.ami.factory import build_ami
from dialer.campaigns.kinds import ADMINISTRATOR_TAKES, POST_VISIT, CampaignKind
from dialer.core.clock import Clock
from dialer.core.inbound_tracker import InboundTracker
from dialer.core.ownership import OurAttempts
from dialer.core.ports import PbxLink, Telephony
from dialer.core.records import TaskKind
from dialer.core.ringing import RingTracker
from dialer.core.tracker import CallTracker
from dialer.engine.alerts import AlertWatch
from dialer.engine.board import Board
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.calls import CallDesk
from dialer.engine.daily import DayJobs, retention_purge
from dialer.engine.daylists import DayLists
from dialer.engine.dispatch import AdminDispatcher
from dialer.engine.eventlog import EventLog
from dialer.engine.health import Health
from dialer.engine.inbound import InboundDesk
from dialer.engine.intake import Intake
from dialer.engine.ivr import IvrFlow
from dialer.engine.kos import KosSource
from dialer.engine.pacer import TrunkPacer
from dialer.engine.popups import Popups
from dialer.engine.progressive import ProgressiveFlow
from dialer.engine.recovery import LinkRecovery
from dialer.engine.reminders import ReminderFlow
from dialer.engine.sms import SmsSender
from dialer.engine.worker import DueWorker, outstanding_for
from dialer.engine.worklists import DiarySource, OfferSource
from dialer.personal_data import daily_purge
from dialer.settings import Settings
from dialer.sms.factory import build_gateway, status_callback_url
from dialer.storage.repository import Storage
from dialer.web.live import LiveHub, OpenPages
from dialer.webhook import WebhookSender

CAMPAIGNS = frozenset(CampaignKind)

# The link to Asterisk and the telephony on it, given the intake its events and Asterisk's clock go to: the
# AMI adapter (`ami_pbx`), or a fake in the tests.
Pbx = Callable[[Intake], tuple[PbxLink, Telephony]]


def ami_pbx(settings: Settings, clock: Clock, record_to: Path | None = None) -> Pbx:
    return lambda intake: build_ami(
        settings.ami, sink=intake.feed, on_pbx_time=intake.pbx_time, clock=clock, record_to=record_to
    )


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """Every part of one dialing process, as `build_runtime` wired them."""

    settings: Settings
    storage: Storage
    clock: Clock
    intake: Intake
    connection: PbxLink
    desk: CallDesk
    events: EventLog
    sms: SmsSender
    worker: DueWorker
    reminders: ReminderFlow
    callbacks: CallbackFlow
    progressive: ProgressiveFlow
    ivr: IvrFlow
    dispatcher: AdminDispatcher
    inbound: InboundDesk
    recovery: LinkRecovery
    alerts: AlertWatch
    popups: Popups
    live: LiveHub
    webhook: WebhookSender
    day_lists: DayLists
    day_jobs: DayJobs
    health: Health


def build_runtime(settings: Settings, storage: Storage, clock: Clock, pbx: Pbx, installation: str) -> Runtime:
    ours = OurAttempts(installation, CAMPAIGNS)
    pages = OpenPages()
    popups = Popups(
        settings=settings,
        cards=storage.cards,
        users=storage.users,
        attempts=storage.attempts,
        wrapups=storage.wrapups,
        clock=clock,
        push=pages.to_user,
    )
    room_changed = asyncio.Event()  # the progressive flow's: the room to dial may have changed
    intake = Intake(
        CallTracker(is_attempt_id=ours.is_ours),
        clock.now,
        inbound=InboundTracker(
            settings.inbound.contexts, settings.inbound.staff_contexts, is_ours=ours.is_ours
        ),
        rings=RingTracker(settings.inbound.contexts, campaign_of=ours.campaign_of),
        queue_watchers=[room_changed],
        ring_listeners=[popups.feed],
    )
    connection, telephony = pbx(intake)
    events = EventLog(storage.attempts, clock)
    desk = CallDesk(
        telephony=telephony,
        attempts=storage.attempts,
        intake=intake,
        clock=clock,
        pacers={
            n: TrunkPacer(n, t.max_channels, t.calls_per_second, clock) for n, t in settings.trunks.items()
        },
        events=events,
        installation=ours.installation,
    )
    sms = SmsSender(
        gateway=build_gateway(settings.sms, settings.service.public_url),
        store=storage.sms,
        clock=clock,
        callback_url=lambda key: status_callback_url(settings.sms.provider, settings.service.public_url, key),
    )
    worker = DueWorker(
        due=storage.due,
        clock=clock,
        ready=desk.reconciled,
        max_outstanding=outstanding_for(desk.pacers.values()),
    )
    dispatcher = AdminDispatcher(intake.queues, clock, intake.queues_changed)
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
        changed=room_changed,
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
    _register(worker, desk, reminders, callbacks, progressive, ivr)
    inbound = InboundDesk(
        settings=settings, intake=intake, store=storage.inbound, callbacks=callbacks, clock=clock
    )
    recovery = LinkRecovery(
        link=connection,
        desk=desk,
        intake=intake,
        store=storage.inbound,
        inbound=inbound,
        clock=clock,
        queue_log=settings.inbound.queue_log,
        clinic_ids=settings.clinics,
    )
    connection.subscribe(on_up=recovery.link_up, on_down=recovery.link_down)  # the link is built before them
    day_lists = DayLists(
        settings=settings,
        appointments=storage.appointments,
        plan_reminders=reminders.prepare_day,
        plan_worklists=progressive.prepare_day,
        plan_post_visit=ivr.prepare_day,
        wake=worker.wake,
        clock=clock,
    )
    board = Board(
        settings=settings,
        queues=intake.queues,
        sla=storage.sla,
        tasks=storage.callbacks,
        reminders=storage.reminders,
        alerts=storage.alerts,
        users=storage.users,
        clock=clock,
    )
    return Runtime(
        settings=settings,
        storage=storage,
        clock=clock,
        intake=intake,
        connection=connection,
        desk=desk,
        events=events,
        sms=sms,
        worker=worker,
        reminders=reminders,
        callbacks=callbacks,
        progressive=progressive,
        ivr=ivr,
        dispatcher=dispatcher,
        inbound=inbound,
        recovery=recovery,
        alerts=AlertWatch(
            settings=settings,
            queues=intake.queues,
            tasks=storage.callbacks,
            callbacks=callbacks,
            recent=storage.sla,
            store=storage.alerts,
            sms=sms,
            clock=clock,
        ),
        popups=popups,
        live=LiveHub(settings, popups, board, storage.users, pages),
        webhook=WebhookSender(settings.webhook, storage.outbox, clock),
        day_lists=day_lists,
        day_jobs=DayJobs(
            lists=day_lists,
            daily=retention_purge(settings, lambda: daily_purge(storage, settings.retention, clock)),
            clock=clock,
        ),
        health=Health(link=connection, desk=desk, intake=intake, due=storage.due),
    )


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
