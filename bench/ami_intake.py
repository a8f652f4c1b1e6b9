"""AMI intake throughput: dialer's whole intake against bare panoramisk, on the same recorded bytes.

    .venv/bin/python -m bench.ami_intake                       # both recorded streams, 5 rounds each
    .venv/bin/python -m bench.ami_intake --stream ami_dialer_user.bin.gz --rounds 7
    .venv/bin/python -m bench.ami_intake --breakdown            # batches, storage calls, thread hops
    .venv/bin/python -m bench.ami_intake --profile full         # cProfile of one full-intake replay

Every variant is fed the same list of chunks (1-8 KiB, cut at random byte offsets with a fixed seed, so
frames and Cyrillic letters straddle chunk boundaries as they do on TCP), in the same process, the variants
alternating round by round; the table shows each variant's median.

  panoramisk        panoramisk 1.4's AMIProtocol.data_received, wired to a Manager exactly as
                    Manager.connection_made wires it, with a '*' event callback that does nothing: its
                    decode + split + Message construction + dispatch. The baseline.
  dialer parser     dialer.ami.parser.FrameParser.feed, each frame handed to a no-op.
  dialer protocol   dialer.ami.connection.AmiProtocol.data_received (parser + routing) into a no-op sink.
  dialer tracker    AmiProtocol -> Intake.feed -> CallTracker: facts queued, nobody consuming them.
  dialer full       the runtime dialer/app.py `open_runtime` builds (Storage on a real SQLite file, Intake
                    with the call and inbound trackers, AmiConnection, AmiTelephony, CallDesk, EventLog,
                    ReminderFlow, ...), with the tasks `run_core` starts that take part in the intake
                    running: CallDesk.run (facts in batches, one commit per batch; its forget-outcome task),
                    EventLog.run, ReminderFlow.run, CallbackFlow.run, InboundDesk.run, AdminDispatcher.run.
                    The stream goes through AmiProtocol.data_received of the runtime's own AmiConnection,
                    whose socket is a stand-in for an Asterisk that answers every action at once (the
                    Setvar DB_DELETE of each finished call is a real AMI round trip through the connection,
                    its answer spliced into the byte stream at a frame boundary). The attempts are placed
                    before the clock starts, through the product's own dial path (ReminderFlow.run_dial ->
                    CallDesk.place: attempt row committed as "dialing", registered in the desk's memory and
                    the tracker, Originate answered by the stand-in). The reminder campaign's CallHandler is
                    replaced by a no-op (digit meaning only, no I/O). Timed until every call's end is
                    committed and the campaign told, and every AstDB record forgotten.
  dialer full+flow  the same with the runtime's real ReminderFlow as the handler, timed until its work queue
                    is drained too (each patient's answer written, each target's next step planned).

Not started, since a replay has no use for them: the worker (nothing is due; it waits for a reconcile that
only a live link triggers), the lease, the seen-mark and the tracker-expiry timers (1-10 s ticks).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import gzip
import io
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import aiosqlite.core
from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from sqlalchemy import delete, insert, text

from bench.campaign import CYRILLIC_CALLER_ID, ClinicMorning
from bench.lib.standin import StandIn, open_session
from dialer.ami.connection import AmiProtocol
from dialer.ami.parser import FRAME_END, Frame, FrameParser
from dialer.app import OurAttempts, Runtime, open_runtime
from dialer.campaigns.planner import Settled
from dialer.campaigns.reminders import CAMPAIGN, digit_meaning
from dialer.core.clock import SystemClock
from dialer.core.facts import PatientLeg
from dialer.core.ids import AttemptId
from dialer.core.outcomes import classify
from dialer.core.tracker import CallTracker
from dialer.engine.intake import Intake
from dialer.engine.model import (
    AttemptBatch,
    AttemptEnd,
    AttemptRow,
    AttemptState,
    DueTask,
    EventRow,
    TaskKind,
)
from dialer.settings import Settings, parse_settings
from dialer.storage.repository import Storage
from dialer.storage.schema import appointments, attempt_events, patients, targets
from dialer.storage.schema import attempts as attempts_table

# The recorded streams' attempt ids carry no installation id (they are read as installation "").
OURS = OurAttempts("")

DATA = Path(__file__).resolve().parent / "data"
STREAMS = ("ami_read_all.bin.gz", "ami_dialer_user.bin.gz")
BASELINE = "panoramisk"
FULL = "dialer full"


# -- the stream -----------------------------------------------------------------------------------


def load_stream(name: str) -> bytes:
    path = Path(name) if Path(name).exists() else DATA / name
    return gzip.decompress(path.read_bytes())


def tcp_chunks(stream: bytes, seed: int = 20261125, low: int = 1024, high: int = 8192) -> list[bytes]:
    rng = random.Random(seed)
    chunks = []
    at = 0
    while at < len(stream):
        size = rng.randint(low, high)
        chunks.append(stream[at : at + size])
        at += size
    return chunks


def count_events(stream: bytes) -> int:
    # lstrip: Asterisk ends some TestEvent frames with one CRLF too many (seen on 22.10).
    return sum(1 for frame in stream.split(b"\r\n\r\n") if frame.lstrip(b"\r\n").startswith(b"Event: "))


def stream_attempts(stream: bytes) -> list[str]:
    """The attempt ids (first legs) of the calls in the stream, in order of appearance."""
    seen: dict[str, None] = {}
    for line in stream.split(b"\r\n"):
        if line.startswith(b"Uniqueid: "):
            value = line[10:].decode("utf-8", "replace")
            if OURS.is_ours(value):
                seen.setdefault(value)
    return list(seen)


# -- a stand-in for the socket --------------------------------------------------------------------


class NullTransport(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


@dataclass
class SinkFactory:
    """What AmiProtocol needs of its AmiConnection during data_received."""

    sink: Callable[[Frame], None]
    recorder: None = None

    def link_closed(self, protocol: object, exc: Exception | None) -> None:
        pass


def dialer_protocol(sink: Callable[[Frame], None]) -> AmiProtocol:
    protocol = AmiProtocol(SinkFactory(sink))  # type: ignore[arg-type]
    protocol.connection_made(NullTransport())
    return protocol


# -- the variants ---------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu: float
    seen: int  # events the variant's own callback/sink saw (a sanity check)
    facts: int = 0
    rows: int = 0
    batches: list[int] | None = None  # facts per batch the desk committed
    ended: int = 0  # attempts in state "ended" in the database afterwards
    done: int = 0  # reminder targets closed in the database afterwards (full+flow)


def timed_sync(feed: Callable[[], int]) -> Run:
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    seen = feed()
    return Run(time.perf_counter() - t0, time.process_time() - c0, seen)


async def run_panoramisk(chunks: Sequence[bytes]) -> Run:
    manager = Manager(loop=asyncio.get_running_loop(), encoding="utf8", ping_delay=0, ping_interval=0)
    seen = 0

    def on_event(_manager: Manager, _event: object) -> None:
        nonlocal seen
        seen += 1

    manager.register_event("*", on_event)
    protocol = AMIProtocol()
    protocol.connection_made(NullTransport())
    # What Manager.connection_made does once the socket is up.
    manager.protocol = protocol
    protocol.queue = deque()
    protocol.factory = manager
    protocol.log = manager.log
    protocol.config = manager.config
    protocol.encoding = manager.encoding = manager.config["encoding"]
    manager.responses = protocol.responses = {}

    def feed() -> int:
        for chunk in chunks:
            protocol.data_received(chunk)
        return seen

    run = timed_sync(feed)
    await asyncio.sleep(0)  # lets the FullyBooted coroutine panoramisk scheduled run out
    return run


async def run_parser(chunks: Sequence[bytes]) -> Run:
    parser = FrameParser()

    def noop(frame: Frame) -> None:
        pass

    def feed() -> int:
        n = 0
        for chunk in chunks:
            for frame in parser.feed(chunk):
                noop(frame)
                n += 1
        return n

    return timed_sync(feed)


async def run_protocol(chunks: Sequence[bytes]) -> Run:
    seen = 0

    def sink(frame: Frame) -> None:
        nonlocal seen
        seen += 1

    protocol = dialer_protocol(sink)

    def feed() -> int:
        for chunk in chunks:
            protocol.data_received(chunk)
        return seen

    return timed_sync(feed)


async def run_tracker(chunks: Sequence[bytes], attempt_ids: Sequence[str]) -> Run:
    intake = Intake(CallTracker(is_attempt_id=OURS.is_ours), SystemClock().now)
    for attempt_id in attempt_ids:
        intake.tracker.expect(attempt_id)
    protocol = dialer_protocol(intake.feed)

    def feed() -> int:
        for chunk in chunks:
            protocol.data_received(chunk)
        return intake.tracker.stats.events

    run = timed_sync(feed)
    run.facts = intake.facts.qsize()
    return run


# -- the product as dialer/app.py wires it ----------------------------------------------------------

TRUNK = "sim"
CLINIC = "c1"
# What Asterisk 22 answers to the actions the runtime sends during a replay.


def phone_of(target: int) -> str:
    return f"+7916{target:07d}"


def bench_settings(home: Path, calls: int, clinic: ClinicMorning) -> Settings:
    """One clinic on its morning (the runtime gets `clinic.clock()`), a calling window open now, one attempt
    per patient, a trunk wide and fast enough that placing the stream's calls before the clock starts takes
    no time."""
    local = clinic.local_now()
    return parse_settings(
        {
            "service": {"data_dir": str(home)},
            "ami": {"host": "127.0.0.1", "secret": "bench"},  # never connected: the replay feeds the protocol
            "trunks": {
                TRUNK: {
                    "dial": "Local/{number}@patients",
                    "max_channels": calls,
                    "calls_per_second": 1e6,
                    "ring_timeout": "20s",
                    "caller_id": CYRILLIC_CALLER_ID,
                }
            },
            "clinics": [
                {
                    "id": CLINIC,
                    "name": "Клиника «Улыбка»",
                    "timezone": str(local.tzinfo),
                    "phone": "+7 495 123-45-67",
                    "trunk": TRUNK,
                    "skip_holidays": False,
                }
            ],
            "campaigns": {
                "reminders": {
                    "windows": [
                        {
                            "start": (local - timedelta(minutes=2)).strftime("%H:%M:%S"),
                            "end": (local + timedelta(hours=2)).strftime("%H:%M:%S"),
                            "attempts": 1,
                        }
                    ],
                    "same_day_confirmation": False,
                    "sms_when_not_reached": False,
                }
            },
            "sms": {"provider": "none"},
        }
    )


async def seed_db(storage: Storage, settings: Settings, attempt_ids: Sequence[str], now: datetime) -> None:
    """Patients, tomorrow's appointments and their reminder targets, with the stream's target ids."""
    tz = settings.clinic(CLINIC).timezone
    local = now.astimezone(tz)
    visit = datetime.combine(local.date() + timedelta(days=1), local.time().replace(microsecond=0), tz)
    ids = [AttemptId.parse(a) for a in attempt_ids]
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(patients),
            [
                {
                    "clinic_id": CLINIC,
                    "patient_id": f"P{a.target}",
                    "name": f"Пациентова Анна {a.target}",
                    "phone": phone_of(a.target),
                    "consent_call": True,
                    "consent_sms": True,
                    "do_not_call": False,
                    "updated_at": now,
                }
                for a in ids
            ],
        )
        await conn.execute(
            insert(appointments),
            [
                {
                    "clinic_id": CLINIC,
                    "appointment_id": f"B{a.target}",
                    "patient_id": f"P{a.target}",
                    "visit_at": visit.astimezone(UTC),
                    "visit_day": visit.date(),
                    "doctor": "Иванова Мария Петровна",
                    "specialty": "",
                    "high_value": False,
                    "reminder_status": "pending",
                    "imported_at": now,
                    "updated_at": now,
                }
                for a in ids
            ],
        )
        await conn.execute(
            insert(targets),
            [
                {
                    "target_id": a.target,
                    "clinic_id": CLINIC,
                    "campaign": CAMPAIGN,
                    "subject_id": f"B{a.target}",
                    "patient_id": f"P{a.target}",
                    "phone": phone_of(a.target),
                    "state": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for a in ids
            ],
        )


def frame_cuts(chunks: Sequence[bytes]) -> list[int | None]:
    """For each chunk, the offset just after the first frame end in it (None: no frame ends in it)."""
    stream = b"".join(chunks)
    ends: list[int] = []
    at = stream.find(b"\r\n") + 2  # the greeting line
    while (i := stream.find(FRAME_END, at)) >= 0:
        at = i + len(FRAME_END)
        ends.append(at)
    cuts: list[int | None] = []
    base = k = 0
    for chunk in chunks:
        while k < len(ends) and ends[k] < base:
            k += 1
        cuts.append(ends[k] - base if k < len(ends) and ends[k] <= base + len(chunk) else None)
        base += len(chunk)
    return cuts


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
    (with the flow) every target's follow-up done."""

    calls: int
    flow: bool
    finished: int = 0
    planned: int = 0
    forgotten: int = 0
    batches: list[int] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        calls_done = self.planned >= self.calls if self.flow else self.finished >= self.calls
        if calls_done and self.forgotten >= self.calls:
            self.done.set()


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


async def place_calls(rt: Runtime, attempt_ids: Sequence[str]) -> None:
    """Dial the stream's attempts the way the worker does (ReminderFlow.run_dial -> CallDesk.place)."""
    now = rt.clock.now()
    for attempt_id in attempt_ids:
        target = AttemptId.parse(attempt_id).target
        await rt.reminders.run_dial(
            DueTask(f"dial:{attempt_id}", CLINIC, TaskKind.DIAL, CAMPAIGN, target, now)
        )
    if rt.desk.in_flight != len(attempt_ids):
        raise RuntimeError(
            f"placed {rt.desk.in_flight} of {len(attempt_ids)} calls: the calling window is "
            "not open? (see bench_settings)"
        )


async def warm_statements(storage: Storage, attempt_ids: Sequence[str]) -> None:
    """Warm AttemptStore.apply up as a long-running service has it after its first calls (each replay opens a
    new Storage): on SQLite its own connection opened and its statements in sqlite3's statement cache
    (dialer/storage/fastbatch.py), elsewhere compiled into the engine's cache. Two attempts of the first
    target, made up for it, go through a batch (two rows each, as executemany is cached apart from a single
    execute), and are deleted again."""
    now = datetime.now(UTC)
    target = AttemptId.parse(attempt_ids[0]).target
    rows = [
        AttemptRow(
            attempt_id=f"{CAMPAIGN}:{target}:{n}",
            clinic_id=CLINIC,
            target_id=target,
            n=n,
            phone=phone_of(target),
            trunk=TRUNK,
            state=AttemptState.DIALING,
            created_at=now,
        )
        for n in (98, 99)
    ]
    for row in rows:
        await storage.attempts.create(row)
    ids = [row.attempt_id for row in rows]
    result = classify(answered=True, reason=4, cause=16)
    await storage.attempts.apply(
        AttemptBatch(
            answered=[(a, now) for a in ids],
            digits=[(a, "1", Settled.OPEN) for a in ids],
            legs=[(a, "Up", Settled.OPEN) for a in ids],
            ends=[AttemptEnd(a, now, 4, 16, result, True, a) for a in ids],
        ),
        [EventRow(CLINIC, a, now, "warm-up") for a in ids],
    )
    async with storage.engine.begin() as conn:
        await conn.execute(delete(attempt_events).where(attempt_events.c.attempt_id.in_(ids)))
        await conn.execute(delete(attempts_table).where(attempts_table.c.attempt_id.in_(ids)))


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


async def run_full(
    chunks: Sequence[bytes],
    attempt_ids: Sequence[str],
    *,
    flow: bool,
    profile: cProfile.Profile | None = None,
    timer: Timer | None = None,
) -> Run:
    cuts = frame_cuts(chunks)
    if not chunks[-1].endswith(FRAME_END):
        raise ValueError("the stream must end at a frame boundary, for the stand-in's answers to follow it")
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        clinic = ClinicMorning.of()
        settings = bench_settings(Path(tmp), len(attempt_ids), clinic)
        async with open_runtime(settings, clock=clinic.clock()) as rt:
            await seed_db(rt.storage, settings, attempt_ids, rt.clock.now())
            standin = StandIn()
            open_session(rt, standin)  # the session the calls are placed on, as after a login
            await place_calls(rt, attempt_ids)
            await warm_statements(rt.storage, attempt_ids)
            async with rt.storage.engine.connect() as conn:
                logged_before = await conn.scalar(text("select count(*) from attempt_events"))
            progress = Progress(len(attempt_ids), flow)

            def mark(label: str) -> None:
                if timer is not None:
                    timer.mark(label)

            def answered(action: str) -> None:
                if action == "Setvar":
                    progress.forgotten += 1
                    if progress.forgotten == progress.calls:
                        mark("every AstDB record forgotten (Setvar answered)")
                    progress.check()

            def finished() -> None:
                progress.finished += 1
                if progress.finished == progress.calls:
                    mark("every call's end committed and told to the campaign")
                progress.check()

            def planned() -> None:
                progress.planned += 1
                if progress.planned == progress.calls:
                    mark("every call's follow-up done by ReminderFlow")
                progress.check()

            standin.on_answer = answered
            hook(rt.desk, "apply", before=lambda facts, details=None: progress.batches.append(len(facts)))
            if flow:
                hook(rt.reminders, "plan", after=planned)
            else:
                rt.desk.handlers[CAMPAIGN] = NoopHandler(finished)
            if timer is not None:
                timer.wrap_storage(rt.storage)
                timer.wrap(rt.desk, "apply", "desk.apply")
            gc.collect()
            if profile is not None:
                profile.enable()
            if timer is not None:
                timer.start()
            c0, t0 = time.process_time(), time.perf_counter()
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(coro)
                    for coro in (
                        rt.desk.run(),
                        rt.events.run(),
                        rt.reminders.run(),
                        rt.callbacks.run(),
                        rt.inbound.run(),
                        rt.dispatcher.run(),
                    )
                ]
                await asyncio.wait_for(
                    replay(
                        rt,
                        standin,
                        chunks,
                        cuts,
                        progress,
                        lambda: mark(f"stream fed ({len(chunks)} chunks)"),
                    ),
                    300,
                )
                seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                if profile is not None:
                    profile.disable()
                if timer is not None:
                    timer.mark("done")
                    timer.counting = False
                for task in tasks:
                    task.cancel()
            async with rt.storage.engine.connect() as conn:  # the writes hit real rows: count them
                ended = await conn.scalar(text("select count(*) from attempts where state = 'ended'"))
                logged = await conn.scalar(text("select count(*) from attempt_events"))
                closed = await conn.scalar(text("select count(*) from targets where state != 'active'"))
            if rt.events.pending:
                raise RuntimeError(f"{rt.events.pending} log rows left uncommitted")
            return Run(
                seconds,
                cpu,
                rt.intake.tracker.stats.events,
                facts=sum(progress.batches),
                rows=int(logged or 0) - int(logged_before or 0),
                batches=progress.batches,
                ended=int(ended or 0),
                done=int(closed or 0),
            )


class Timer:
    """For --breakdown: wall time in each storage call, a timeline of the desk's batches, aiosqlite's thread
    round trips; only while the replay's clock runs."""

    CALLS: ClassVar[dict[str, tuple[str, ...]]] = {
        "attempts": ("apply", "create", "get", "history", "append_events"),
        "reminders": ("target", "set_status", "finish", "open_admin_task"),
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


Variant = Callable[[], Awaitable[Run]]


def variants(chunks: Sequence[bytes], attempt_ids: Sequence[str], with_flow: bool) -> dict[str, Variant]:
    table: dict[str, Variant] = {
        BASELINE: lambda: run_panoramisk(chunks),
        "dialer parser": lambda: run_parser(chunks),
        "dialer protocol": lambda: run_protocol(chunks),
        "dialer tracker": lambda: run_tracker(chunks, attempt_ids),
        FULL: lambda: run_full(chunks, attempt_ids, flow=False),
    }
    if with_flow:
        table["dialer full+flow"] = lambda: run_full(chunks, attempt_ids, flow=True)
    return table


async def measure(name: str, rounds: int, with_flow: bool) -> None:
    stream = load_stream(name)
    chunks = tcp_chunks(stream)
    attempt_ids = stream_attempts(stream)
    events = count_events(stream)
    table = variants(chunks, attempt_ids, with_flow)
    runs: dict[str, list[Run]] = {v: [] for v in table}
    await table[FULL]()  # warm-up: imports, SQLAlchemy's statement cache, first migrations
    for _ in range(rounds):
        for variant, run in table.items():
            runs[variant].append(await run())
    base = statistics.median(r.seconds for r in runs[BASELINE])
    print(
        f"\n{name}: {len(stream):,} bytes in {len(chunks)} chunks of 1-8 KiB, {events:,} events, "
        f"{len(attempt_ids)} calls, {sum(b >= 0x80 for b in stream):,} non-ASCII bytes; "
        f"median of {rounds} alternating rounds"
    )
    print(
        f"  {'variant':<21}{'seen':>8}{'seconds':>10}{'events/s':>11}{'vs panoramisk':>15}"
        f"{'CPU s':>8}{'facts':>7}{'ended':>7}{'log rows':>9}{'closed':>8}"
    )
    for variant, rs in runs.items():
        seconds = statistics.median(r.seconds for r in rs)
        cpu = statistics.median(r.cpu for r in rs)
        last = rs[-1]
        print(
            f"  {variant:<21}{last.seen:>8,}{seconds:>10.4f}{events / seconds:>11,.0f}{base / seconds:>15.2f}"
            f"{cpu:>8.3f}{last.facts or '':>7}{last.ended or '':>7}{last.rows or '':>9}{last.done or '':>8}"
        )
    for variant, rs in runs.items():
        if rs[-1].batches:
            rounds_ms = ", ".join(f"{1000 * r.seconds:.1f}" for r in rs)
            commits = ", ".join(str(len(r.batches or [])) for r in rs)
            print(f"  {variant}: rounds {rounds_ms} ms; batches committed {commits}")
    panoramisk_ok, dialer_ok, names = cyrillic_intact(chunks)
    print(
        f"  CallerIDName intact after chunking: panoramisk {panoramisk_ok:,} of {names:,} events, "
        f"dialer {dialer_ok:,} of {names:,}"
    )
    full = statistics.median(r.seconds for r in runs[FULL])
    verdict = "met" if base / full >= 1.0 else "MISSED"
    print(f"  ratio full intake / bare panoramisk (events/s): {base / full:.2f}  (target >= 1.0: {verdict})")


def cyrillic_intact(chunks: Sequence[bytes]) -> tuple[int, int, int]:
    """How many events kept the Cyrillic CallerIDName whole: panoramisk decodes each chunk on its own."""
    expected = "Смирнова Анна"
    names = panoramisk_ok = 0
    for frame in FrameParser().feed(b"".join(chunks)):
        names += frame.get("CallerIDName") == expected
    parser = FrameParser()
    dialer_ok = sum(f.get("CallerIDName") == expected for chunk in chunks for f in parser.feed(chunk))
    protocol = AMIProtocol()
    protocol.connection_made(NullTransport())

    class Counter:
        def dispatch(self, message: Any) -> None:
            nonlocal panoramisk_ok
            panoramisk_ok += message.get("CallerIDName") == expected

    protocol.factory, protocol.encoding = Counter(), "utf8"
    for chunk in chunks:
        protocol.data_received(chunk)
    return panoramisk_ok, dialer_ok, names


async def profile_full(name: str, flow: bool, top: int) -> None:
    stream = load_stream(name)
    chunks, attempt_ids = tcp_chunks(stream), stream_attempts(stream)
    await run_full(chunks, attempt_ids, flow=flow)
    profile = cProfile.Profile()
    run = await run_full(chunks, attempt_ids, flow=flow, profile=profile)
    print(
        f"{name}: full intake{'+flow' if flow else ''} under cProfile: {run.seconds:.3f} s "
        f"(profiling inflates it), {run.facts} facts in {len(run.batches or [])} batches, {run.rows} log rows"
    )
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(out.getvalue())


async def breakdown(name: str, flow: bool) -> None:
    """Where one full replay's wall time goes: batches, storage calls, aiosqlite's thread round trips."""
    stream = load_stream(name)
    chunks, attempt_ids = tcp_chunks(stream), stream_attempts(stream)
    await run_full(chunks, attempt_ids, flow=flow)
    timer = Timer()
    restore = timer.count_hops()
    try:
        run = await run_full(chunks, attempt_ids, flow=flow, timer=timer)
    finally:
        restore()
    sizes = run.batches or [0]
    print(
        f"\n{name}: full intake{' + ReminderFlow' if flow else ''}: {run.seconds:.3f} s, {run.facts} facts "
        f"in {len(sizes)} batches (facts per batch median {statistics.median(sizes):.0f}, max {max(sizes)}), "
        f"{timer.hops:,} aiosqlite thread round trips ({timer.hops / max(run.facts, 1):.1f} per fact)"
    )
    print("  timeline, ms from the first chunk (desk batches and their commits; marks):")
    sizes_left = list(run.batches or [])
    lines: list[tuple[float, str]] = [
        (at, f"{1000 * at:8.2f}            {label}") for label, at in timer.marks
    ]
    for label, t0, t1 in timer.spans:
        if label == "desk.apply":
            what = f"desk batch of {sizes_left.pop(0) if sizes_left else '?'} facts"
        elif label == "attempts.apply":
            what = "  AttemptStore.apply (one transaction)"
        else:
            continue
        lines.append((t0, f"{1000 * t0:8.2f} -{1000 * t1:8.2f}  {what} ({1000 * (t1 - t0):.2f} ms)"))
    for _, line in sorted(lines)[:40]:
        print(f"    {line}")
    print("  wall time inside each call (they overlap: the desk's and the flow's run side by side)")
    for key, (calls, seconds) in sorted(timer.stats.items(), key=lambda kv: -kv[1][1]):
        print(f"    {key:<30}{int(calls):>6} calls {seconds:>8.3f} s {1000 * seconds / calls:>7.3f} ms each")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stream", action="append", help=f"a recorded stream in bench/data (default: {STREAMS})")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-flow", action="store_true", help="skip the full+ReminderFlow variant")
    p.add_argument("--breakdown", action="store_true", help="batches and storage calls of one replay instead")
    p.add_argument("--profile", choices=("full", "flow"), help="cProfile one replay instead of the table")
    p.add_argument("--top", type=int, default=35)
    args = p.parse_args(argv)
    names = args.stream or list(STREAMS)
    print(f"ami_intake, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}")
    for name in names:
        if args.profile:
            asyncio.run(profile_full(name, args.profile == "flow", args.top))
        elif args.breakdown:
            asyncio.run(breakdown(name, flow=False))
            if not args.no_flow:
                asyncio.run(breakdown(name, flow=True))
        else:
            asyncio.run(measure(name, args.rounds, not args.no_flow))


if __name__ == "__main__":
    main()
