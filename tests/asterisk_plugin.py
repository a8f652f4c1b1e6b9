"""Pytest plugin: the real Asterisk 22 sandbox, and a tiny raw AMI client to talk to it.

The client is deliberately independent of `dialer.ami`: these tests pin down what Asterisk itself does, so
they must not share a bug with the adapter they are meant to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from dialer.sandbox import Sandbox

Frame = dict[str, str]


@dataclass(frozen=True)
class SandboxHandle:
    """What a test needs to reach the running sandbox."""

    sandbox: Sandbox
    host: str
    port: int
    username: str
    secret: str

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """Run an `asterisk -rx` CLI command in the sandbox and return its output."""
        return self.sandbox.rx(command, timeout=timeout)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """The sandbox, built if needed and running; a running one is reused and left running afterwards."""
    box = Sandbox()
    creds = box.up(sys.stderr)
    yield SandboxHandle(box, creds.host, creds.port, creds.username, creds.secret)


def asterisk_rx(handle: SandboxHandle, command: str) -> str:
    return handle.rx(command)


@dataclass
class RawAmi:
    """A raw asyncio AMI client: frames as dicts, every event kept with its arrival time."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    banner: str
    events: list[tuple[float, Frame]] = field(default_factory=list)
    _responses: dict[str, asyncio.Future[Frame]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    closed: bool = False

    @classmethod
    async def connect(cls, host: str, port: int) -> RawAmi:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        banner = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
        ami = cls(reader, writer, banner)
        ami._task = asyncio.create_task(ami._read_loop())
        return ami

    async def _read_loop(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                buffer += chunk
                # Split on bytes, decode whole frames: a Cyrillic letter may straddle two TCP reads.
                while b"\r\n\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n\r\n", 1)
                    self._dispatch(raw.decode("utf-8"))
        finally:
            self.closed = True
            for future in self._responses.values():
                if not future.done():
                    future.set_exception(ConnectionError("AMI connection closed"))
            self._changed.set()

    def _dispatch(self, text: str) -> None:
        frame: Frame = {}
        for line in text.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                frame[key] = value
            elif line.endswith(":"):
                frame[line[:-1]] = ""
        action_id = frame.get("ActionID", "")
        if "Response" in frame and action_id in self._responses:
            self._responses.pop(action_id).set_result(frame)
        else:
            self.events.append((time.monotonic(), frame))
        self._changed.set()

    async def send(self, action: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 10) -> Frame:
        """Send one action and wait for its Response frame."""
        action_id = f"t{next(self._ids)}"
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        lines = [("Action", action), ("ActionID", action_id), *headers]
        self.writer.write("".join(f"{k}: {v}\r\n" for k, v in lines).encode() + b"\r\n")
        await self.writer.drain()
        return await asyncio.wait_for(future, timeout)

    async def login(self, username: str, secret: str) -> Frame:
        return await self.send("Login", [("Username", username), ("Secret", secret)])

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
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    def matching(self, predicate: Callable[[Frame], bool]) -> list[Frame]:
        return [frame for _, frame in self.events if predicate(frame)]

    def hung_up(self, uniqueids: Iterable[str]) -> bool:
        """Whether this link has told the end of every one of these channels: its events trail the calls'."""
        ended = {frame.get("Uniqueid") for _, frame in self.events if frame.get("Event") == "Hangup"}
        return set(uniqueids) <= ended

    async def close(self) -> None:
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
