"""The intake variants short of the full runtime: bare panoramisk (the baseline), dialer's parser, protocol
and tracker."""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol

from bench.intake.stream import OURS
from dialer.ami.connection import AmiProtocol
from dialer.ami.parser import Frame, FrameParser
from dialer.core.clock import SystemClock
from dialer.core.tracker import CallTracker
from dialer.engine.intake import Intake


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
    reads: None = None  # every event parsed whole, as bare panoramisk does

    def link_closed(self, protocol: object, exc: Exception | None) -> None:
        pass

    def originate_answered(self, frame: Frame) -> None:
        """Every OriginateResponse to the sink too, as AmiConnection does with those of its own Originates."""
        self.sink(frame)


def dialer_protocol(sink: Callable[[Frame], None]) -> AmiProtocol:
    protocol = AmiProtocol(SinkFactory(sink))  # type: ignore[arg-type]
    protocol.connection_made(NullTransport())
    return protocol


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
