"""The service under measurement, in this process: its runtime fed AMI bytes through a stand-in, its pushes
timed."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event

from bench.lib.standin import StandIn, open_session
from bench.web_ami import InboundCall, Timeline
from bench.webdb.volume import (
    INBOUND_CONTEXT,
    QUEUE,
    did_of,
    operator_interface,
)
from dialer.ami.connection import AmiProtocol
from dialer.app import Runtime
from dialer.core.cards import PatientCard, PopupMessage
from dialer.core.ringing import RingFact

TICK = 0.010
# The fact whose handling reads a card: a PhoneRinging's read is on the pop-up's path, a CallerWaiting's is the
# read ahead while the caller waits; any other read (a page's catch-up) is "other".
READ_FOR: contextvars.ContextVar[str] = contextvars.ContextVar("read_for", default="other")


RAMP_SECONDS = 15.0  # background calls last ~13 s: by then the other traffic is at its steady state


WARMUP_POPUPS = 30


@dataclass
class Popup:
    call: str
    user: int  # index of the operator
    due: float  # when its AgentCalled was meant to arrive
    t0: float = 0.0  # handed to data_received
    pushed: float = 0.0  # Popups pushed the card
    lookup: float = 0.0  # seconds in SqlCardStore.card
    received: float = 0.0  # the client got it
    measured: bool = True


@dataclass
class Phase:
    mode: str
    popups: list[Popup]
    wall: float
    cpu: float
    client_cpu: float
    lag: list[float]
    gc_pauses: list[float]
    background_frames: int
    background_bytes: int
    background_calls: int
    lookups: list[float]
    lookups_for: dict[str, list[float]]  # the same by the fact that read the card (READ_FOR)
    poll_rtts: list[float] = field(default_factory=list)
    login_s: float = 0.0
    login_lag: list[float] = field(default_factory=list)
    stalls: list[tuple[float, float, bool]] = field(default_factory=list)
    connects: int = 0  # database connections the pool opened during the phase
    most_in_use: int = 0  # the most connections checked out of the pool at once during the phase
    most_in_use_before: int = 0  # the same from the server's start to the phase: the operators' logins

    def measured(self) -> list[Popup]:
        return [p for p in self.popups if p.measured]

    def missing(self) -> int:
        """Measured pop-ups whose card never reached the operator's client: each one a failure, not a sample."""
        return sum(1 for p in self.measured() if not p.received)

    def latencies(self, *, from_due: bool = False) -> list[float]:
        return [p.received - (p.due if from_due else p.t0) for p in self.measured() if p.received]


class Server:
    """The runtime, its web app on a port, the AMI stand-in, and the bench's feeding and bookkeeping."""

    def __init__(self, rt: Runtime, port: int, phones: list[str], names: list[str], seed: int) -> None:
        self.rt = rt
        self.port = port
        self.phones = phones
        self.names = names
        self.rng = random.Random(seed)
        self.standin = StandIn()
        self.waiting = 0  # measured pop-ups not pushed yet
        self.all_pushed = asyncio.Event()
        self.session: AmiProtocol | None = None
        self.popups: dict[str, Popup] = {}
        self.lag: list[float] = []
        # (lag, CPU the loop's thread used meanwhile, a full collection ran meanwhile)
        self.stalls: list[tuple[float, float, bool]] = []
        self.gc_pauses: list[float] = []
        self._gc_start = 0.0
        self.measured_from = 0.0  # perf_counter of the last reset: a lag sample begun before is the ramp's
        self.seq = 0
        self.id_base = int(time.time())
        self.perf0, self.wall0 = time.perf_counter(), time.time()

    def wall(self, at: float) -> float:
        """The wall-clock time (for the frames' Timestamp) of a perf_counter instant."""
        return self.wall0 + (at - self.perf0)

    def attach(self) -> None:
        self.session = open_session(self.rt, self.standin)
        original = self.rt.popups.push

        def push(user_id: int, message: PopupMessage) -> None:
            popup = self.popups.get(message["call"])
            if popup is not None and not popup.pushed and message["type"] == "card":
                popup.pushed = time.perf_counter()
                if popup.measured:
                    self.waiting -= 1
                    if self.waiting == 0:
                        self.all_pushed.set()
            original(user_id, message)

        self.rt.popups.push = push
        handle = self.rt.popups.handle

        async def handle_marked(fact: RingFact) -> None:
            READ_FOR.set(type(fact).__name__)  # each fact is handled in a task of its own: its context only
            await handle(fact)

        self.rt.popups.handle = handle_marked  # type: ignore[method-assign]
        cards = self.rt.storage.cards
        card = cards.card

        async def timed_card(phone: str, now: datetime, clinic_id: str | None = None) -> PatientCard:
            t0 = time.perf_counter()
            try:
                return await card(phone, now, clinic_id)
            finally:
                self.last_lookup = time.perf_counter() - t0
                self.lookups.append(self.last_lookup)
                self.lookups_for.setdefault(READ_FOR.get(), []).append(self.last_lookup)

        self.lookups: list[float] = []
        self.lookups_for: dict[str, list[float]] = {}
        self.last_lookup = 0.0
        cards.card = timed_card  # type: ignore[method-assign]
        self.connects = 0
        self.in_use = self.most_in_use = self.most_in_use_before = 0
        event.listen(cards.engine.sync_engine, "connect", self.on_connect)
        event.listen(cards.engine.sync_engine, "checkout", self.on_checkout)
        event.listen(cards.engine.sync_engine, "checkin", self.on_checkin)
        gc.callbacks.append(self.on_gc)

    def on_connect(self, *_: object) -> None:
        """The pool opened a connection. Once the ramp has filled the pool, each one is a burst that took them all."""
        self.connects += 1

    def on_checkout(self, *_: object) -> None:
        self.in_use += 1
        self.most_in_use = max(self.most_in_use, self.in_use)

    def on_checkin(self, *_: object) -> None:
        self.in_use -= 1

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks hook: the pauses of the collector while the phase runs."""
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_pauses.append(time.perf_counter() - self._gc_start)

    def reset_measures(self) -> None:
        """Forget what the ramp left in the measures: the phase counts from here."""
        self.measured_from = time.perf_counter()
        self.lag.clear()
        self.stalls.clear()
        self.gc_pauses.clear()
        self.lookups.clear()
        self.lookups_for.clear()
        self.connects = 0
        self.most_in_use_before = max(self.most_in_use_before, self.most_in_use)
        self.most_in_use = self.in_use

    def feed(self, data: bytes) -> None:
        if self.session is None:
            raise RuntimeError("feed before attach: no AMI session yet")
        self.session.data_received(data)

    def new_call(self, user: int) -> InboundCall:
        self.seq += 1
        known = self.rng.random() < 0.9
        phone = self.rng.choice(self.phones) if known else f"+7916{self.rng.randrange(10**7):07d}"
        return InboundCall(
            seq=self.seq,
            linkedid=f"{self.id_base}.{900_000_000 + self.seq}",
            caller=phone.lstrip("+"),
            name=self.rng.choice(self.names) if known else "",
            did=did_of(f"c{1 + user % 4}"),
            queue=QUEUE,
            interface=operator_interface(user),
            member=f"Администратор {user + 1}",
            context=INBOUND_CONTEXT,
        )

    async def monitor_lag(self, stop: asyncio.Event) -> None:
        every = 0.005
        while not stop.is_set():
            t, c, g = time.perf_counter(), time.thread_time(), gc.get_stats()[2]["collections"]
            await asyncio.sleep(every)
            lag = time.perf_counter() - t - every
            if t < self.measured_from:
                continue  # this sleep began before the reset: what blocked it then is the bench's own setup
            self.lag.append(lag)
            if (
                lag > 0.020
            ):  # a stall: was the loop's thread running Python, or waiting (GIL, other processes)?
                self.stalls.append((lag, time.thread_time() - c, gc.get_stats()[2]["collections"] != g))


def schedule_popup(
    server: Server, timeline: Timeline, loop: asyncio.AbstractEventLoop, users: int, at: float, measured: bool
) -> Popup:
    """Queue one pop-up call's frames; its AgentCalled is delivered on its own by a timer at `at`."""
    rng = server.rng
    user = rng.randrange(users)
    call = server.new_call(user)
    popup = Popup(call.linkedid, user, at, measured=measured)
    server.popups[call.linkedid] = popup
    wall = server.wall
    timeline.add(at - 2.0, call.arrive(wall(at - 2.0)))
    agent_called = call.agent_called(wall(at))
    ringing = call.ring(wall(at))

    def deliver() -> None:
        popup.t0 = time.perf_counter()
        server.feed(agent_called)
        loop.call_soon(server.feed, ringing)  # the agent's channel and DialBegin: the next read

    loop.call_at(at, deliver)  # loop.time() is time.monotonic(): the perf_counter clock on Linux
    ring = rng.uniform(2.0, 6.0)
    if rng.random() < 0.75:
        talk = rng.randint(10, 40)
        timeline.add(at + ring, call.answer(wall(at + ring)))
        timeline.add(at + ring + talk, call.hang_up_answered(wall(at + ring + talk), talk))
    else:
        timeline.add(at + ring, call.ring_out(wall(at + ring)))
        timeline.add(at + ring + 0.5, call.abandon(wall(at + ring + 0.5)))
    return popup
