"""What the service runs after link-up (reconcile, rebuild the trackers) or link-down can fail for a moment (a
locked database): the AMI connection then drops that session and reconnects, so link-up runs again from the
start, instead of ending the service (before, any such error ended `ami` and with it every call)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from dialer.ami.connection import AmiConnection
from tests.asterisk_plugin import SandboxHandle

pytestmark = pytest.mark.asterisk


async def test_a_link_up_that_fails_is_run_again_on_a_new_session(sandbox: SandboxHandle) -> None:
    connection = AmiConnection(
        host=sandbox.host,
        port=sandbox.port,
        username=sandbox.username,
        secret=sandbox.secret,
        sink=lambda frame: None,
        ping_interval=1.0,
        reconnect_max_delay=1.0,
    )
    link_ups: list[int] = []
    done = asyncio.Event()

    async def link_up() -> None:
        link_ups.append(connection.reconnects)
        if len(link_ups) == 1:
            raise sqlite3.OperationalError("database is locked")
        done.set()

    async def link_down() -> None:
        return None

    connection.subscribe(on_up=link_up, on_down=link_down)
    runner = asyncio.create_task(connection.run())
    try:
        await asyncio.wait_for(done.wait(), 15)
        assert link_ups == [1, 2]  # the second session ran link-up again
        assert connection.connected and not runner.done()
    finally:
        await connection.stop()
        await asyncio.wait_for(runner, 10)
