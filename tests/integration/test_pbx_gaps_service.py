"""A real `dialer run` with two clinics on two real Asterisks (two sandboxes), each reached through a proxy the
test cuts (tests/ami_proxy.py). East's link is cut and kept cut; meanwhile main's link drops and comes back.
East's outage stays open in the database while east is away, and /metrics says which Asterisk is reconciled;
once east is back, its gap ends and it reads reconciled again.

No call is placed: only the links come and go. The clinic's clock is a rehearsal at 11:00 on a working day
(bench/lib/clinic.py): nothing depends on the host's hour."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bench.lib.clinic import ClinicTime
from bench.lib.service import free_port, start_service, stop_service, wait_healthy
from tests.ami_proxy import AmiProxy
from tests.asterisk_plugin import SandboxHandle
from tests.db_rows import Record
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.service_toml import SIM_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, until

pytestmark = pytest.mark.asterisk

EAST_TRUNK = "sim_east"
REFUSED_FOR_A_WHILE = 600.0  # east's proxy refuses until the test reopens it


def config(
    main: SandboxHandle, main_port: int, east: SandboxHandle, east_port: int, twilio: FakeTwilio, web: int
) -> str:
    clinic = ClinicTime.morning()
    east_pbx = f"""
[pbx.east]
host = "{east.host}"
port = {east_port}
username = "{east.username}"
secret = "{east.secret}"
ping_interval = 1
reconnect_max_delay = 1
"""
    return service_toml(
        main,
        twilio,
        web,
        clinic,
        east_pbx,
        trunk_table(SIM_TRUNK),
        trunk_table(SIM_TRUNK).replace(f"[trunks.{SIM_TRUNK}]", f"[trunks.{EAST_TRUNK}]"),
        clinic_entry(clinic, SIM_TRUNK, clinic_id="west", name="Запад"),
        clinic_entry(clinic, EAST_TRUNK, clinic_id="east", name="Восток", settings='pbx = "east"'),
        ami_proxy_port=main_port,
    )


@contextlib.asynccontextmanager
async def proxies(main: SandboxHandle, east: SandboxHandle) -> AsyncIterator[tuple[AmiProxy, AmiProxy]]:
    main_proxy = await AmiProxy(main.host, main.port).start()
    east_proxy = await AmiProxy(east.host, east.port).start()
    try:
        yield main_proxy, east_proxy
    finally:
        await main_proxy.stop()
        await east_proxy.stop()


async def metric_lines(base: str) -> set[str]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as answer:
        return set((await answer.text()).splitlines())


def gaps(home: DialerHome, clinic_id: str) -> list[Record]:
    return home.query(
        "select gap_id, started_at, ended_at from ami_gaps where clinic_id = ? order by gap_id", (clinic_id,)
    )


@pytest.mark.timeout(120)
async def test_main_coming_back_leaves_easts_outage_open_until_east_is_back(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    main, east = sandbox, second_sandbox
    web = free_port()
    base = f"http://127.0.0.1:{web}"
    async with (
        proxies(main, east) as (main_proxy, east_proxy),
        FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio,
    ):
        home = DialerHome(tmp_path, database_url=database_url)
        home.write(config(main, main_proxy.port, east, east_proxy.port, twilio, web))
        process = await start_service(home.root, home.config)
        try:
            await wait_healthy(base, process, root=home.root, timeout=30)

            async def reconciled(main_on: int, east_on: int) -> bool:
                lines = await metric_lines(base)
                return {
                    f'dialer_ami_reconciled{{pbx="main"}} {main_on}',
                    f'dialer_ami_reconciled{{pbx="east"}} {east_on}',
                } <= lines

            await until(lambda: reconciled(1, 1), "both Asterisks reconciled", timeout=20)

            east_proxy.cut(refuse_for=REFUSED_FOR_A_WHILE)
            await until(lambda: reconciled(1, 0), "east alone not reconciled", timeout=15)
            await until(lambda: gaps(home, "east"), "east's gap opened", timeout=10)
            assert 'dialer_ami_up{pbx="east"} 0' in await metric_lines(base)

            main_proxy.cut(refuse_for=0.5)
            await until(lambda: gaps(home, "west"), "west's gap opened", timeout=15)
            await until(
                lambda: all(g["ended_at"] for g in gaps(home, "west")),
                "main back, west's gap closed",
                timeout=20,
            )
            await until(lambda: reconciled(1, 0), "main reconciled again, east still not", timeout=15)
            (east_gap,) = gaps(home, "east")
            assert east_gap["ended_at"] is None, "main's link-up closed east's gap while east was still away"

            east_proxy.reopen()
            await until(lambda: reconciled(1, 1), "east reconciled again", timeout=20)
            (east_gap,) = await until(
                lambda: [g for g in gaps(home, "east") if g["ended_at"]], "east's gap closed", timeout=10
            )
            (west_gap,) = gaps(home, "west")
            assert east_gap["started_at"] < west_gap["started_at"] < west_gap["ended_at"]
            assert west_gap["ended_at"] < east_gap["ended_at"]  # east's outage as long as it was
        finally:
            await stop_service(process, grace=20)
