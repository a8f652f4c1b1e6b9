"""The benchmarks' raw AMI client: every byte and every event Asterisk sends, with arrival times.

Independent of `dialer.ami` on purpose: it records and observes what Asterisk itself does, so it must not
share a parsing bug with the code under measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

Frame = dict[str, str]
FRAME_END = b"\r\n\r\n"


def parse_frame(raw: bytes) -> Frame:
    frame: Frame = {}
    for line in raw.decode("utf-8").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            frame.setdefault(key, value)
        elif line.endswith(":"):
            frame.setdefault(line[:-1], "")
    return frame


@dataclass
class RawAmi:
    """Logs in, keeps every received chunk (arrival time, bytes) and every event (arrival time, frame), and
    hands each event to the `listeners` as it arrives."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    events: list[tuple[float, Frame]] = field(default_factory=list)
    banner: str = ""
    listeners: list[Callable[[Frame], None]] = field(default_factory=list)
    _responses: dict[str, asyncio.Future[Frame]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _task: asyncio.Task[None] | None = None
    closed: bool = False

    @classmethod
    async def connect(cls, host: str, port: int) -> RawAmi:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        ami = cls(reader, writer)
        ami._task = asyncio.create_task(ami._read_loop())
        return ami

    @classmethod
    async def logged_in(cls, host: str, port: int, username: str, secret: str) -> RawAmi:
        """A connection already logged in as `username`."""
        ami = await cls.connect(host, port)
        await ami.login(username, secret)
        return ami

    @property
    def stream(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)

    async def _read_loop(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                now = time.time()  # wall clock: compared with the CLI's log lines
                self.chunks.append((now, chunk))
                buffer += chunk
                if not self.banner:
                    line_end = buffer.find(b"\r\n")
                    if line_end < 0:
                        continue
                    self.banner = buffer[:line_end].decode("utf-8", "replace")
                    buffer = buffer[line_end + 2 :]
                # Split on bytes, decode whole frames: a Cyrillic letter may straddle two TCP reads.
                *frames, buffer = buffer.split(FRAME_END)
                for raw in frames:
                    self._dispatch(now, parse_frame(raw))
        finally:
            self.closed = True
            for future in self._responses.values():
                if not future.done():
                    future.set_exception(ConnectionError("AMI connection closed"))

    def _dispatch(self, now: float, frame: Frame) -> None:
        action_id = frame.get("ActionID", "")
        if "Response" in frame and action_id in self._responses:
            self._responses.pop(action_id).set_result(frame)
        elif "Event" in frame:
            self.events.append((now, frame))
            for listener in self.listeners:
                listener(frame)

    async def send(self, action: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 10) -> Frame:
        action_id = f"bench{next(self._ids)}"
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        lines = [("Action", action), ("ActionID", action_id), *headers]
        self.writer.write("".join(f"{k}: {v}\r\n" for k, v in lines).encode("utf-8") + b"\r\n")
        await self.writer.drain()
        return await asyncio.wait_for(future, timeout)

    async def login(self, username: str, secret: str) -> None:
        reply = await self.send("Login", [("Username", username), ("Secret", secret)])
        if reply.get("Response") != "Success":
            raise ConnectionError(f"AMI login as {username!r} refused: {reply.get('Message', '')}")

    async def setvar(self, name: str, value: str) -> None:
        """Set a global dialplan variable (how the simulated people are told what to do)."""
        reply = await self.send("Setvar", [("Variable", name), ("Value", value)])
        if reply.get("Response") != "Success":
            raise RuntimeError(f"Setvar {name} refused: {reply}")

    async def getvar(self, name: str) -> str:
        """A global dialplan variable's value, empty when unset."""
        reply = await self.send("Getvar", [("Variable", name)])
        return reply.get("Value", "")

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
