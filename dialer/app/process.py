"""One dialing process: open its parts, start and stop its long-running loops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path

from dialer.ami.connection import AmiConnection
from dialer.ami.telephony import AmiTelephony
from dialer.app.parts import CAMPAIGNS, Runtime, build_parts
from dialer.core.clock import Clock
from dialer.core.inbound_tracker import InboundTracker
from dialer.core.ownership import OurAttempts
from dialer.core.ports import PbxLink, Telephony
from dialer.core.ringing import RingTracker
from dialer.core.tracker import CallTracker, Event
from dialer.engine.calls import CallDesk
from dialer.engine.eventlog import EventLog
from dialer.engine.intake import Intake
from dialer.engine.loops import forever
from dialer.engine.pacer import TrunkPacer
from dialer.engine.sms import SmsSender
from dialer.environment import clock_for
from dialer.lease import hold_lease, release_lease, renew_lease
from dialer.settings import AmiSettings, Settings
from dialer.sms.factory import build_gateway, status_callback_url
from dialer.storage.installation import installation_id
from dialer.storage.repository import Storage

log = logging.getLogger("dialer")


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
    ours = OurAttempts(await installation_id(storage.engine, clock.now()), CAMPAIGNS)
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
    rt = build_parts(settings, storage, clock, connection, desk, events, sms)
    connection.on_pbx_time.append(intake.pbx_time)
    connection.on_up.append(rt.recovery.link_up)
    connection.on_down.append(rt.recovery.link_down)
    try:
        yield rt
    finally:
        await events.flush()
        if gateway is not None:
            await gateway.close()
        await storage.close()


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
        group.create_task(rt.recovery.keep_seen_mark(), name="seen-mark"),
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
