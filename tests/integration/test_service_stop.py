"""`dialer run` stops on SIGTERM within seconds, as a service manager expects, whatever is open at the time: the
administrators' live pages (which, left open, once held the stop for 30 s, until their heartbeat failed), a call
ringing on an administrator's screen, or no link to Asterisk at all. Each stop ends with exit code 0 and is logged."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType

from bench.lib.carrier_numbers import FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.service import SERVICE_LOG, free_port, start_service
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.inbound_scenario import Service, carrier_phone, running_service, service_config
from tests.operators import Operator, add_user
from tests.support import DialerHome, until

pytestmark = pytest.mark.asterisk

# Well inside the grace a service manager gives (bench/lib/service.stop_service: 20 s; systemd: 90 s).
STOP_WITHIN = 8.0


async def stop_and_time(process: asyncio.subprocess.Process) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(process.wait(), STOP_WITHIN)
    except TimeoutError:
        raise AssertionError(f"the service was still running {STOP_WITHIN:.0f} s after SIGTERM") from None
    return code, time.monotonic() - started


def assert_stop_logged(root: Path) -> None:
    log = (root / SERVICE_LOG).read_text(encoding="utf-8", errors="replace")
    assert "INFO dialer: stopping:" in log, log[-2000:]
    assert re.search(r"INFO dialer: stopped in \d+\.\d s", log), log[-2000:]


async def live_page(
    svc: Service, username: str
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    await Operator(username, http, svc.base).login()
    return http, await http.ws_connect(f"{svc.base}/ws")


async def read_until_closed(ws: aiohttp.ClientWebSocketResponse, first: asyncio.Event) -> int | None:
    """Every message until the service closes the socket; its close code. `first` is set on the first card."""
    async for message in ws:
        if message.type == WSMsgType.TEXT and '"type": "card"' in message.data:
            first.set()
    return ws.close_code


async def test_sigterm_with_live_pages_open_and_a_call_ringing_stops_within_seconds(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    async with running_service(sandbox, tmp_path, database_url=database_url) as svc:
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
        add_user(svc, "boss", "supervisor", "Елена Петрова")
        anna_http, anna = await live_page(svc, "anna")
        boss_http, board = await live_page(svc, "boss")
        try:
            carded = asyncio.Event()
            anna_reads = asyncio.create_task(read_until_closed(anna, carded))
            board_reads = asyncio.create_task(read_until_closed(board, asyncio.Event()))
            await svc.admins(admin1="ring")
            await svc.call_in("100", carrier_phone(FarEnd.PERSON, random.Random()), patience=12)
            await asyncio.wait_for(carded.wait(), 15)  # the call rings on anna's phone and her screen

            assert svc.process is not None
            code, took = await stop_and_time(svc.process)

            assert code == 0
            assert_stop_logged(svc.home.root)
            # Closed as "going away", which the pages answer by reconnecting, not as an ended session.
            codes = await asyncio.wait_for(asyncio.gather(anna_reads, board_reads), 5)
            assert list(codes) == [WSCloseCode.GOING_AWAY, WSCloseCode.GOING_AWAY]
            print(f"stopped {took:.2f} s after SIGTERM with two pages open and a call ringing")
        finally:
            await anna_http.close()
            await boss_http.close()


async def test_sigterm_while_asterisk_cannot_be_reached_stops_within_seconds(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    nobody = free_port()  # as with the PBX down: every connect is refused, the link waits and tries again
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        home = DialerHome(tmp_path, database_url=database_url)
        config = service_config(sandbox, twilio, free_port(), ClinicTime.morning())
        home.write(re.sub(rf"(?m)^port = {sandbox.port}$", f"port = {nobody}", config))
        process = await start_service(home.root, home.config)
        try:

            def backing_off() -> bool:
                log = (home.root / SERVICE_LOG).read_text(encoding="utf-8", errors="replace")
                return "AMI reconnect in" in log and "(attempt 3)" in log

            await until(backing_off, "the AMI link backing off", timeout=30, every=0.2)
            code, took = await stop_and_time(process)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert code == 0
    assert_stop_logged(home.root)
    print(f"stopped {took:.2f} s after SIGTERM with Asterisk unreachable")
