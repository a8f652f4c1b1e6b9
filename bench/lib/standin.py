"""An Asterisk stand-in for benchmarks that replay AMI bytes into the service in-process: the transport under
the runtime's AMI session, answering every action at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.lib.rawami import parse_frame
from dialer.ami.connection import AmiConnection, AmiProtocol
from dialer.app import Runtime

# What Asterisk 22 answers to the actions the runtime sends during a replay.
ANSWERS = {"Originate": "Originate successfully queued", "Setvar": "Variable Set"}
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def ami_connection(rt: Runtime) -> AmiConnection:
    """The runtime's link to Asterisk as the AMI adapter that `open_runtime` builds for a real installation
    (under the leader's gate)."""
    link = rt.connection.link
    if not isinstance(link, AmiConnection):
        raise TypeError(f"the runtime's PBX link is a {type(link).__name__}, not the AMI adapter")
    return link


def open_session(rt: Runtime, standin: StandIn, *, banner: bool = True) -> AmiProtocol:
    """A logged-in AMI session over the stand-in, made the runtime's live one, as after a connect and login.
    Without `banner` the bytes fed next start with Asterisk's own (a recorded session)."""
    connection = ami_connection(rt)
    session = AmiProtocol(connection)
    standin.attach(session)
    if banner:
        session.data_received(BANNER)
    connection.protocol = session
    connection.ready.set()
    return session


class StandIn(asyncio.Transport):
    """The AMI socket of the runtime's AmiConnection, to an Asterisk that answers every action at once with
    Response: Success. An answer enters the byte stream at a frame boundary, as a real one does: straight
    away while nothing else is being received (`live`), else it waits for the replay to splice it into its
    next chunk after a frame end."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: AmiProtocol | None = None
        self.live = True
        self._pending: list[tuple[str, bytes]] = []
        self.answered: Counter[str] = Counter()
        self.on_answer: Callable[[str], None] = lambda action: None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        fields = parse_frame(bytes(data).rstrip(b"\r\n"))
        action = fields.get("Action", "")
        answer = (
            f"Response: Success\r\nActionID: {fields.get('ActionID', '')}\r\n"
            f"Message: {ANSWERS.get(action, 'Success')}\r\n\r\n"
        )
        self._pending.append((action, answer.encode("utf-8")))
        if self.live:
            asyncio.get_running_loop().call_soon(self.deliver)

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def take(self) -> bytes:
        """The queued answers, as bytes to splice into the stream; counted as delivered."""
        pending, self._pending = self._pending, []
        for action, _ in pending:
            self.answered[action] += 1
            self.on_answer(action)
        return b"".join(answer for _, answer in pending)

    def deliver(self) -> None:
        if self._pending and self.protocol is not None:
            self.protocol.data_received(self.take())

    def attach(self, protocol: AmiProtocol) -> None:
        self.protocol = protocol
        protocol.connection_made(self)

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default
