"""The engine wired as dialer/app.py `open_runtime` wires it, on the in-memory ports and a FakeClock.

The flows, the call desk, the due-task worker and the dispatcher are the real ones and run as real asyncio tasks;
only the adapters are replaced: storage (tests/fakes/memory.py), Asterisk (tests/fakes/pbx.py) and the SMS
gateway. Time moves only when the test runs the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialer.campaigns.kinds import EVERY_KIND
from dialer.core.clock import FakeClock
from dialer.core.ids import AttemptId
from dialer.core.inbound_tracker import InboundTracker
from dialer.core.tracker import CallTracker
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.calls import CallDesk
from dialer.engine.dispatch import AdminDispatcher
from dialer.engine.eventlog import EventLog
from dialer.engine.inbound import InboundDesk
from dialer.engine.intake import Intake
from dialer.engine.kos import KosSource
from dialer.engine.pacer import TrunkPacer
from dialer.engine.progressive import ProgressiveFlow
from dialer.engine.reminders import ReminderFlow
from dialer.engine.runner import FlowBasics
from dialer.engine.sms import SmsSender
from dialer.engine.worker import DueWorker
from dialer.settings import Settings, parse_settings
from tests.fakes.memory import (
    MemoryAttemptStore,
    MemoryCallbackStore,
    MemoryDueStore,
    MemoryInboundStore,
    MemoryRecallStore,
    MemoryReminderStore,
    MemorySmsGateway,
    MemorySmsStore,
    TargetIds,
)
from tests.fakes.pbx import FakeAsterisk

CLINIC = "c1"
CLINIC_PHONE = "+74951234567"


def is_our_attempt(uniqueid: str) -> bool:
    """app.is_our_attempt: a Uniqueid that is one of our attempt ids."""
    parsed = AttemptId.try_parse(uniqueid)
    return parsed is not None and parsed.campaign in EVERY_KIND


def clinic_settings(**clinic: Any) -> Settings:
    """One clinic in Moscow behind a trunk of Local channels, with the customer's plans unless told."""
    campaigns = clinic.pop("campaigns", {})
    raw: dict[str, Any] = {
        "trunks": {"sim": {"dial": "Local/{number}@patients", "max_channels": 4, "calls_per_second": 2}},
        "clinics": [
            {
                "id": CLINIC,
                "name": "Клиника на Лесной",
                "timezone": "Europe/Moscow",
                "trunk": "sim",
                "phone": CLINIC_PHONE,
                "dids": ["100"],
                **clinic,
            }
        ],
        "campaigns": campaigns,
    }
    return parse_settings(raw)


@dataclass
class Rig:
    settings: Settings
    clock: FakeClock
    asterisk: FakeAsterisk
    due: MemoryDueStore
    attempts: MemoryAttemptStore
    reminder_store: MemoryReminderStore
    sms_store: MemorySmsStore
    callback_store: MemoryCallbackStore
    inbound_store: MemoryInboundStore
    recall_store: MemoryRecallStore
    gateway: MemorySmsGateway
    intake: Intake
    pacers: Mapping[str, TrunkPacer]
    events: EventLog
    desk: CallDesk
    sms: SmsSender
    reminders: ReminderFlow
    dispatcher: AdminDispatcher
    callbacks: CallbackFlow
    inbound: InboundDesk
    progressive: ProgressiveFlow
    kos: KosSource
    worker: DueWorker
    freed_slots: list[
        tuple[str, str]
    ]  # (clinic, appointment) of each cancelled visit, as the waiting list hears
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def link_up(self) -> None:
        """LinkRecovery.link_up without its storage marks: reconcile first, then take the queues as they are now."""
        await self.desk.reconcile()
        self.intake.queues.reset(await self.desk.telephony.queue_status(), self.clock.now())
        self.intake.queues_changed.set()

    async def link_down(self) -> None:
        self.desk.reconciled.clear()


def build(settings: Settings, start: datetime) -> Rig:
    clock = FakeClock(start)
    ids = TargetIds()
    sms_store = MemorySmsStore()
    attempts = MemoryAttemptStore()
    due = MemoryDueStore()
    inbound_tracker = InboundTracker(
        settings.inbound.contexts, settings.inbound.staff_contexts, is_ours=is_our_attempt
    )
    room_changed = asyncio.Event()  # the progressive flow's, set by the intake at each queue change
    intake = Intake(
        CallTracker(is_attempt_id=is_our_attempt),
        clock.now,
        inbound=inbound_tracker,
        queue_watchers=[room_changed],
    )
    asterisk = FakeAsterisk(clock)
    asterisk.sinks.append(intake.feed)
    pacers = {
        name: TrunkPacer(name, t.max_channels, t.calls_per_second, clock)
        for name, t in settings.trunks.items()
    }
    events = EventLog(attempts, clock)
    desk = CallDesk(
        telephony=asterisk,
        attempts=attempts,
        intake=intake,
        clock=clock,
        pacers=pacers,
        events=events,
        installation="",
    )
    gateway = MemorySmsGateway(clock)
    sms = SmsSender(gateway=gateway, store=sms_store, clock=clock, callback_url=lambda key: None)
    worker = DueWorker(
        due=due,
        clock=clock,
        worker_id="test-worker",
        ready=desk.reconciled,
        max_outstanding=2 * sum(p.max_channels for p in pacers.values()) + 16,
    )
    basics = FlowBasics(
        settings=settings, attempts=attempts, due=due, desk=desk, clock=clock, wake=worker.wake
    )
    reminder_store = MemoryReminderStore(ids, sms_store)
    freed_slots: list[tuple[str, str]] = []

    async def slot_freed(clinic_id: str, appointment_id: str) -> None:
        freed_slots.append((clinic_id, appointment_id))

    reminders = ReminderFlow(basics=basics, reminders=reminder_store, sms=sms, on_cancelled=slot_freed)
    dispatcher = AdminDispatcher(intake.queues, clock, intake.queues_changed)
    inbound_store = MemoryInboundStore()
    callback_store = MemoryCallbackStore(ids, inbound_store)
    callbacks = CallbackFlow(basics=basics, tasks=callback_store, dispatcher=dispatcher, sms=sms)
    inbound = InboundDesk(
        settings=settings, intake=intake, store=inbound_store, callbacks=callbacks, clock=clock
    )
    recall_store = MemoryRecallStore(ids)
    kos = KosSource(settings=settings, recalls=recall_store, clock=clock)
    progressive = ProgressiveFlow(basics=basics, sources=[kos], dispatcher=dispatcher, changed=room_changed)
    for flow in (reminders, callbacks, progressive):
        worker.register_all(flow.due_runners)
        desk.register(flow, flow.campaigns)
    rig = Rig(
        settings=settings,
        clock=clock,
        asterisk=asterisk,
        due=due,
        attempts=attempts,
        reminder_store=reminder_store,
        sms_store=sms_store,
        callback_store=callback_store,
        inbound_store=inbound_store,
        recall_store=recall_store,
        gateway=gateway,
        intake=intake,
        pacers=pacers,
        events=events,
        desk=desk,
        sms=sms,
        reminders=reminders,
        dispatcher=dispatcher,
        callbacks=callbacks,
        inbound=inbound,
        progressive=progressive,
        kos=kos,
        worker=worker,
        freed_slots=freed_slots,
    )
    asterisk.on_up.append(rig.link_up)
    asterisk.on_down.append(rig.link_down)
    return rig


async def _expire_tracker(rig: Rig) -> None:
    """app._expire_tracker: close attempts whose OriginateResponse was lost."""
    while True:
        await rig.clock.sleep(1.0)
        rig.intake.inject(rig.intake.tracker.expire(rig.clock.now()))


@asynccontextmanager
async def running(rig: Rig, *, tickers: bool = False) -> AsyncIterator[Rig]:
    """Start the loops of app.run_core that the flows need, bring the link up, and stop them all at the end.

    The loops that only tick (the dispatcher's and the tracker expiry's every second) start with `tickers`:
    a test that plays a whole calling day leaves them out, since every second of ten hours would be a step.
    The attempt log is written with each attempt change (CallDesk drains it), so its own 0.2 s flusher is left
    out too and flushed at the end.
    """
    loops = [
        rig.desk.run(),
        rig.worker.run(),
        rig.reminders.run(),
        rig.callbacks.run(),
        rig.progressive.run(),
        rig.inbound.run(),
    ]
    if tickers:
        loops += [rig.dispatcher.run(), _expire_tracker(rig)]
    loop = asyncio.get_running_loop()
    rig.tasks = [loop.create_task(c) for c in loops]
    try:
        up = loop.create_task(rig.link_up())
        await rig.clock.run_for(1)
        await up
        yield rig
    finally:
        dead = [t for t in rig.tasks if t.done() and not t.cancelled()]
        for task in rig.tasks:
            task.cancel()
        await asyncio.gather(*rig.tasks, return_exceptions=True)
        await rig.asterisk.close()
        await rig.events.flush()
    # The loops run for ever: one that ended crashed, and the flows it served stopped with it.
    assert not dead, [(t.get_coro(), t.exception()) for t in dead]
