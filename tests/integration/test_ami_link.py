"""The AMI link against the real Asterisk: a lost link never dials twice, a dead link is noticed,
a refused login is final. A TCP proxy between the service and Asterisk cuts or freezes the link on cue."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import RawAmi
from dialer.ami.connection import AmiAuthError, AmiConnection
from tests.ami_proxy import AmiProxy
from tests.asterisk_plugin import SandboxHandle
from tests.support import DialerHome, appointments_csv, sim_phone, until

pytestmark = pytest.mark.asterisk


def one_patient_config(
    port: int, sandbox: SandboxHandle, clinic: ClinicTime, secret: str | None = None
) -> str:
    # A refused login is about the login, whatever the hour: with a wrong secret the service is not on the
    # sandbox, and the [rehearsal] section would be (rightly) refused before the login is tried.
    rehearsal = clinic.rehearsal() if secret is None else ""
    return f"""
{rehearsal}
[service]
data_dir = "var"
[ami]
host = "127.0.0.1"
port = {port}
username = "{sandbox.username}"
secret = "{secret if secret is not None else sandbox.secret}"
ping_interval = 2
[trunks.sim]
dial = "Local/{{number}}@patients"
ring_timeout = "5s"
[[clinics]]
id = "c1"
name = "Клиника"
timezone = "{clinic.tz.key}"
trunk = "sim"
skip_holidays = false
[campaigns.reminders]
windows = [{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(120)}", attempts=1}}]
same_day_confirmation = false
"""


async def prepared_home(
    tmp_path: Path,
    port: int,
    sandbox: SandboxHandle,
    phone: str,
    secret: str | None = None,
    database_url: str = "",
) -> tuple[DialerHome, str]:
    clinic = ClinicTime.morning()
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(one_patient_config(port, sandbox, clinic, secret))
    (tmp_path / "a.csv").write_text(
        appointments_csv(
            [
                {
                    "appointment_id": "A1",
                    "clinic": "c1",
                    "patient_name": "Смирнова Анна",
                    "phone": phone,
                    "visit_date": tomorrow,
                    "visit_time": "10:00",
                    "doctor": "Иванова",
                }
            ]
        ),
        encoding="utf-8",
    )
    imported = home.run("import", "appointments", str(tmp_path / "a.csv"))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    return home, tomorrow


async def run_campaign(home: DialerHome, day: str, timeout: float = 120) -> tuple[int, str]:
    process = await home.start(
        *("--log-level", "INFO", "campaign", "run", "reminders", "--date", day, "--until-done"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode()


async def observe(sandbox: SandboxHandle) -> RawAmi:
    observer = await RawAmi.connect(sandbox.host, sandbox.port)
    await observer.login(sandbox.username, sandbox.secret)
    return observer


def channels_of(observer: RawAmi, uniqueid: str) -> list[dict[str, str]]:
    return [f for _, f in observer.events if f.get("Event") == "Newchannel" and f.get("Uniqueid") == uniqueid]


@pytest.mark.parametrize("down_for", [0.0, 20.0], ids=["call-still-up", "call-ended-while-down"])
async def test_link_lost_right_after_originate_dials_once_and_keeps_the_result(
    sandbox: SandboxHandle, tmp_path: Path, down_for: float, database_url: str
) -> None:
    proxy = await AmiProxy(sandbox.host, sandbox.port, cut_after_originate=True, refuse_for=down_for).start()
    observer = await observe(sandbox)
    try:
        try:
            home, day = await prepared_home(
                tmp_path, proxy.port, sandbox, sim_phone(1), database_url=database_url
            )
            code, out = await run_campaign(home, day)
            assert code == 0, out
        finally:
            await proxy.stop()
        assert proxy.cut_done.is_set(), "the link was never cut"
        assert proxy.originates_forwarded == 1, "an Originate was sent again after the reconnect"
        assert proxy.connections >= 2
        (target,) = home.query("select target_id from targets")
        attempt = home.attempt_id("reminders", target["target_id"], 1)
        await until(lambda: observer.hung_up([attempt]), "the call's end on the observer's link")
        assert len(channels_of(observer, attempt)) == 1
        # Once the outcome is stored, the dialplan's AstDB record of it is deleted (with the "call" privilege only).
        reply = await observer.send("DBGet", [("Family", "dialer"), ("Key", attempt)])
        assert reply.get("Response") == "Error", reply
        (row,) = home.query("select state, result, digit from attempts")
        assert (row["state"], row["result"], row["digit"]) == ("ended", "answered", "1")
        (appt,) = home.query("select reminder_status from appointments")
        assert appt["reminder_status"] == "confirmed"
        if down_for:
            assert "recovered from the dialplan's record" in " ".join(
                r["detail"] or "" for r in home.query("select detail from attempt_events")
            )
    finally:
        await observer.close()


async def test_bare_panoramisk_resends_an_unanswered_originate(sandbox: SandboxHandle) -> None:
    """The defect the AMI layer guards against: panoramisk 1.4 queues an Originate whose answer was lost
    and sends it again after reconnecting, so the patient is called twice."""
    from panoramisk import Manager

    proxy = await AmiProxy(sandbox.host, sandbox.port, cut_after_originate=True).start()
    observer = await observe(sandbox)
    phone = sim_phone(7)[1:]
    manager = Manager(
        host="127.0.0.1",
        port=proxy.port,
        username=sandbox.username,
        secret=sandbox.secret,
        reconnect_timeout=1,
        ping_delay=60,
        loop=asyncio.get_running_loop(),
    )
    try:
        manager.connect()
        await until(lambda: manager.authenticated, "panoramisk logged in through the proxy")
        manager.send_action(
            {
                "Action": "Originate",
                "Channel": f"Local/{phone}@patients",
                "Context": "dialer-reminder",
                "Exten": "s",
                "Priority": "1",
                "Async": "true",
                "Timeout": "3000",
            }
        )
        await until(
            lambda: proxy.originates_forwarded >= 2, "the Originate sent again", timeout=15, every=0.2
        )

        def calls() -> list[dict[str, str]]:
            return [
                f
                for _, f in observer.events
                if f.get("Event") == "Newchannel"
                and f.get("Channel", "").startswith(f"Local/{phone}@patients")
                and f["Channel"].endswith(";1")
            ]

        # Both calls, as Asterisk tells the observer on its own link.
        await until(lambda: len(calls()) >= 2, "the second call's channel on the observer's link")
    finally:
        manager.close()
        await proxy.stop()
    await observer.close()
    assert proxy.originates_forwarded == 2
    assert len(calls()) == 2, "panoramisk no longer resends: the guard may be simplified"


async def test_a_dead_link_is_noticed_within_two_ping_intervals(sandbox: SandboxHandle) -> None:
    proxy = await AmiProxy(sandbox.host, sandbox.port).start()
    connection = AmiConnection(
        host="127.0.0.1",
        port=proxy.port,
        username=sandbox.username,
        secret=sandbox.secret,
        sink=lambda frame: None,
        ping_interval=1.0,
    )
    runner = asyncio.create_task(connection.run())
    try:
        await asyncio.wait_for(connection.ready.wait(), 10)
        proxy.freeze()
        frozen_at = time.monotonic()
        await until(lambda: not connection.ready.is_set(), "the frozen link noticed", every=0.05)
        noticed = time.monotonic() - frozen_at
        await asyncio.wait_for(connection.ready.wait(), 10)
    finally:
        await connection.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await proxy.stop()
    assert noticed <= 2 * 1.0 + 0.5, f"dead link noticed after {noticed:.2f} s"
    assert proxy.connections == 2


async def test_refused_login_is_a_final_error(sandbox: SandboxHandle) -> None:
    connection = AmiConnection(
        host=sandbox.host,
        port=sandbox.port,
        username=sandbox.username,
        secret="wrong-secret",
        sink=lambda frame: None,
    )
    started = time.monotonic()
    with pytest.raises(AmiAuthError, match="refused the login"):
        await asyncio.wait_for(connection.run(), 15)
    assert time.monotonic() - started < 10


async def test_refused_login_stops_the_command_with_a_clear_message(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    wrong = "wrong-secret-of-enough-length"  # long enough for the start check: Asterisk itself refuses it
    home, day = await prepared_home(tmp_path, sandbox.port, sandbox, sim_phone(1), secret=wrong)
    code, out = await run_campaign(home, day, timeout=60)
    assert code == 2, out
    assert "refused the login" in out and wrong not in out
