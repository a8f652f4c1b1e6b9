"""Overload alerts and service-level figures on the real Asterisk: raised once, sent to the senior
administrator, cleared once without flapping; the day's figures from the API and the CLI."""

from __future__ import annotations

import random
from pathlib import Path

import aiohttp
import pytest

from bench.lib.carrier_numbers import FarEnd
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import carrier_phone, running_service
from tests.operators import api_token

pytestmark = pytest.mark.asterisk

# Only the "callers waiting" alert can fire here; the others are set out of reach.
ALERTS = 'waiting_callers = 1\nlongest_wait = "1h"\nmin_calls = 1000\ncallback_due = "0s"\nclear_after = "4s"'


async def test_overload_alert_is_raised_once_and_cleared_once(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    rng = random.Random()
    callers = [carrier_phone(FarEnd.RINGS_OUT, rng) for _ in range(2)]
    async with running_service(sandbox, tmp_path, alerts=ALERTS, database_url=database_url) as svc:
        await svc.admins(admin1="ring")
        for phone in callers:
            await svc.call_in("100", phone, patience=12)
        raised = await svc.until(lambda: svc.home.query("select * from alerts"), 25, "the alert")
        assert [a["kind"] for a in raised] == ["waiting"] and "в очереди 2" in raised[0]["detail"]
        # Both callers give up; the queue is calm; the alert clears once, after clear_after.
        cleared = await svc.until(
            lambda: [a for a in svc.home.query("select * from alerts") if a["cleared_at"]],
            40,
            "the alert to clear",
        )
        assert len(svc.home.query("select * from alerts")) == 1 == len(cleared)
        supervisor = [m for m in svc.twilio.messages if m.to == "+79169990011"]
        assert len(supervisor) == 1 and "много звонящих в очереди" in supervisor[0].body

        await svc.until(lambda: len(svc.calls()) == 2, 20, "both calls stored")
        day = svc.clinic.today.isoformat()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{svc.base}/api/sla", params={"clinic": "c1", "date": day}) as r:
                assert r.status == 401  # the figures are the clinic's: no token, no report
            bearer = {"Authorization": f"Bearer {api_token(svc)}"}
            async with http.get(
                f"{svc.base}/api/sla", params={"clinic": "c1", "date": day}, headers=bearer
            ) as r:
                assert r.status == 200
                report = await r.json()
        figures = report["day"]
        assert (figures["calls"], figures["missed"], figures["missed_pct"], figures["callbacks"]) == (
            2,
            2,
            100.0,
            2,
        )
        assert figures["answered_in_target_pct"] == 0.0 and figures["avg_wait"] > 5
        assert report["hours"] and report["hours"][0]["calls"] == 2
        result = svc.home.run("report", "sla", "--date", day)
        assert result.returncode == 0, result.stderr
        assert "пропущено, %" in result.stdout and "100.0" in result.stdout


async def test_sla_api_refuses_bad_input(sandbox: SandboxHandle, tmp_path: Path, database_url: str) -> None:
    async with (
        running_service(sandbox, tmp_path, database_url=database_url) as svc,
        aiohttp.ClientSession() as http,
    ):
        bearer = {"Authorization": f"Bearer {api_token(svc)}"}
        for params in ({"clinic": "nope"}, {"clinic": "c1", "date": "вчера"}):
            async with http.get(f"{svc.base}/api/sla", params=params, headers=bearer) as r:
                assert r.status == 400
                assert (await r.json())["errors"]
