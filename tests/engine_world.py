"""The whole service in one process on a FakeClock, for unit tests of how it behaves over time: the real
runtime (`open_runtime` + `run_core`) on a real SQLite file, with a fake Asterisk link in place of AMI.

`FakePbx` is the link and the telephony at once: it records each Originate, says which channels Asterisk has
(CoreShowChannels), plays AMI events into the intake as Asterisk would send them, and drops and restores the
link on cue. `Flaky` wraps one of the service's stores so that a chosen method fails a chosen number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.pool import QueuePool

from dialer.app import Runtime, open_runtime, run_core, stop_core
from dialer.core.clock import FakeClock
from dialer.core.ports import LinkHook, LiveChannel, OriginateRequest, RecordedOutcome, TelephonyUnavailable
from dialer.engine.importing import import_appointments
from dialer.engine.intake import Intake
from dialer.settings import Settings, parse_settings
from dialer.storage.repository import Storage

# Tuesday 1 December 2026, 11:00 in Moscow: a working morning, inside the reminders' first window.
MORNING = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
# The most real time a step of the service's time waits for the database: long enough for a busy machine's
# commit, short enough that a test holding a connection on purpose is not slowed much.
DATABASE_ANSWER_WAIT = 0.2
Event = dict[str, str]


def world_settings(tmp_path: Path, **extra: Any) -> Settings:
    raw: dict[str, Any] = {
        "service": {"data_dir": str(tmp_path / "var")},
        "trunks": {"sim": {"dial": "Local/{number}@patients", "max_channels": 4, "calls_per_second": 10}},
        "clinics": [
            {
                "id": "c1",
                "name": "Клиника",
                "timezone": "Europe/Moscow",
                "trunk": "sim",
                "skip_holidays": False,
                "dids": ["100"],
                "queues": ["reception"],
            }
        ],
        "inbound": {"contexts": ["clinic-inbound"]},
        "campaigns": {
            "reminders": {
                "windows": [{"start": "10:00", "end": "16:00", "attempts": 2, "min_gap": "1h"}],
                "same_day_confirmation": False,
            }
        },
    }
    for section, values in extra.items():
        raw[section] = raw.get(section, {}) | values if isinstance(values, dict) else values
    return parse_settings(raw)


@dataclass
class FakePbx:
    """Asterisk as the service sees it, driven by the test."""

    sink: Callable[[Event], None] | None = None
    on_up: list[LinkHook] = field(default_factory=list)
    on_down: list[LinkHook] = field(default_factory=list)
    originated: list[OriginateRequest] = field(default_factory=list)
    channels: dict[str, LiveChannel] = field(default_factory=dict)  # what CoreShowChannels would list
    up: bool = False
    linked: asyncio.Event = field(default_factory=asyncio.Event)  # up, and the hooks after link-up have run
    unlinked: asyncio.Event = field(default_factory=asyncio.Event)  # down, and the hooks after it have run
    _want_up: asyncio.Event = field(default_factory=asyncio.Event)
    _want_down: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._want_up.set()

    def __call__(self, intake: Intake) -> tuple[FakePbx, FakePbx]:
        self.sink = intake.feed
        return self, self

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        self.on_up.append(on_up)
        self.on_down.append(on_down)

    # -- the link: run by the service's "ami" task, as AmiConnection is --------------------------

    @property
    def connected(self) -> bool:
        return self.up

    async def run(self) -> None:
        while True:
            await self._want_up.wait()
            self.up = True
            self.unlinked.clear()
            for hook in self.on_up:
                await hook()
            self.linked.set()
            await self._want_down.wait()
            self._want_down.clear()
            self.linked.clear()
            for hook in self.on_down:
                await hook()
            self.unlinked.set()

    async def stop(self) -> None:
        return None  # the task is cancelled

    def cut(self) -> None:
        """The link is lost: from now on Asterisk's events never arrive."""
        self.up = False
        self._want_up.clear()
        self._want_down.set()

    def mend(self) -> None:
        """The link can be made again: the service logs in and runs its link-up."""
        self._want_up.set()

    def emit(self, *events: Event) -> None:
        """Asterisk sends these events; with the link down they are lost."""
        for event in events:
            if self.up and self.sink is not None:
                self.sink(dict(event))

    # -- the telephony ----------------------------------------------------------------------------

    async def originate(self, request: OriginateRequest) -> None:
        if not self.up:
            raise TelephonyUnavailable("no AMI link")
        self.originated.append(request)

    async def live_channels(self) -> dict[str, LiveChannel]:
        if not self.up:
            raise TelephonyUnavailable("no AMI link")
        return dict(self.channels)

    async def recorded_outcome(self, attempt_id: str) -> RecordedOutcome | None:
        return None

    async def forget_outcome(self, attempt_id: str) -> None:
        return None

    async def redirect(self, channel: str, context: str) -> None:
        if not self.up:
            raise TelephonyUnavailable("no AMI link")

    async def queue_status(self) -> list[dict[str, str]]:
        return []


class StoreTrouble(Exception):
    """What a flaky store raises: a database that is locked or gone for a moment."""


class Flaky:
    """One of the service's stores, whose `method` fails the next `times` calls once armed."""

    def __init__(self, inner: object, method: str) -> None:
        self._inner = inner
        self._method = method
        self.left = 0
        self.failed = 0
        self.calls = 0

    def arm(self, times: int) -> None:
        self.left = times

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.left > 0:
                self.left -= 1
                self.failed += 1
                raise StoreTrouble(f"{name} failed on purpose")
            return await attr(*args, **kwargs)

        return flaky


@dataclass
class World:
    rt: Runtime
    clock: FakeClock
    pbx: FakePbx
    tasks: list[asyncio.Task[None]]

    async def drop_link(self) -> None:
        self.pbx.cut()
        await self.run_until(self.pbx.unlinked.is_set, "the link-down handled")

    async def restore_link(self) -> None:
        self.pbx.mend()
        await self.run_until(self.pbx.linked.is_set, "the link up and reconciled again")

    def task(self, name: str) -> asyncio.Task[None]:
        return next(t for t in self.tasks if t.get_name() == name)

    async def run_until(self, check: Callable[[], object], what: str, limit: float = 600.0) -> Any:
        """Let the service's time pass in small steps (and real time for the database's thread) until `check`
        (which may be a coroutine function) gives something true; returns it."""
        passed = 0.0
        while not (value := await _value(check())):
            if passed > limit:
                raise AssertionError(f"after {limit:.0f} s of service time, still no {what}")
            await self._step()
            passed += 0.25
        return value

    async def run_for(self, seconds: float) -> None:
        passed = 0.0
        while passed < seconds:
            await self._step()
            passed += 0.25

    async def _step(self) -> None:
        """A quarter second of the service's time, then the real time the database takes to answer what it
        was asked meanwhile (up to `DATABASE_ANSWER_WAIT`), as it would within a quarter second in service.
        Without it a busy machine lets the service's time run on while a query waits: a 3 s lease would
        expire while its renewal is on its way."""
        self.clock.advance(0.25)
        await asyncio.sleep(0.002)
        pool = self.rt.storage.engine.sync_engine.pool
        loop = asyncio.get_running_loop()
        give_up = loop.time() + DATABASE_ANSWER_WAIT
        while isinstance(pool, QueuePool) and pool.checkedout() and loop.time() < give_up:
            await asyncio.sleep(0.002)

    async def db(self, sql: str) -> list[Any]:
        from sqlalchemy import text

        async with self.rt.storage.engine.connect() as conn:
            return list((await conn.execute(text(sql))).mappings())

    async def book_visit(self, appointment_id: str, phone: str) -> None:
        """A visit tomorrow at 10:00; its reminder list is built now, so the first call is due at once."""
        tomorrow = (self.clock.now() + timedelta(days=1)).astimezone(self.rt.settings.clinic("c1").timezone)
        row = {
            "appointment_id": appointment_id,
            "clinic": "c1",
            "patient_name": "Смирнова Анна",
            "phone": phone,
            "visit_date": tomorrow.date().isoformat(),
            "visit_time": "10:00",
            "doctor": "Иванова",
        }
        outcome = await import_appointments(
            [(1, row)], settings=self.rt.settings, store=self.rt.storage.appointments, now=self.clock.now()
        )
        assert outcome.ok, outcome.errors
        await self.rt.reminders.prepare_day(tomorrow.date())
        self.rt.worker.wake()

    def answer_and_confirm(self, attempt_id: str) -> None:
        """The patient answers, presses 1 and hangs up: the events Asterisk 22 sends for that."""
        answered, ended = confirming_call(attempt_id)
        self.pbx.emit(*answered, *ended)


def confirming_call(attempt_id: str) -> tuple[list[Event], list[Event]]:
    """The events Asterisk 22 sends for a patient who answers, then later presses 1 and hangs up: until the
    answer, and after it."""
    leg1, leg2 = "Local/x@patients-0001;1", "Local/x@patients-0001;2"
    answered: list[Event] = [
        {"Event": "Newchannel", "Channel": leg1, "Uniqueid": attempt_id, "Linkedid": attempt_id},
        {"Event": "Newchannel", "Channel": leg2, "Uniqueid": f"{attempt_id};2", "Linkedid": attempt_id},
        {"Event": "Newstate", "Channel": leg1, "ChannelStateDesc": "Up", "Uniqueid": attempt_id,
         "Linkedid": attempt_id},
        {"Event": "OriginateResponse", "Response": "Success", "Reason": "4", "Uniqueid": attempt_id,
         "Channel": leg1},
    ]  # fmt: skip
    ended: list[Event] = [
        {"Event": "UserEvent", "UserEvent": "DialerDigit", "Channel": leg2, "Uniqueid": f"{attempt_id};2",
         "AttemptId": attempt_id, "Digit": "1"},
        {"Event": "Hangup", "Channel": leg1, "Uniqueid": attempt_id, "Linkedid": attempt_id, "Cause": "16"},
    ]  # fmt: skip
    return answered, ended


async def _value(value: object) -> object:
    return await value if inspect.isawaitable(value) else value


@contextlib.asynccontextmanager
async def running_world(
    tmp_path: Path,
    settings: Settings | None = None,
    wrap: Callable[[Storage], Storage] | None = None,
    start: datetime = MORNING,
) -> AsyncIterator[World]:
    """The service's core running on a FakeClock, with a fake Asterisk whose link is up and reconciled."""
    settings = settings or world_settings(tmp_path)
    storage = await Storage.open(settings.service.db_url)
    if wrap is not None:
        storage = wrap(storage)
    clock = FakeClock(start)
    pbx = FakePbx()
    async with (
        open_runtime(settings, clock=clock, pbx=pbx, storage=storage) as rt,
        asyncio.TaskGroup() as group,
    ):
        tasks = await run_core(rt, group)
        world = World(rt, clock, pbx, tasks)
        try:
            await world.run_until(pbx.linked.is_set, "the link up and reconciled")
            yield world
        finally:
            # Let what is in flight reach its end first: a write cancelled halfway can leave SQLite locked,
            # and stopping releases the dialing lease with a write of its own.
            await asyncio.sleep(0.2)
            await stop_core(rt, tasks)


def replace_store(storage: Storage, name: str, store: object) -> Storage:
    # Which store's type `store` must have depends on `name`, so the change is checked when it is made.
    changes: dict[str, Any] = {name: store}
    return dataclasses.replace(storage, **changes)
