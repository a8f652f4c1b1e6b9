"""Two clinics on two real Asterisks (two sandboxes): the east one's Asterisk is killed mid-campaign.

The west clinic's calls go on and complete untouched while east is down; /api/health and /ready name east as
the one down; east's patients are dialled again only after it is back, each attempt exactly once, as each
Asterisk's own AMI events show.

Every patient answers and presses 1 a second into the call, so each call lasts a few seconds. The clinic's clock
is a rehearsal at 11:00 on a working day (bench/lib/clinic.py): nothing depends on the host's hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from bench.lib.service import free_port
from dialer.cli.check_config import check_config
from dialer.cli.exits import EXIT_ERROR
from dialer.sandbox import process
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.operators import Operator, add_user_to
from tests.reminder_scenario import REMINDERS_UNTIL_DONE, run_cli
from tests.service_toml import SIM_TRUNK, clinic_entry, service_toml, trunk_table
from tests.support import DialerHome, appointments_csv, until
from tests.timed_patients import Timed

pytestmark = pytest.mark.asterisk

PATIENTS = 5  # per clinic
PRESSES_ONE = Timed(1.0, "1", 9)  # answers, presses 1 after a second, stays until the IVR hangs up
EAST_TRUNK = "sim_east"


def east_sections(east: SandboxHandle, clinic: ClinicTime) -> tuple[str, str, str]:
    """The second Asterisk, its own trunk (a trunk is one Asterisk's), and the clinic on it."""
    pbx = f"""
[pbx.east]
host = "{east.host}"
port = {east.port}
username = "{east.username}"
secret = "{east.secret}"
ping_interval = 1
reconnect_max_delay = 1
"""
    trunk = f"""
[trunks.{EAST_TRUNK}]
dial = "Local/{{number}}@patients"
max_channels = 2
calls_per_second = 10
ring_timeout = "6s"
"""
    entry = clinic_entry(clinic, EAST_TRUNK, clinic_id="east", name="Восток", settings='pbx = "east"')
    return pbx, trunk, entry


def config(
    west: SandboxHandle, east: SandboxHandle, twilio: FakeTwilio, port: int, clinic: ClinicTime
) -> str:
    pbx, east_trunk, east_clinic = east_sections(east, clinic)
    window = f'{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(600)}", attempts=2, min_gap="2s"}}'
    return service_toml(
        west,
        twilio,
        port,
        clinic,
        pbx,
        trunk_table(SIM_TRUNK, max_channels=2, ring_timeout="6s"),
        east_trunk,
        clinic_entry(clinic, SIM_TRUNK, clinic_id="west", name="Запад"),
        east_clinic,
        f"""
[campaigns.reminders]
windows = [{window}]
same_day_confirmation = false
""",
    )


def rows(phones: dict[str, str], visit_date: str) -> list[dict[str, str]]:
    return [
        {
            "appointment_id": key,
            "clinic": key.split("-")[0],
            "patient_name": f"Пациент Тестовый {n}",
            "phone": phone,
            "visit_date": visit_date,
            "visit_time": "10:30",
            "doctor": "Иванова Мария Петровна",
        }
        for n, (key, phone) in enumerate(phones.items())
    ]


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return r.status, dict(await r.json())


@contextlib.asynccontextmanager
async def board_lines(base: str, username: str) -> AsyncIterator[list[list[str]]]:
    """The PBX-down lines of each board the supervisor's screen gets, as they come."""
    seen: list[list[str]] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await Operator(username, http, base).login()
        async with http.ws_connect(f"{base}/ws") as ws:

            async def listen() -> None:
                async for message in ws:
                    data = json.loads(message.data)
                    if data.get("type") == "board":
                        seen.append([d["text"] for d in data.get("pbx_down", [])])

            task = asyncio.create_task(listen())
            try:
                yield seen
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def kill(east: SandboxHandle) -> None:
    """The east Asterisk dies at once (no hangup handlers, no goodbyes), as a PBX that loses power."""
    for pid in process.asterisk_pids(east.sandbox.layout.clinic):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def dialled(observers: list[RawAmi], prefix: str) -> list[str]:
    """Every attempt Asterisk made a channel for (its first leg), as its own events told, repeats kept."""
    return [
        f["Uniqueid"]
        for ami in observers
        for _, f in ami.events
        if f.get("Event") == "Newchannel" and f.get("Uniqueid", "").startswith(prefix)
    ]


@pytest.mark.timeout(240)
async def test_one_asterisk_down_holds_only_its_clinics_and_they_resume_once_it_is_back(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    west, east = sandbox, second_sandbox
    clinic = ClinicTime.morning()
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    runs = iter(random.Random().sample(range(100), 2 * PATIENTS))
    phones = {
        f"{c}-{n}": f"+{PRESSES_ONE.number(f'{next(runs):02d}')}"
        for c in ("west", "east")
        for n in range(PATIENTS)
    }
    port = free_port()
    west_ami = await RawAmi.logged_in(west.host, west.port, west.username, west.secret)
    east_ami = await RawAmi.logged_in(east.host, east.port, east.username, east.secret)
    observers_east = [east_ami]
    process_ = None
    try:
        async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
            home = DialerHome(tmp_path, database_url=database_url)
            home.write(config(west, east, twilio, port, clinic))
            (tmp_path / "a.csv").write_text(appointments_csv(rows(phones, tomorrow)), encoding="utf-8")
            code, out, err = await run_cli(
                home, "import", "appointments", str(tmp_path / "a.csv"), timeout=60
            )
            assert code == 0, out + err
            add_user_to(home, "sup-east", "supervisor", "Старший Администратор", clinics=["east"])
            add_user_to(home, "sup-west", "supervisor", "Старший Администратор", clinics=["west"])
            process_ = await home.start(
                *REMINDERS_UNTIL_DONE,
                tomorrow,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            base = f"http://127.0.0.1:{port}"
            await until(
                lambda: home.has_database() and home.query("select 1 from attempts"),
                "the first call",
                timeout=60,
            )
            boards = contextlib.AsyncExitStack()
            east_board = await boards.enter_async_context(board_lines(base, "sup-east"))
            west_board = await boards.enter_async_context(board_lines(base, "sup-west"))

            def of_clinic(clinic_id: str, states: str) -> Callable[[], int]:
                sql = f"select count(*) n from attempts where clinic_id = ? and state in ({states})"
                return lambda: int(home.query(sql, (clinic_id,))[0]["n"]) if home.has_database() else 0

            east_in_air = of_clinic("east", "'dialing', 'answered'")
            west_ended = of_clinic("west", "'ended'")
            await until(east_in_air, "an east call in the air", timeout=60, every=0.05)
            kill(east)
            west_before = west_ended()

            # East is down: the service says so, and west's calls go on meanwhile.
            async def east_down() -> bool:
                _, health = await get(f"{base}/api/health")
                each: dict[str, dict[str, str]] = health.get("pbx", {})
                return (
                    each.get("east", {}).get("ami") == "disconnected" and each["main"]["ami"] == "connected"
                )

            await until(east_down, "/api/health naming east down", timeout=15)
            # What was already on its way to east when it died is counted now; nothing more may follow.
            east_attempts = of_clinic("east", "'dialing', 'answered', 'ended', 'unplaced'")
            east_at_kill = east_attempts()
            status, ready = await get(f"{base}/ready")
            assert (status, ready) == (200, {"status": "ready", "degraded": ["ami east: disconnected"]})
            async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as r:
                scraped = (await r.text()).splitlines()
            assert {'dialer_ami_up{pbx="main"} 1', 'dialer_ami_up{pbx="east"} 0'} <= set(scraped)
            down = await until(
                lambda: [lines[0] for lines in east_board if lines],
                "the east board saying east is down",
                timeout=10,
            )
            assert re.fullmatch(r"Нет связи с АТС east с \d\d:\d\d — звонки клиники «Восток» ждут", down[0])
            await until(
                lambda: west_ended() >= min(PATIENTS, west_before + 2), "west calls going on", timeout=40
            )
            # Its patients wait: no new attempt of east while its Asterisk is away.
            assert east_attempts() == east_at_kill

            await asyncio.to_thread(east.sandbox.up, sys.stderr)
            observers_east.append(await RawAmi.logged_in(east.host, east.port, east.username, east.secret))
            gone = len(east_board)
            await until(lambda: [] in east_board[gone:], "the east board clear again", timeout=30)
            assert west_board and not any(west_board), "the west board spoke of the other's Asterisk"
            await boards.aclose()
            out_b, err_b = await asyncio.wait_for(process_.communicate(), 150)
            assert process_.returncode == 0, (out_b + err_b).decode()[-3000:]
    finally:
        if process_ is not None and process_.returncode is None:
            process_.kill()
        for ami in (west_ami, *observers_east):
            await ami.close()

    statuses = {r["appointment_id"]: r["reminder_status"] for r in home.query("select * from appointments")}
    assert statuses == dict.fromkeys(phones, "confirmed")
    attempts = home.query(
        "select attempt_id, clinic_id, state, result, digit, reason, cause from attempts order by attempt_id"
    )
    west_rows = [r for r in attempts if r["clinic_id"] == "west"]
    # West untouched: one call per patient, each ended as a call, none given up for the other's Asterisk.
    west_log = home.query(
        "select attempt_id, at, kind, digit, detail from attempt_events where clinic_id = 'west' order by event_id"
    )
    assert [r["state"] for r in west_rows] == ["ended"] * PATIENTS, (
        [dict(r) for r in west_rows],
        [dict(r) for r in west_log],
    )
    prefix = home.attempt_id("reminders", 0, 0).split(":")[0] + ":reminders:"
    on_west = [u for u in dialled([west_ami], prefix) if not u.endswith(";2")]
    on_east = [u for u in dialled(observers_east, prefix) if not u.endswith(";2")]
    assert sorted(on_west) == sorted(r["attempt_id"] for r in west_rows)  # each once, and only on west
    assert len(on_east) == len(set(on_east)), f"an attempt dialled twice on east: {on_east}"
    east_rows = {r["attempt_id"]: r["state"] for r in attempts if r["clinic_id"] == "east"}
    assert set(on_east) <= set(east_rows)  # nothing of east's went anywhere else
    assert {a for a, state in east_rows.items() if state == "ended"} <= set(on_east)
    # The calls the dead Asterisk took with it were counted as never placed and dialled again, after it was back.
    killed = [a for a, state in east_rows.items() if state == "unplaced"]
    assert killed, "no east call was in the air when its Asterisk died"
    assert sorted(east_rows.values()) == sorted(["ended"] * PATIENTS + ["unplaced"] * len(killed))


async def test_check_config_logs_in_to_each_asterisk_and_names_the_one_that_fails(
    sandbox: SandboxHandle, second_sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        text = config(sandbox, second_sandbox, twilio, free_port(), clinic)
        unused = (
            f'\n[pbx.spare]\nhost = "127.0.0.1"\nport = {free_port()}\nusername = "dialer"\nsecret = "x"\n'
        )
        home = DialerHome(tmp_path, database_url=database_url)
        home.write(text.replace("\n[trunks.", unused + "\n[trunks.", 1))
        out = io.StringIO()
        code = await check_config(home.config, out)
    lines = out.getvalue().splitlines()
    assert code == EXIT_ERROR
    assert "warning: АТС spare ([pbx.spare]) не указана ни у одной клиники" in lines
    east = [line for line in lines if line.startswith(("ok: ami east: ", "error: ami east: "))]
    assert east == [
        f"ok: ami east: {second_sandbox.host}:{second_sandbox.port} (пользователь dialer): вход выполнен "
        + east[0].split("вход выполнен ", 1)[1]
    ]
    assert [line for line in lines if line.startswith("error: ami spare: ")], lines
    assert [line for line in lines if line.startswith("ok: ami: ")], lines
