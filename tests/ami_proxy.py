"""A TCP proxy between the service and Asterisk's AMI that a test can cut, to drop the link on cue."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class AmiProxy:
    """Forwards bytes both ways. `cut_after_originate` drops every connection right after an Originate
    action has been forwarded to Asterisk, before its answer can come back; `refuse_for` then keeps
    refusing new connections for that many seconds."""

    upstream_host: str
    upstream_port: int
    cut_after_originate: bool = False
    refuse_for: float = 0.0
    originates_forwarded: int = 0
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _refuse_until: float = 0.0
    frozen_upto: int = 0  # connections numbered up to this are dead links: open, but nothing passes
    _pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = field(default_factory=list)

    async def start(self) -> AmiProxy:
        self.cut_done = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()

    def cut(self, refuse_for: float) -> None:
        """Drop every connection now, and refuse new ones for `refuse_for` seconds (until `reopen`)."""
        self._refuse_until = asyncio.get_running_loop().time() + refuse_for
        self.drop_all()

    def reopen(self) -> None:
        self._refuse_until = 0.0

    def freeze(self) -> None:
        """Make every current connection a dead link: no bytes pass, no FIN, no RST."""
        self.frozen_upto = self.connections

    def drop_all(self) -> None:
        for a, b in self._pairs:
            a.close()
            b.close()
        self._pairs.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._refuse_until:
            writer.close()
            return
        self.connections += 1
        number = self.connections
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        self._pairs.append((writer, up_writer))
        await asyncio.gather(
            self._client_to_server(number, reader, up_writer),
            self._server_to_client(number, up_reader, writer),
            return_exceptions=True,
        )
        writer.close()
        up_writer.close()

    async def _client_to_server(
        self, number: int, reader: asyncio.StreamReader, up: asyncio.StreamWriter
    ) -> None:
        buffer = b""
        while data := await reader.read(65536):
            if number <= self.frozen_upto:
                continue
            buffer += data
            while b"\r\n\r\n" in buffer:
                frame, buffer = buffer.split(b"\r\n\r\n", 1)
                up.write(frame + b"\r\n\r\n")
                await up.drain()
                if b"Action: Originate" in frame:
                    self.originates_forwarded += 1
                    if self.cut_after_originate:
                        self.cut_after_originate = False
                        self._refuse_until = asyncio.get_running_loop().time() + self.refuse_for
                        self.drop_all()
                        self.cut_done.set()
                        return

    async def _server_to_client(
        self, number: int, up: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while data := await up.read(65536):
            if number <= self.frozen_upto:
                continue
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
