"""The full-runtime variant: the runtime open_runtime builds, fed the recorded stream through its own AMI session."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import aiosqlite.core
from sqlalchemy import text

from bench.intake.seed import bench_settings, place_calls, seed_db, warm_statements
from bench.intake.stream import (
    frame_cuts,
)
from bench.intake.variants import (
    Run,
)
from bench.lib.clinic import ClinicTime
from bench.lib.standin import StandIn, open_session
from dialer.ami.parser import FRAME_END
from dialer.ami.telephony import AmiTelephony
from dialer.app import Runtime, open_runtime
from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.reminders import digit_meaning
from dialer.core.facts import PatientLeg
from dialer.core.records import AttemptRow, Settled
from dialer.storage.repository import Storage
from dialer.storage.schema import installation


class NoopHandler:
    """The reminder campaign's CallHandler with no I/O: the digit's meaning (pure); counts the calls that end."""

    def __init__(self, ended: Callable[[], None]) -> None:
        self.ended = ended

    def digit_pressed(self, attempt: AttemptRow, digit: str, at: datetime) -> Settled:
        meaning = digit_meaning(digit)
        return meaning.settled if meaning is not None else Settled.OPEN

    def patient_leg(self, attempt: AttemptRow, leg: PatientLeg) -> Settled:
        return Settled.OPEN

    def queued(self, attempt: AttemptRow, queue: str, at: datetime) -> None:
        return None

    def finished(self, attempt: AttemptRow) -> None:
        self.ended()


@dataclass
class Progress:
    """What the replay waits for: every call's end committed and told, every AstDB record forgotten, and
    (with the flow) every target's follow-up done; then (replay) every cancelled visit offered to the waiting
    list."""

    calls: int
    flow: bool
    finished: int = 0
    planned: int = 0
    forgotten: int = 0
    batches: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    timer: Timer | None = None

    def check(self) -> None:
        calls_done = self.planned >= self.calls if self.flow else self.finished >= self.calls
        if calls_done and self.forgotten >= self.calls:
            self.done.set()

    def mark(self, label: str) -> None:
        if self.timer is not None:
            self.timer.mark(label)

    def answered(self, action: str) -> None:
        if action == "Setvar":
            self.forgotten += 1
            if self.forgotten == self.calls:
                self.mark("every AstDB record forgotten (Setvar answered)")
            self.check()

    def call_finished(self) -> None:
        self.finished += 1
        if self.finished == self.calls:
            self.mark("every call's end committed and told to the campaign")
        self.check()

    def call_planned(self) -> None:
        self.planned += 1
        if self.planned == self.calls:
            self.mark("every call's follow-up done by ReminderFlow")
        self.check()


def hook(
    obj: object, name: str, before: Callable[..., None] | None = None, after: Callable[[], None] | None = None
) -> None:
    """Wrap one coroutine method of one object: a call to `before` with its arguments, one to `after`."""
    method = getattr(obj, name)

    async def hooked(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before(*args, **kwargs)
        result = await method(*args, **kwargs)
        if after is not None:
            after()
        return result

    setattr(obj, name, hooked)


async def replay(
    rt: Runtime,
    standin: StandIn,
    chunks: Sequence[bytes],
    cuts: Sequence[int | None],
    progress: Progress,
    fed: Callable[[], None] = lambda: None,
) -> None:
    """A fresh AMI session on the runtime's connection receives the stream, chunk by chunk, then the answers."""
    protocol = open_session(rt, standin, banner=False)
    standin.live = False
    for chunk, cut in zip(chunks, cuts, strict=True):
        received = chunk
        if standin.pending and cut is not None:
            received = chunk[:cut] + standin.take() + chunk[cut:]
        protocol.data_received(received)
        await asyncio.sleep(0)  # the event loop runs its other tasks between two socket reads
    fed()
    standin.live = True  # the stream ends at a frame boundary (run_full checks): answers go out as they come
    standin.deliver()
    await progress.done.wait()
    if progress.flow:
        await rt.reminders.freed_slots_offered()
        progress.mark("every cancelled visit offered to the waiting list")


def instrument(rt: Runtime, standin: StandIn, progress: Progress) -> None:
    """Count what the replay waits for; with a timer, time the storage calls and the desk's batches."""
    standin.on_answer = progress.answered
    hook(rt.desk, "apply", before=lambda facts, details=None: progress.batches.append(len(facts)))
    if progress.flow:
        follow_up = rt.reminders.follow_up

        async def counted(batch: Sequence[Any]) -> None:
            await follow_up(batch)
            for work in batch:
                if work.digit is None:
                    progress.call_planned()

        rt.reminders.follow_up = counted  # type: ignore[method-assign]
    else:
        rt.desk.register(NoopHandler(progress.call_finished), (CampaignKind.REMINDERS,))
    if progress.timer is not None:
        progress.timer.wrap_storage(rt.storage)
        progress.timer.wrap(rt.desk, "apply", "desk.apply")


async def recorded_installation(storage: Storage, now: datetime) -> None:
    """The installation id the recorded streams' attempt ids carry: none (bench/intake/stream.py). Made before
    the runtime reads it, so that the desk and the intake take the stream's calls for their own."""
    async with storage.engine.begin() as conn:
        await conn.execute(installation.insert().values(slot=1, installation_id="", created_at=now))


def recorded_sender(rt: Runtime) -> None:
    """The recorded streams' OriginateResponses answer ActionIDs without a sender token (originate/<attempt>):
    the runtime's Originates carry none either, so that it takes those answers for its own."""
    telephony = rt.desk.telephony
    if not isinstance(telephony, AmiTelephony):
        raise TypeError(f"the runtime's telephony is a {type(telephony).__name__}, not the AMI adapter")
    telephony.sender = ""


async def count(rt: Runtime, sql: str) -> int:
    async with rt.storage.engine.connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


async def timed_replay(
    rt: Runtime,
    standin: StandIn,
    chunks: Sequence[bytes],
    progress: Progress,
    profile: cProfile.Profile | None,
) -> tuple[float, float]:
    """The replay with the intake's tasks of `run_core` running; its wall and CPU seconds."""
    cuts = frame_cuts(chunks)
    async with asyncio.TaskGroup() as group:
        loops = (rt.desk, rt.events, rt.reminders, rt.callbacks, rt.inbound, rt.dispatcher)
        tasks = [group.create_task(loop.run()) for loop in loops]
        # Their start-up work (the open callbacks planned again, the freed slots a stop left queued to be
        # offered) comes before the stream, as in service.
        await rt.callbacks.resumed.wait()
        await rt.reminders.resumed.wait()
        gc.collect()
        if profile is not None:
            profile.enable()
        if progress.timer is not None:
            progress.timer.start()
        c0, t0 = time.process_time(), time.perf_counter()
        fed = f"stream fed ({len(chunks)} chunks)"
        await asyncio.wait_for(replay(rt, standin, chunks, cuts, progress, lambda: progress.mark(fed)), 300)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        if profile is not None:
            profile.disable()
        if progress.timer is not None:
            progress.timer.mark("done")
            progress.timer.counting = False
        for task in tasks:
            task.cancel()
    return seconds, cpu


async def run_full(
    chunks: Sequence[bytes],
    attempt_ids: Sequence[str],
    *,
    flow: bool,
    profile: cProfile.Profile | None = None,
    timer: Timer | None = None,
    database_url: str | None = None,
    fast_path: bool = True,
) -> Run:
    if not chunks[-1].endswith(FRAME_END):
        raise ValueError("the stream must end at a frame boundary, for the stand-in's answers to follow it")
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        clinic = ClinicTime.morning()
        settings = bench_settings(Path(tmp), len(attempt_ids), clinic)
        if database_url:  # an empty database elsewhere (PostgreSQL) instead of the SQLite file in `tmp`
            settings = replace(settings, service=replace(settings.service, database_url=database_url))
        clock = clinic.clock()
        storage = await Storage.open(settings.service.db_url)
        await recorded_installation(storage, clock.now())
        async with open_runtime(settings, clock=clock, storage=storage) as rt:
            if not fast_path:  # the attempts' batches through SQLAlchemy, as where no fast path exists
                rt.storage.attempts.batches = None
                rt.storage.reminders.batches = None
            await seed_db(rt.storage, settings, attempt_ids, rt.clock.now())
            recorded_sender(rt)
            standin = StandIn()
            open_session(rt, standin)  # the session the calls are placed on, as after a login
            await place_calls(rt, attempt_ids)
            await warm_statements(rt.storage, attempt_ids)
            logged_before = await count(rt, "select count(*) from attempt_events")
            progress = Progress(len(attempt_ids), flow, timer=timer)
            instrument(rt, standin, progress)
            seconds, cpu = await timed_replay(rt, standin, chunks, progress, profile)
            if rt.events.pending:
                raise RuntimeError(f"{rt.events.pending} log rows left uncommitted")
            # The writes hit real rows: count them.
            return Run(
                seconds,
                cpu,
                rt.intake.tracker.stats.events,
                facts=sum(progress.batches),
                rows=await count(rt, "select count(*) from attempt_events") - logged_before,
                batches=progress.batches,
                ended=await count(rt, "select count(*) from attempts where state = 'ended'"),
                done=await count(rt, "select count(*) from targets where state != 'active'"),
            )


class Timer:
    """For --breakdown: wall time in each storage call, a timeline of the desk's batches, aiosqlite's thread
    round trips; only while the replay's clock runs."""

    CALLS: ClassVar[dict[str, tuple[str, ...]]] = {
        "attempts": ("apply", "create", "get", "history", "append_events"),
        "reminders": (
            "target",
            "set_status",
            "finish",
            "open_admin_task",
            "follow_up_view",
            "write_follow_ups",
        ),
        "due": ("schedule", "finish"),
        "sms": ("for_target",),
    }

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}
        self.spans: list[tuple[str, float, float]] = []  # (label, start, end), from t0
        self.marks: list[tuple[str, float]] = []
        self.hops = 0
        self.t0 = 0.0
        self.counting = False

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.counting = True

    def mark(self, label: str) -> None:
        if self.counting:
            self.marks.append((label, time.perf_counter() - self.t0))

    def wrap_storage(self, storage: Storage) -> None:
        for store, names in self.CALLS.items():
            for name in names:
                if hasattr(getattr(storage, store), name):
                    self.wrap(getattr(storage, store), name, f"{store}.{name}")

    def wrap(self, obj: object, name: str, label: str) -> None:
        method = getattr(obj, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                t1 = time.perf_counter()
                if self.counting:
                    entry = self.stats.setdefault(label, [0, 0.0])
                    entry[0] += 1
                    entry[1] += t1 - t0
                    self.spans.append((label, t0 - self.t0, t1 - self.t0))

        setattr(obj, name, timed)

    def count_hops(self) -> Callable[[], None]:
        """Count aiosqlite's hand-offs to its thread (every cursor call, fetch, commit, rollback...)."""
        cls: Any = aiosqlite.core.Connection
        original = cls._execute

        async def counted(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            if self.counting:
                self.hops += 1
            return await original(conn, fn, *args, **kwargs)

        cls._execute = counted

        def restore() -> None:
            cls._execute = original

        return restore
