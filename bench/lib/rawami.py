"""A raw AMI client for the benchmarks and the tests: every byte and every frame Asterisk sends, with arrival times.

Independent of `dialer.ami` on purpose: it records and observes what Asterisk itself does, so it must not
share a parsing bug with the code under measurement or under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

Frame = dict[str, str]
FRAME_END = b"\r\n\r\n"


def parse_frame(raw: bytes) -> Frame:
    """One frame's `Key: value` lines; a key given twice keeps its last value."""
    frame: Frame = {}
    for line in raw.decode("utf-8").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            frame[key] = value
        elif line.endswith(":"):
            frame[line[:-1]] = ""
    return frame


@dataclass
class RawAmi:
    """Keeps every received chunk (arrival time, bytes) and every frame that is not the answer to one of its own
    actions (arrival time, frame), and hands each of those frames to the `listeners` as it arrives."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    banner: str
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    events: list[tuple[float, Frame]] = field(default_factory=list)
    listeners: list[Callable[[Frame], None]] = field(default_factory=list)
    closed: bool = False
    _responses: dict[str, asyncio.Future[Frame]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, host: str, port: int) -> RawAmi:
        """Connected, Asterisk's banner read (and kept as the first chunk), not logged in."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        line = await asyncio.wait_for(reader.readline(), 5)
        ami = cls(reader, writer, line.decode("utf-8", "replace").strip())
        ami.chunks.append((time.time(), line))
        ami._task = asyncio.create_task(ami._read_loop())
        return ami

    @classmethod
    async def logged_in(cls, host: str, port: int, username: str, secret: str) -> RawAmi:
        """Connected and logged in as `username`; an error if Asterisk refuses the login."""
        ami = await cls.connect(host, port)
        reply = await ami.login(username, secret)
        if reply.get("Response") != "Success":
            await ami.close()
            raise ConnectionError(f"AMI login as {username!r} refused: {reply.get('Message', '')}")
        return ami

    @property
    def stream(self) -> bytes:
        """Every byte received, the banner included."""
        return b"".join(chunk for _, chunk in self.chunks)

    async def _read_loop(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                now = time.time()  # wall clock: compared with the service's log lines
                self.chunks.append((now, chunk))
                buffer += chunk
                # Split on bytes, decode whole frames: a Cyrillic letter may straddle two TCP reads.
                *frames, buffer = buffer.split(FRAME_END)
                for raw in frames:
                    self._dispatch(now, parse_frame(raw))
        finally:
            self.closed = True
            for future in self._responses.values():
                if not future.done():
                    future.set_exception(ConnectionError("AMI connection closed"))
            self._changed.set()

    def _dispatch(self, now: float, frame: Frame) -> None:
        action_id = frame.get("ActionID", "")
        if "Response" in frame and action_id in self._responses:
            self._responses.pop(action_id).set_result(frame)
        else:
            self.events.append((now, frame))
            for listener in self.listeners:
                listener(frame)
        self._changed.set()

    async def send(self, action: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 10) -> Frame:
        """Send one action and wait for its Response frame."""
        action_id = f"raw{next(self._ids)}"
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        lines = [("Action", action), ("ActionID", action_id), *headers]
        self.writer.write("".join(f"{k}: {v}\r\n" for k, v in lines).encode("utf-8") + b"\r\n")
        await self.writer.drain()
        return await asyncio.wait_for(future, timeout)

    async def login(self, username: str, secret: str) -> Frame:
        """Asterisk's answer to the Login action, accepted or not."""
        return await self.send("Login", [("Username", username), ("Secret", secret)])

    async def setvar(self, name: str, value: str) -> None:
        """Set a global dialplan variable (how the simulated people are told what to do)."""
        reply = await self.send("Setvar", [("Variable", name), ("Value", value)])
        if reply.get("Response") != "Success":
            raise RuntimeError(f"Setvar {name} refused: {reply}")

    async def getvar(self, name: str) -> str:
        """A global dialplan variable's value, empty when unset."""
        reply = await self.send("Getvar", [("Variable", name)])
        return reply.get("Value", "")

    async def wait_for(self, predicate: Callable[[Frame], bool], timeout: float) -> Frame:
        """The first event (already seen or still to come) that matches."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for _, frame in self.events[seen:]:
                if predicate(frame):
                    return frame
            seen = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                raise TimeoutError(f"no matching AMI event within {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def matching(self, predicate: Callable[[Frame], bool]) -> list[Frame]:
        """The events seen so far that match."""
        return [frame for _, frame in self.events if predicate(frame)]

    def hung_up(self, uniqueids: Iterable[str]) -> bool:
        """Whether this link has told the end of every one of these channels: its events trail the calls'."""
        ended = {frame.get("Uniqueid") for _, frame in self.events if frame.get("Event") == "Hangup"}
        return set(uniqueids) <= ended

    async def close(self) -> None:
        """Log off (if the link is still up) and close the socket."""
        if not self.closed:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(self.send("Logoff"), 2)
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
