"""The only place that builds adapters and hands them to the engine."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

from aiohttp import web

from dialer.ami.connection import AmiConnection
from dialer.ami.telephony import AmiTelephony
from dialer.campaigns.callbacks import CAMPAIGN as CALLBACK
from dialer.campaigns.plan import reminder_call_day
from dialer.campaigns.reminders import CAMPAIGN as REMINDERS
from dialer.core.clock import Clock, RehearsalClock, SystemClock
from dialer.core.errors import ConfigError
from dialer.core.ids import AttemptId
from dialer.core.inbound import InboundEnded, InboundTracker
from dialer.core.queuelog import QueueLogReader, settle_unseen
from dialer.core.ringing import RingTracker
from dialer.core.tracker import CallTracker, Event
from dialer.engine.alerts import AlertWatch
from dialer.engine.board import Board
from dialer.engine.callbacks import AUTO as AUTO_CALLBACK
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.calls import CallDesk
from dialer.engine.dispatch import AdminDispatcher
from dialer.engine.eventlog import EventLog
from dialer.engine.inbound import InboundDesk
from dialer.engine.intake import Intake
from dialer.engine.ivr import FOLLOWUP, SURVEY, IvrFlow
from dialer.engine.kos import CAMPAIGN as KOS
from dialer.engine.kos import KosSource
from dialer.engine.loops import forever
from dialer.engine.model import TaskKind
from dialer.engine.pacer import TrunkPacer
from dialer.engine.popups import Popups
from dialer.engine.ports import PbxLink, Telephony
from dialer.engine.progressive import ProgressiveFlow
from dialer.engine.reminders import ReminderFlow
from dialer.engine.sms import SmsSender
from dialer.engine.worker import DueWorker
from dialer.engine.worklists import DIARY, OFFER, DiarySource, OfferSource
from dialer.lease import hold_lease, release_lease, renew_lease
from dialer.sandbox import Sandbox, SandboxError
from dialer.settings import AmiSettings, ClinicSettings, Secret, Settings
from dialer.sms.factory import build_gateway, build_verifiers, status_callback_url
from dialer.storage.installation import installation_id
from dialer.storage.repository import Storage
from dialer.web.api import ApiContext
from dialer.web.app import WebParts, create_app
from dialer.web.auth import AuthContext
from dialer.web.live import LiveHub
from dialer.web.operator import OperatorContext
from dialer.web.sms_receipts import SmsReceiptContext
from dialer.web.supervisor import SupervisorContext
from dialer.webhook import WebhookSender

log = logging.getLogger("dialer")

PROGRESSIVE = (KOS, DIARY, OFFER)  # calls an administrator takes
POST_VISIT = (FOLLOWUP, SURVEY)  # IVR calls
CAMPAIGNS = frozenset({REMINDERS, CALLBACK, AUTO_CALLBACK, *PROGRESSIVE, *POST_VISIT})
SEEN_MARK = "ami_seen"
FIRST_MARK = "first_seen"
SEEN_MARK_EVERY = 5.0
RECOVERY_MARGIN = timedelta(minutes=1)


def resolve_ami(settings: Settings, out: TextIO) -> Settings:
    """Use the configured Asterisk, or bring up the local sandbox when none is named, and say so."""
    if not settings.ami.use_sandbox:
        return settings
    out.write("No Asterisk configured ([ami] host is empty): using the local Asterisk 22 sandbox.\n")
    sandbox = Sandbox()
    creds = sandbox.up(out)
    inbound = settings.inbound
    if not inbound.queue_log:
        inbound = replace(inbound, queue_log=str(sandbox.layout.root / "var/log/asterisk/queue_log"))
    ami = replace(
        settings.ami, host=creds.host, port=creds.port, username=creds.username, secret=Secret(creds.secret)
    )
    return replace(settings, ami=ami, inbound=inbound)


def clock_for(settings: Settings) -> Clock:
    """The host's clock; or, for a rehearsal on the local sandbox, the clinic's morning (see RehearsalSettings)."""
    rehearsal = settings.rehearsal
    if rehearsal.clinic_time is None:
        return SystemClock()
    if not _is_sandbox(settings.ami):
        raise ConfigError(
            "[rehearsal] переводит часы сервиса и нужен только для демонстрации и тестов с локальной "
            "песочницей Asterisk; уберите этот раздел из настроек рабочей установки"
        )
    return RehearsalClock.reading(rehearsal.clinic_time, rehearsal.at_host_time)


def _is_sandbox(ami: AmiSettings) -> bool:
    if ami.use_sandbox:
        return True
    try:
        creds = Sandbox().credentials()
    except SandboxError:
        return False
    # The port is not compared: a test may put a proxy in front of the sandbox's AMI to cut the link.
    loopback = ami.host in ("127.0.0.1", "localhost", "::1")
    return loopback and (ami.username, ami.secret.value) == (creds.username, creds.secret)


@dataclass(frozen=True)
class OurAttempts:
    """Tells this installation's calls from everyone else's by their Uniqueid (the attempt id)."""

    installation: str

    def campaign_of(self, uniqueid: str) -> str | None:
        parsed = AttemptId.try_parse(uniqueid)
        if parsed is None or parsed.installation != self.installation or parsed.campaign not in CAMPAIGNS:
            return None
        return parsed.campaign

    def is_ours(self, uniqueid: str) -> bool:
        return self.campaign_of(uniqueid) is not None


@dataclass
class Runtime:
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
    offers: OfferSource
    ivr: IvrFlow
    webhook: WebhookSender
    lost_at: datetime | None = None  # when the AMI link was lost, until link-up has dealt with the gap
    unseen: list[InboundEnded] = field(default_factory=list)  # calls that ended in the gap, not yet told

    async def link_up(self) -> None:
        """After every (re)connect: what Asterisk has now comes first, then what happened in the gap."""
        await self.desk.reconcile()
        self.intake.queues.reset(await self.desk.telephony.queue_status(), self.clock.now())
        self.intake.queues_changed.set()
        await self.calls_gone()
        now = self.clock.now()
        for gap_id, started in await self.storage.inbound.close_gaps(now):
            log.warning("AMI gap %s from %s closed", gap_id, started.isoformat(timespec="seconds"))
        seen = await self.storage.inbound.mark_of(SEEN_MARK)
        first = await self.storage.inbound.mark_of(FIRST_MARK)
        if first is None:
            await self.storage.inbound.mark(FIRST_MARK, now)
        # A margin before the last sighting, but nothing from before this database was in service.
        since = max(seen - RECOVERY_MARGIN, first) if seen is not None and first is not None else None
        await self.recover_misses(since, self.unseen)
        self.unseen = []
        await self.storage.inbound.mark(SEEN_MARK, now)

    async def calls_gone(self) -> None:
        """Calls the trackers follow that Asterisk no longer has (CoreShowChannels): their Hangup was lost
        with the link. Their pop-ups close now; the inbound ones wait in `unseen` until they are told."""
        followed = self.intake.followed_channels()  # before asking: a call that starts meanwhile is not gone
        if followed:
            alive = await self.desk.telephony.live_channels()
            ended = self.intake.gone(followed - alive.keys(), self.lost_at or self.clock.now())
            if ended:
                log.warning("%d inbound calls ended while the AMI link was down", len(ended))
            self.unseen.extend(ended)
        self.lost_at = None

    async def recover_misses(self, since: datetime | None, unseen: Sequence[InboundEnded] = ()) -> int:
        """Calls that ended while we were not watching: those the trackers held when the link was lost
        (`unseen`), told by Asterisk's queue_log where it has them, and the queue calls only queue_log knows.
        Each is counted once; a missed one becomes a callback task."""
        start = min([f.started_at for f in unseen] + ([since] if since is not None else []), default=None)
        gap = settle_unseen(unseen, await self._queue_log_calls(start) if start is not None else [])
        for call in gap.from_log:
            await self.inbound.ended(call, source="queue_log")
        for call in gap.unseen:
            await self.inbound.ended(call, source="link_gap")
        known = await self.storage.inbound.known([c.call_id for c in gap.log_only])
        recovered = 0
        for call in gap.log_only:
            if call.call_id not in known:
                await self.inbound.ended(call, source="queue_log")
                recovered += 1
        if recovered and start is not None:
            log.warning(
                "recovered %d calls from queue_log since %s", recovered, start.isoformat(timespec="seconds")
            )
        return recovered + len(unseen)

    async def _queue_log_calls(self, since: datetime) -> list[InboundEnded]:
        path = self.settings.inbound.queue_log
        if not path:
            return []
        try:
            text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8", errors="replace")
        except OSError as err:
            log.warning("cannot read queue_log %s to recover missed calls: %s", path, err)
            return []
        reader = QueueLogReader(since, to_service=self.intake.timebase.to_service)
        reader.feed(text.splitlines())
        return reader.calls()

    async def keep_seen_mark(self) -> None:
        """Remember until when the AMI stream was watched, so a restart knows what to recover."""

        async def turn() -> None:
            await self.clock.sleep(SEEN_MARK_EVERY)
            if self.connection.connected and self.desk.reconciled.is_set():
                await self.storage.inbound.mark(SEEN_MARK, self.clock.now())

        await forever("seen-mark", turn, self.clock)

    async def link_down(self) -> None:
        self.lost_at = self.lost_at or self.clock.now()
        self.desk.reconciled.clear()
        for clinic_id in list(self.settings.clinics) or ["*"]:
            await self.storage.inbound.open_gap(clinic_id, self.clock.now(), "AMI link lost")

    async def prepare_due_days(self) -> None:
        """Build the reminder lists whose calling day has come (and whose list-build time has passed)."""
        now = self.clock.now()
        for day in await self.storage.appointments.days():
            due = [
                c.id
                for c in self.settings.clinics.values()
                if _list_is_due(day, now, c, self.settings.list_build_time(c.id))
            ]
            if due:
                await self.reminders.prepare_day(day, due)
        await self.progressive.prepare_day()
        await self.ivr.prepare_day()
        self.worker.wake()

    async def on_imported(self, days: set[date]) -> None:
        await self.prepare_due_days()

    async def on_recalls(self) -> None:
        await self.progressive.prepare_day()
        self.worker.wake()

    async def slot_freed(self, clinic_id: str, appointment_id: str) -> None:
        """A cancelled visit's time goes to the waiting list: an SMS, then a call (planned by the offer)."""
        await self.offers.slot_freed(clinic_id, appointment_id)

    async def health(self) -> dict[str, object]:
        return {
            "ami": "connected" if self.connection.connected else "disconnected",
            "reconciled": self.desk.reconciled.is_set(),
            "calls_in_flight": self.desk.in_flight,
            "inbound_calls_open": self.intake.inbound.live_calls if self.intake.inbound is not None else 0,
            "due_tasks": await self.storage.due.pending_count(),
        }


def _list_is_due(day: date, now: datetime, clinic: ClinicSettings, build_time: time) -> bool:
    """A visit day's list is built once its calling day has come and the clinic's list-build time has passed."""
    local = now.astimezone(clinic.timezone)
    if day < local.date():
        return False
    call_day = reminder_call_day(day, clinic.calendar)
    if day == local.date() or call_day is None or call_day < local.date():
        return True
    return call_day == local.date() and local.time() >= build_time


# The link to Asterisk and the telephony on it, given where its events go: AMI, or a fake in unit tests.
Pbx = Callable[[Callable[[Event], None]], tuple[PbxLink, Telephony]]


def ami_pbx(settings: Settings, clock: Clock, record_to: Path | None = None) -> Pbx:
    def build(sink: Callable[[Event], None]) -> tuple[PbxLink, Telephony]:
        ami: AmiSettings = settings.ami
        connection = AmiConnection(
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.secret.value,
            sink=sink,
            ping_interval=ami.ping_interval,
            connect_timeout=ami.connect_timeout,
            reconnect_max_delay=ami.reconnect_max_delay,
            record_to=record_to,
            clock=clock,
        )
        return connection, AmiTelephony(connection)

    return build


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    record_to: Path | None = None,
    clock: Clock | None = None,
    pbx: Pbx | None = None,
    storage: Storage | None = None,
) -> AsyncIterator[Runtime]:
    """Build every adapter for one process. The AMI link and the worker start with `run_core`.

    `pbx` and `storage` replace the AMI link and the database opened from the settings (unit tests)."""
    clock = clock or clock_for(settings)
    storage = storage or await Storage.open(settings.service.db_url)
    await storage.sync_clinics(
        [(c.id, c.name, c.timezone.key) for c in settings.clinics.values()], clock.now()
    )
    ours = OurAttempts(await installation_id(storage.engine, clock.now()))
    inbound = InboundTracker(settings.inbound.contexts, settings.inbound.staff_contexts, is_ours=ours.is_ours)
    rings = RingTracker(settings.inbound.contexts, campaign_of=ours.campaign_of)
    intake = Intake(CallTracker(is_attempt_id=ours.is_ours), clock.now, inbound=inbound, rings=rings)
    connection, telephony = (pbx or ami_pbx(settings, clock, record_to))(intake.feed)
    pacers = {
        name: TrunkPacer(name, t.max_channels, t.calls_per_second, clock)
        for name, t in settings.trunks.items()
    }
    events = EventLog(storage.attempts, clock)
    desk = CallDesk(
        telephony=telephony,
        attempts=storage.attempts,
        intake=intake,
        clock=clock,
        pacers=pacers,
        events=events,
        installation=ours.installation,
    )
    public_url = settings.service.public_url
    gateway = build_gateway(settings.sms, public_url)
    provider = settings.sms.provider
    sms = SmsSender(
        gateway=gateway,
        store=storage.sms,
        clock=clock,
        callback_url=lambda key: status_callback_url(provider, public_url, key),
    )
    reminders = ReminderFlow(
        settings=settings,
        reminders=storage.reminders,
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        sms=sms,
        clock=clock,
    )
    dispatcher = AdminDispatcher(intake.queues, clock, intake.queues_changed)
    callbacks = CallbackFlow(
        settings=settings,
        tasks=storage.callbacks,
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        dispatcher=dispatcher,
        sms=sms,
        clock=clock,
    )
    inbound_desk = InboundDesk(
        settings=settings, intake=intake, store=storage.inbound, callbacks=callbacks, clock=clock
    )
    alerts = AlertWatch(
        settings=settings,
        queues=intake.queues,
        tasks=storage.callbacks,
        callbacks=callbacks,
        recent=storage.sla,
        store=storage.alerts,
        sms=sms,
        clock=clock,
    )
    popups = Popups(
        settings=settings,
        cards=storage.cards,
        users=storage.users,
        attempts=storage.attempts,
        wrapups=storage.wrapups,
        clock=clock,
    )
    intake.ring_listeners.append(popups.feed)
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
    live = LiveHub(settings, popups, board, storage.users)
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    worker = DueWorker(
        due=storage.due,
        clock=clock,
        worker_id=holder,
        ready=desk.reconciled,
        max_outstanding=2 * sum(p.max_channels for p in pacers.values()) + 16,
    )
    worker.register(TaskKind.DIAL, REMINDERS, reminders.run_dial)
    worker.register(TaskKind.SMS, REMINDERS, reminders.run_sms)
    worker.register(TaskKind.DIAL, CALLBACK, callbacks.run_dial)
    worker.register(TaskKind.SMS, CALLBACK, callbacks.run_sms)
    progressive, offers, ivr = _worklists(settings, storage, desk, dispatcher, sms, clock)
    intake.queue_watchers.append(progressive.changed)
    _register(worker, progressive, ivr)
    reminders.wake = worker.wake
    callbacks.wake = worker.wake
    runtime = Runtime(
        settings,
        storage,
        clock,
        intake,
        connection,
        desk,
        events,
        sms,
        reminders,
        callbacks,
        inbound_desk,
        dispatcher,
        alerts,
        popups,
        live,
        worker,
        holder,
        progressive,
        offers,
        ivr,
        WebhookSender(settings.webhook, storage.outbox, clock),
    )
    reminders.on_cancelled = runtime.slot_freed
    connection.on_pbx_time.append(intake.pbx_time)
    connection.on_up.append(runtime.link_up)
    connection.on_down.append(runtime.link_down)
    try:
        yield runtime
    finally:
        await events.flush()
        if gateway is not None:
            await gateway.close()
        await storage.close()


def _worklists(
    settings: Settings,
    storage: Storage,
    desk: CallDesk,
    dispatcher: AdminDispatcher,
    sms: SmsSender,
    clock: Clock,
) -> tuple[ProgressiveFlow, OfferSource, IvrFlow]:
    """The administrators' call lists (КОС, the diary, waiting-list offers) and the post-visit IVRs."""
    offers = OfferSource(settings=settings, store=storage.worklists, sms=sms, clock=clock)
    progressive = ProgressiveFlow(
        settings=settings,
        sources=[
            KosSource(settings=settings, recalls=storage.recalls, clock=clock),
            DiarySource(settings=settings, store=storage.worklists, clock=clock),
            offers,
        ],
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        dispatcher=dispatcher,
        clock=clock,
    )
    offers.plan = progressive.plan
    ivr = IvrFlow(
        settings=settings,
        store=storage.worklists,
        attempts=storage.attempts,
        due=storage.due,
        desk=desk,
        alerts=storage.alerts,
        sms=sms,
        clock=clock,
    )
    return progressive, offers, ivr


def _register(worker: DueWorker, progressive: ProgressiveFlow, ivr: IvrFlow) -> None:
    for campaign in PROGRESSIVE:
        worker.register(TaskKind.DIAL, campaign, progressive.run_dial)
    for campaign in POST_VISIT:
        worker.register(TaskKind.DIAL, campaign, ivr.run_dial)
    progressive.wake = worker.wake
    ivr.wake = worker.wake


async def run_core(rt: Runtime, group: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
    """Start the long-running parts of a dialing process under the caller's TaskGroup.

    Each loop survives its own errors (dialer/engine/loops.py: logged, a growing pause, then on), so one
    failing part never ends the group that holds every call. Two stop the service on purpose (ServiceStop):
    "ami" when Asterisk refuses the login, and "lease" when the dialing lease is lost or cannot be renewed
    before it expires, so that no two processes dial the same patients."""
    await hold_lease(rt.storage.leases, rt.holder, rt.clock.now())
    await rt.storage.due.requeue_running()
    tasks = [
        group.create_task(rt.connection.run(), name="ami"),
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
        group.create_task(rt.keep_seen_mark(), name="seen-mark"),
        group.create_task(rt.alerts.run(), name="alerts"),
        group.create_task(rt.popups.run(), name="popups"),
        group.create_task(rt.live.boards(), name="boards"),
        group.create_task(renew_lease(rt.storage.leases, rt.holder, rt.clock), name="lease"),
        group.create_task(_expire_tracker(rt), name="tracker-expiry"),
    ]
    if rt.sms.gateway is not None:
        interval = rt.settings.sms.status_poll_interval
        if rt.settings.service.public_url:
            interval = max(
                interval, timedelta(minutes=5)
            )  # reports come by callback; polling is a safety net
        tasks.append(group.create_task(rt.sms.poll_forever(interval), name="sms-status"))
    return tasks


async def _expire_tracker(rt: Runtime) -> None:
    async def turn() -> None:
        await rt.clock.sleep(1.0)
        rt.intake.inject(rt.intake.tracker.expire(rt.clock.now()))

    await forever("tracker-expiry", turn, rt.clock)


async def stop_core(rt: Runtime, tasks: list[asyncio.Task[None]]) -> None:
    await rt.connection.stop()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
    await release_lease(rt.storage.leases, rt.holder)


def build_web_app(rt: Runtime) -> web.Application:
    settings = rt.settings
    api = ApiContext(
        sla=rt.storage.sla,
        settings=settings,
        appointments=rt.storage.appointments,
        clock=rt.clock,
        on_imported=rt.on_imported,
        recalls=rt.storage.recalls,
        on_recalls=rt.on_recalls,
        on_cancelled=rt.slot_freed,
    )
    verifiers = build_verifiers(settings.sms, settings.service.public_url)
    sms_receipts = SmsReceiptContext(
        verifiers={v.provider: v for v in verifiers}, sender=rt.sms, public_url=settings.service.public_url
    )
    auth = AuthContext(
        users=rt.storage.users,
        clock=rt.clock,
        secure_cookies=settings.service.public_url.startswith("https://"),
        audit=rt.storage.audit,
    )
    operators = OperatorContext(
        settings=settings, wrapups=rt.storage.wrapups, clock=rt.clock, after_wrapup=rt.progressive.wrapped_up
    )
    supervision = SupervisorContext(
        settings=settings, reports=rt.storage.reports, sla=rt.storage.sla, clock=rt.clock
    )
    return create_app(
        WebParts(
            api=api,
            sms_receipts=sms_receipts,
            auth=auth,
            operators=operators,
            supervision=supervision,
            live=rt.live,
            health=rt.health,
        )
    )


@asynccontextmanager
async def web_server(rt: Runtime) -> AsyncIterator[web.AppRunner]:
    app = build_web_app(rt)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, rt.settings.service.listen_host, rt.settings.service.listen_port)
    await site.start()
    try:
        yield runner
    finally:
        await runner.cleanup()
