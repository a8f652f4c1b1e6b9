"""A TCP forwarder on loopback in front of PostgreSQL: the network between a node and its database, which a test
cuts (every connection reset, new ones refused) or freezes (a link dropped silently, as by a firewall)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class TcpLine:
    """`cut` drops every connection and refuses new ones: the node's network to the database is gone, while the
    node itself runs on. `freeze` makes the connections open now pass nothing more, with no FIN and no RST; new
    ones go through. `writes_up` counts the chunks the client side sent, one per round trip of a request."""

    upstream_port: int
    port: int = 0
    cut_done: bool = False
    writes_up: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _frozen: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> TcpLine:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        self.cut_done = True
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def mend(self) -> None:
        """The network is back: new connections go through again."""
        self.cut_done = False

    def freeze(self) -> None:
        self._frozen.update(self._writers)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_done:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    if dst in self._frozen:
                        continue
                    self.writes_up += up
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
