"""Every part of one dialing process, each built by keyword with what it needs: wiring, no decisions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from dialer.ami.connection import AmiConnection
from dialer.ami.dialplan import loaded_dialplan_version
from dialer.ami.queue_pause import AmiQueuePauses
from dialer.ami.several import SeveralTelephony
from dialer.ami.telephony import AmiTelephony
from dialer.app.leadership import GatedLink, Leadership
from dialer.campaigns.kinds import CampaignKind
from dialer.core.callback_priority import AheadLog
from dialer.core.clock import Clock
from dialer.core.pbx_links import links_by_name
from dialer.core.ports import PbxLink, Telephony
from dialer.core.queue_pauses import QueuePauses
from dialer.core.records import TaskKind
from dialer.engine.alerts import AlertWatch
from dialer.engine.board import Board
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.calls import CallDesk
from dialer.engine.complaint_sms import COMPLAINT_SMS, SupervisorSms
from dialer.engine.daily import DayJobs, retention_purge
from dialer.engine.daylists import DayLists
from dialer.engine.dialplan_watch import DialplanWatch
from dialer.engine.dispatch import AdminDispatcher
from dialer.engine.eventlog import EventLog
from dialer.engine.health import Health
from dialer.engine.inbound import InboundDesk
from dialer.engine.intake import Intake, installation_intake
from dialer.engine.ivr import IvrFlow
from dialer.engine.kos import KosSource
from dialer.engine.machines import MachineWatch
from dialer.engine.metrics import EventCount, pbx_name
from dialer.engine.pacer import trunk_pacers
from dialer.engine.pbx_gates import PbxGates
from dialer.engine.popups import Popups
from dialer.engine.progressive import ProgressiveFlow
from dialer.engine.queue_jump import QueueJump
from dialer.engine.recordings import PbxGlobals, RecordingCollector
from dialer.engine.recovery import LinkRecovery
from dialer.engine.reminders import ReminderFlow
from dialer.engine.runner import FlowBasics
from dialer.engine.sms import SmsSender
from dialer.engine.worker import DueWorker, outstanding_for
from dialer.engine.worklists import DiarySource, OfferSource
from dialer.personal_data import daily_purge
from dialer.sandbox.asterisk_conf import shipped_dialplan_version
from dialer.settings import Settings
from dialer.sms.factory import build_gateway, status_callback_url
from dialer.storage.held_calls import HELD_CALLS_FILE, HeldCallsFile
from dialer.storage.recordings import SqlRecordingStore
from dialer.storage.repository import Storage
from dialer.web.live import LiveHub, OpenPages
from dialer.webhook import WebhookSender

log = logging.getLogger("dialer.app")

# The link to Asterisk and its telephony, given the intake: the AMI adapter (process.py `ami_pbx`) or a fake.
Pbx = Callable[[Intake], tuple[PbxLink, Telephony]]


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """Every part of one dialing process, as `build_runtime` wired them."""

    settings: Settings
    storage: Storage
    clock: Clock
    intake: Intake
    connection: GatedLink  # its link-up hooks that write run only while this node leads
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
    day_jobs: DayJobs
    health: Health
    recordings: RecordingCollector
    ami_events: EventCount = field(default_factory=EventCount)  # counted by the link's sink (process.py)
    jump: QueueJump | None = None  # callbacks close to their deadline ahead of the queue
    dialplan: DialplanWatch | None = None  # whether each PBX runs this service's dialplan


def machine_watch(settings: Settings, clock: Clock, telephony: Telephony) -> MachineWatch | None:
    """The detector's watch over the campaigns that handle voicemails and assistants, if any does."""
    campaigns = [
        kind
        for kind, on in (
            (CampaignKind.REMINDERS, settings.reminders.machines),
            (CampaignKind.FOLLOWUP, settings.followup.machines),
            (CampaignKind.SURVEY, settings.survey.machines),
        )
        if on
    ]
    return MachineWatch(clock=clock, redirect=telephony.redirect, campaigns=campaigns) if campaigns else None


def build_runtime(settings: Settings, storage: Storage, clock: Clock, pbx: Pbx, installation: str) -> Runtime:
    """The call side (the pop-ups that follow rung phones, the intake, the link, the call desk, the worker)."""
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
    jump_changed = asyncio.Event()
    intake = installation_intake(
        settings.inbound,
        installation,
        clock.now,
        queue_watchers=[room_changed, jump_changed],
        ring_listeners=[popups.feed],
    )
    link, telephony = pbx(intake)
    dialplan = dialplan_watch(settings, link)
    connection = GatedLink(link, Leadership())
    jump = _queue_jump(settings, clock, intake, telephony, jump_changed)
    if jump is not None:
        connection.subscribe(on_up=jump.link_up, on_down=_nothing)
    desk = CallDesk(
        telephony=telephony,
        attempts=storage.attempts,
        intake=intake,
        clock=clock,
        pacers=trunk_pacers(settings.trunks, clock),
        events=EventLog(storage.attempts, clock),
        installation=installation,
    )
    desk.machines = machine_watch(settings, clock, telephony)
    gates = pbx_gates(settings, telephony)
    if gates is not None:
        desk.clinic_ready = gates.clinic_ready
    worker = DueWorker(
        due=storage.due,
        clock=clock,
        ready=desk.reconciled if gates is None else gates.any,
        max_outstanding=outstanding_for(desk.pacers.values()),
        clinic_ready=None if gates is None else gates.clinic_ready,
    )
    basics = FlowBasics(
        settings=settings,
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        clock=clock,
        wake=worker.wake,
    )
    recordings = RecordingCollector(
        settings=settings,
        store=SqlRecordingStore(storage.engine),
        users=storage.users,
        clock=clock,
        pbx=telephony if isinstance(telephony, PbxGlobals) else None,
        installation=installation,
    )
    connection.subscribe(on_up=recordings.link_up, on_down=recordings.link_down)
    runtime = _runtime(
        basics, storage, connection, worker, room_changed, popups, pages, recordings, jump, gates
    )
    return replace(runtime, dialplan=dialplan)


def dialplan_watch(settings: Settings, link: PbxLink) -> DialplanWatch | None:
    """Every node asks each PBX, at each link-up, which dialplan it runs (not only the leader: any node's
    /metrics shows it). None where the service has no copy of its dialplan to compare with."""
    try:
        shipped = shipped_dialplan_version()
    except OSError as err:
        log.warning(
            "no copy of extensions_dialer.conf beside the service (%s): its version is not checked", err
        )
        return None
    watch = DialplanWatch(shipped)
    for name, one in links_by_name(link, pbx_name(settings)).items():
        if isinstance(one, AmiConnection):
            one.subscribe(on_up=watch.hook(name, partial(loaded_dialplan_version, one)), on_down=_nothing)
    return watch


def pbx_gates(settings: Settings, telephony: Telephony) -> PbxGates | None:
    """With several Asterisks, each one's gate: one down holds only its own clinics."""
    if not isinstance(telephony, SeveralTelephony):
        return None
    clinic_pbx = {clinic.id: clinic.pbx for clinic in settings.clinics.values()}
    return PbxGates(clinic_pbx, telephony.parts, default=settings.pbx_of(""))


def _queue_jump(
    settings: Settings, clock: Clock, intake: Intake, telephony: Telephony, changed: asyncio.Event
) -> QueueJump | None:
    """Only the AMI link can pause a queue member."""
    if isinstance(telephony, SeveralTelephony):
        pauses: QueuePauses = telephony.queue_pauses()
    elif isinstance(telephony, AmiTelephony):
        pauses = AmiQueuePauses(telephony.connection)
    else:
        return None
    return QueueJump(
        queues=intake.queues,
        pauses=pauses,
        clock=clock,
        margin=settings.callbacks.priority_margin,
        changed=changed,
        ahead=AheadLog(),
    )


async def _nothing() -> None:
    return None


def _runtime(
    basics: FlowBasics,
    storage: Storage,
    link: GatedLink,
    worker: DueWorker,
    room_changed: asyncio.Event,
    popups: Popups,
    pages: OpenPages,
    recordings: RecordingCollector,
    jump: QueueJump | None = None,
    gates: PbxGates | None = None,
) -> Runtime:
    """The campaigns, the inbound desk, the recovery after link-up, the day's jobs and what the pages show."""
    settings, clock, desk = basics.settings, basics.clock, basics.desk
    sms = SmsSender(
        gateway=build_gateway(settings.sms, settings.service.public_url),
        store=storage.sms,
        clock=clock,
        callback_url=lambda key: status_callback_url(settings.sms.provider, settings.service.public_url, key),
    )
    dispatcher = AdminDispatcher(desk.intake.queues, clock, desk.intake.queues_changed)
    reminders, callbacks, progressive, ivr = _flows(basics, storage, worker, sms, dispatcher, room_changed)
    callbacks.jump = jump
    inbound = InboundDesk(
        settings=settings,
        intake=desk.intake,
        store=storage.inbound,
        callbacks=callbacks,
        clock=clock,
        spool=HeldCallsFile(settings.service.data_dir / HELD_CALLS_FILE),
    )
    day_jobs = _day_jobs(basics, storage, reminders, progressive, ivr)
    return Runtime(
        settings=settings,
        storage=storage,
        clock=clock,
        intake=desk.intake,
        connection=link,
        desk=desk,
        events=desk.events,
        sms=sms,
        worker=worker,
        reminders=reminders,
        callbacks=callbacks,
        progressive=progressive,
        ivr=ivr,
        dispatcher=dispatcher,
        inbound=inbound,
        recovery=_recovery(basics, storage, link, inbound, gates),
        alerts=AlertWatch(
            settings=settings,
            queues=desk.intake.queues,
            tasks=storage.callbacks,
            callbacks=callbacks,
            recent=storage.sla,
            store=storage.alerts,
            sms=sms,
            clock=clock,
        ),
        popups=popups,
        live=LiveHub(settings, popups, _board(basics, storage, jump, gates), storage.users, pages),
        webhook=WebhookSender(settings.webhook, storage.outbox, clock),
        day_jobs=day_jobs,
        health=Health(link=link, desk=desk, due=storage.due, gates=gates),
        recordings=recordings,
        jump=jump,
    )


def _flows(
    basics: FlowBasics,
    storage: Storage,
    worker: DueWorker,
    sms: SmsSender,
    dispatcher: AdminDispatcher,
    room_changed: asyncio.Event,
) -> tuple[ReminderFlow, CallbackFlow, ProgressiveFlow, IvrFlow]:
    """The four flows, and which of them runs which due task and follows which campaigns' calls."""
    settings, clock = basics.settings, basics.clock
    progressive = ProgressiveFlow(
        basics=basics,
        sources=[
            KosSource(settings=settings, recalls=storage.recalls, clock=clock),
            DiarySource(settings=settings, store=storage.worklists, clock=clock),
        ],
        offers=OfferSource(settings=settings, store=storage.worklists, sms=sms, clock=clock),
        dispatcher=dispatcher,
        changed=room_changed,
    )
    reminders = ReminderFlow(
        basics=basics,
        reminders=storage.reminders,
        sms=sms,
        on_cancelled=progressive.slot_freed,  # a cancelled visit's time goes to the waiting list
        slots_freed=progressive.slots_freed,  # the same, a batch's cancelled visits at once
        unoffered=storage.worklists.unoffered_slots,  # those a stop kept from being offered
        follow_ups=storage.reminders,
    )
    callbacks = CallbackFlow(basics=basics, tasks=storage.callbacks, dispatcher=dispatcher, sms=sms)
    ivr = IvrFlow(basics=basics, store=storage.worklists, alerts=storage.alerts, sms=sms)
    for flow in (reminders, callbacks, progressive, ivr):
        worker.register_all(flow.due_runners)
        basics.desk.register(flow, flow.campaigns)
    texts = SupervisorSms(settings=settings, alerts=storage.alerts, sms=sms, due=storage.due, clock=clock)
    worker.register(TaskKind.SMS, COMPLAINT_SMS, texts.retry)  # a complaint's SMS the gateway could not take
    return reminders, callbacks, progressive, ivr


def _recovery(
    basics: FlowBasics, storage: Storage, link: GatedLink, inbound: InboundDesk, gates: PbxGates | None
) -> LinkRecovery:
    """What the link's loss and return mean for the calls; subscribed to the link, which is built before it.
    With several Asterisks, one recovery each on its own link; the main one's keeps the others' seen marks."""
    telephony = basics.desk.telephony
    if gates is None or not isinstance(telephony, SeveralTelephony):
        names: list[str | None] = [None]
    else:
        names = [gates.default, *(name for name in telephony.parts if name != gates.default)]
    recoveries = []
    for name in names:
        own_link, scope = link, None
        if name is not None and gates is not None and isinstance(telephony, SeveralTelephony):
            part, own = telephony.link_of(name)
            # A standby node runs no recovery: each Asterisk's link is held back as the whole one is.
            own_link = link.part(part)
            scope = (name, gates, own)
        recovery = LinkRecovery(
            link=link,
            desk=basics.desk,
            store=storage.inbound,
            inbound=inbound,
            settings=basics.settings,
            clock=basics.clock,
            pbx=scope,
        )
        own_link.subscribe(on_up=recovery.link_up, on_down=recovery.link_down)
        recoveries.append(recovery)
    recoveries[0].others = recoveries[1:]
    return recoveries[0]


def _day_jobs(
    basics: FlowBasics, storage: Storage, reminders: ReminderFlow, progressive: ProgressiveFlow, ivr: IvrFlow
) -> DayJobs:
    """The day lists built when their time has come, and the retention purge at night."""
    settings, clock = basics.settings, basics.clock
    lists = DayLists(
        settings=settings,
        appointments=storage.appointments,
        plan_reminders=reminders.prepare_day,
        plan_worklists=progressive.prepare_day,
        plan_post_visit=ivr.prepare_day,
        wake=basics.wake,
        clock=clock,
    )
    folder = settings.service.recordings_dir
    purge = retention_purge(settings, lambda: daily_purge(storage, settings.retention, clock, folder))
    return DayJobs(lists=lists, daily=purge, clock=clock)


def _board(
    basics: FlowBasics, storage: Storage, jump: QueueJump | None = None, gates: PbxGates | None = None
) -> Board:
    return Board(
        settings=basics.settings,
        queues=basics.desk.intake.queues,
        reads=storage.board,
        clock=basics.clock,
        ahead=jump.ahead if jump is not None else None,
        gates=gates,
    )
