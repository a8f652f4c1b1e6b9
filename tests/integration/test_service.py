"""`dialer run` as a service: the JSON API loads a day, the daily job builds the list at the clinic's
list-build time, the calls go out on the real Asterisk, and SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import random
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bench.lib.carrier_numbers import TRUNK_DIAL, CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.service import free_port
from tests.asterisk_plugin import SandboxHandle
from tests.support import DialerHome, ami_section, until

pytestmark = pytest.mark.asterisk


async def test_service_builds_the_list_at_its_time_and_calls(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    now = clinic.now()
    port = free_port()
    serial = random.randrange(10000)  # people on the carrier: one confirms, one cancels
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(f"""
{clinic.rehearsal()}
[service]
data_dir = "var"
listen_port = {port}
{ami_section(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)}
[trunks.carrier]
dial = "{TRUNK_DIAL}"
[[clinics]]
id = "c1"
name = "Клиника"
timezone = "{clinic.tz.key}"
trunk = "carrier"
skip_holidays = false
[campaigns.reminders]
windows = [{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(300)}", attempts=1}}]
list_build_time = "{clinic.hhmmss(12)}"
same_day_confirmation = false
""")
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    created = home.run("users", "add", "crm", "--role", "admin", "--api-token")
    assert created.returncode == 0, created.stdout + created.stderr
    token = created.stdout.split("API-токен (показан один раз): ")[1].split()[0]
    process = await home.start("run", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

            async def up() -> bool:
                try:
                    async with http.get(f"{base}/api/health") as r:
                        return r.status == 200 and (await r.json())["ami"] == "connected"
                except aiohttp.ClientError:
                    return False

            await until(up, "the service linked to Asterisk", timeout=30, every=0.3)
            body = [
                {
                    "appointment_id": "S1",
                    "clinic": "c1",
                    "patient_name": "Анна",
                    "phone": CarrierPatient(FarEnd.PERSON, key="1").number(serial),
                    "visit_date": tomorrow,
                    "visit_time": "10:00",
                    "doctor": "Иванова",
                },
                {
                    "appointment_id": "S5",
                    "clinic": "c1",
                    "patient_name": "Игорь",
                    "phone": CarrierPatient(FarEnd.PERSON, key="2").number(serial),
                    "visit_date": tomorrow,
                    "visit_time": "11:00",
                    "doctor": "Петров",
                },
            ]
            async with http.post(f"{base}/api/appointments", json=body) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["imported"] == 2
            # Before the list-build time nothing is dialled.
            assert not home.query("select * from targets")

            async def statuses() -> dict[str, str] | None:
                async with http.get(f"{base}/api/appointments", params={"date": tomorrow}) as r:
                    rows = {a["appointment_id"]: a["status"] for a in (await r.json())["appointments"]}
                return rows if set(rows.values()) == {"confirmed", "cancelled"} else None

            final = await until(statuses, "every visit confirmed or cancelled", timeout=90, every=0.3)
            assert final == {"S1": "confirmed", "S5": "cancelled"}
        built = home.query("select min(created_at) as at from targets")[0]["at"]
        built_at = datetime.fromisoformat(built).replace(tzinfo=UTC)
        assert built_at >= now + timedelta(seconds=11), "the list was built before its time"
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
        _, err = await process.communicate()
    assert code == 0, err.decode()[-2000:]
    holders = [r["holder"] for r in home.query("select holder from leases")]
    assert holders == [""], f"the dialing lease was not released on SIGTERM: {holders}"
