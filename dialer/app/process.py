"""One dialing process: open its parts, start and stop its long-running loops."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from pathlib import Path

from dialer.ami.connection import EventSink
from dialer.ami.factory import build_ami, build_several
from dialer.app.parts import Pbx, Runtime, build_runtime
from dialer.core.clock import Clock
from dialer.engine.intake import Intake
from dialer.engine.metrics import EventCount
from dialer.environment import clock_for
from dialer.lease import hold_lease, release_lease, renew_lease
from dialer.settings import Settings
from dialer.storage.installation import installation_id
from dialer.storage.repository import Storage


def ami_pbx(
    settings: Settings, clock: Clock, record_to: Path | None = None, events: EventCount | None = None
) -> Pbx:
    def sink(intake: Intake) -> EventSink:
        return intake.feed if events is None else events.counting(intake.feed)

    if len(settings.pbxes) > 1:
        return lambda intake: build_several(
            settings.pbxes,
            pbx_of=settings.pbx_of,
            sink=sink(intake),
            on_pbx_time=intake.pbx_time,
            clock=clock,
            record_to=record_to,
        )
    return lambda intake: build_ami(
        settings.ami, sink=sink(intake), on_pbx_time=intake.pbx_time, clock=clock, record_to=record_to
    )


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
    installation = await installation_id(storage.engine, clock.now())
    events = EventCount()
    pbx = pbx or ami_pbx(settings, clock, record_to, events)
    rt = replace(build_runtime(settings, storage, clock, pbx, installation), ami_events=events)
    # What start-up made (modules, settings, SQLAlchemy's compiled statements) lives as long as the process:
    # moved out of the collector's sight, a full collection walks only what the calls make, and a pop-up
    # never waits ~150 ms behind one.
    gc.collect()
    gc.freeze()
    try:
        yield rt
    finally:
        await rt.events.flush()
        if rt.sms.gateway is not None:
            await rt.sms.gateway.close()
        await storage.close()


async def run_core(rt: Runtime, group: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
    """Start the long-running parts of a dialing process under the caller's TaskGroup.

    Each loop survives its own errors (dialer/engine/loops.py: logged, a growing pause, then on), so one
    failing part never ends the group that holds every call. Two stop the service on purpose (ServiceStop):
    "ami" when Asterisk refuses the login, and "lease" when the dialing lease is lost or cannot be renewed
    before it expires, so that no two processes dial the same patients."""
    holder = rt.worker.worker_id
    await hold_lease(rt.storage.leases, holder, rt.clock.now())
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
        group.create_task(renew_lease(rt.storage.leases, holder, rt.clock), name="lease"),
        group.create_task(rt.intake.expire_forever(rt.clock), name="tracker-expiry"),
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
    return tasks


async def stop_core(rt: Runtime, tasks: list[asyncio.Task[None]]) -> None:
    await rt.connection.stop()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
    await release_lease(rt.storage.leases, rt.worker.worker_id)
