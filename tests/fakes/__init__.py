"""Local stand-ins for the SMS gateways: HTTP servers speaking the real APIs, for tests and the demo.

Each runs in-process (`async with FakeTwilio() as fake: ...`, then `fake.url`, `fake.messages`) or as a
process (`python -m tests.fakes.twilio_server --port 8765`), which prints one line when it is ready.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from dialer.core.privacy import mask_phone

__all__ = [
    "CallbackAttempt",
    "CallbackReceiver",
    "FakeGatewayServer",
    "ReceivedCallback",
    "free_port",
    "mask_phone",
    "run_standalone",
]

log = logging.getLogger("tests.fakes")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class CallbackAttempt:
    """One delivery report the fake posted: to where, what, and how the receiver answered."""

    url: str
    form: Mapping[str, str]
    http_status: int | None  # None: the receiver could not be reached
    error: str = ""


class FakeGatewayServer:
    """An aiohttp server on a real socket, plus the background work that moves messages along."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.callbacks: list[CallbackAttempt] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._failures: list[int] = []  # HTTP statuses for the next creates
        self._drops = 0  # next creates accepted, then the connection is cut before the answer

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def build_app(self) -> web.Application:
        raise NotImplementedError

    async def start(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # Failure injection -------------------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` creates are refused with HTTP `status` (500, 503, 429…); nothing is sent."""
        self._failures.extend([status] * count)

    def drop_next(self, count: int = 1) -> None:
        """The next `count` creates are accepted (the message goes out) but the connection is cut before the
        answer: the client cannot know whether it was sent."""
        self._drops += count

    def take_injected_failure(self) -> int | None:
        return self._failures.pop(0) if self._failures else None

    def take_drop(self) -> bool:
        if self._drops <= 0:
            return False
        self._drops -= 1
        return True

    # Background work ---------------------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every message has reached its final status and every report has been posted."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def post_callback(self, url: str, form: Mapping[str, str], headers: Mapping[str, str]) -> None:
        if self._session is None:
            return
        try:
            async with self._session.post(url, data=dict(form), headers=dict(headers)) as response:
                await response.read()
                attempt = CallbackAttempt(url, dict(form), response.status)
        except (aiohttp.ClientError, OSError) as exc:
            attempt = CallbackAttempt(url, dict(form), None, type(exc).__name__)
        self.callbacks.append(attempt)


@dataclass(frozen=True)
class ReceivedCallback:
    """A delivery report as our web layer would see it: the URL it was posted to, headers and form."""

    url: str
    headers: Mapping[str, str]
    form: Mapping[str, str]


class CallbackReceiver(FakeGatewayServer):
    """Stands where the dialer's web app receives delivery reports: it records every POST and answers 200."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.received: list[ReceivedCallback] = []
        self._arrived = asyncio.Condition()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._record)
        return app

    async def _record(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        report = ReceivedCallback(str(request.url), dict(request.headers), form)
        async with self._arrived:
            self.received.append(report)
            self._arrived.notify_all()
        return web.Response(text="ok")

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedCallback]:
        """The first `count` reports, waiting for them to arrive."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received[:count]


async def abort_connection(request: web.Request) -> web.StreamResponse:
    """Cut the client's connection without an answer, as a lost response looks from the client's side."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp notices the closed transport and writes nothing.
    return web.Response(status=204)


def standalone_parser(description: str, default_port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    parser.add_argument("--step-delay", type=float, default=0.2, help="seconds between status changes")
    parser.add_argument(
        "--undelivered-suffix", default="13", help="numbers ending with this are never delivered"
    )
    return parser


async def _serve(server: FakeGatewayServer, banner: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        print(banner.format(url=server.url), flush=True)
        await stop.wait()


def run_standalone(server: FakeGatewayServer, banner: str) -> None:
    """Serve until SIGINT/SIGTERM. `banner` (with `{url}`) is printed once, when the socket is listening."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(_serve(server, banner))
