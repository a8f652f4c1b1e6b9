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
from dialer.app.nodes import lead_now, run_every_node
from dialer.app.parts import Pbx, Runtime, build_runtime
from dialer.core.clock import Clock
from dialer.engine.metrics import EventCount
from dialer.environment import clock_for
from dialer.lease import release_lease
from dialer.settings import Settings
from dialer.storage.installation import installation_id
from dialer.storage.repository import Storage


def ami_pbx(
    settings: Settings, clock: Clock, record_to: Path | None = None, events: EventCount | None = None
) -> Pbx:
    def counted(feed: EventSink, pbx: str = "") -> EventSink:
        return feed if events is None else events.counting(feed, pbx)

    if len(settings.pbxes) > 1:
        return lambda intake: build_several(
            settings.pbxes,
            pbx_of=settings.pbx_of,
            sink=lambda name: counted(intake.sink_of(name), name),
            on_pbx_time=intake.pbx_time_of,
            clock=clock,
            record_to=record_to,
            reads=intake.read,
        )
    return lambda intake: build_ami(
        settings.ami,
        sink=counted(intake.feed),
        on_pbx_time=intake.pbx_time,
        clock=clock,
        record_to=record_to,
        reads=intake.read,
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
        await rt.live.board.funnels.close()
        if rt.sms.gateway is not None:
            await rt.sms.gateway.close()
        await storage.close()


async def run_core(rt: Runtime, group: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
    """Start the long-running parts of a process that dials now, under the caller's TaskGroup.

    Each loop survives its own errors (dialer/engine/loops.py: logged, a growing pause, then on), so one
    failing part never ends the group that holds every call. Two stop the service on purpose (ServiceStop):
    "ami" when Asterisk refuses the login, and "lease" when the dialing lease is lost or cannot be renewed
    before it expires, so that no two processes dial the same patients."""
    leader = await lead_now(rt, group)
    return run_every_node(rt, group) + leader


async def stop_core(rt: Runtime, tasks: list[asyncio.Task[None]]) -> None:
    await rt.connection.stop()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
    await release_lease(rt.storage.leases, rt.worker.worker_id)
