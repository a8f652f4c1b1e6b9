"""/metrics, /health and /ready of a real `dialer run` on the sandbox, scraped as Prometheus on the same host
does (no login) and read with Prometheus' own parser; each key series is checked against what happened on
Asterisk and in the service's database. A second service, whose Asterisk is a closed port, is not ready and
says its link is down."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.lib.carrier_numbers import FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.service import SERVICE_LOG, free_port, start_service, stop_service
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.inbound_scenario import Service, carrier_phone, running_service, service_config
from tests.support import DialerHome, until

pytestmark = [pytest.mark.asterisk, pytest.mark.anyhour]

Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


async def scrape(base: str) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as answer:
        assert answer.status == 200, await answer.text()
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await answer.text()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get(name, {}).get(frozenset(labels.items()))


async def probe(base: str, path: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(base + path) as answer:
        return answer.status, await answer.json()


def attempts_in_db(svc: Service) -> dict[tuple[str, str], int]:
    rows = svc.home.query(
        "select t.campaign, a.result, count(*) as n from attempts a join targets t on t.target_id = a.target_id "
        "where a.result is not null group by 1, 2"
    )
    return {(r["campaign"], r["result"]): r["n"] for r in rows}


def attempts_in_metrics(samples: Samples) -> dict[tuple[str, str], int]:
    found = samples.get("dialer_attempts_total", {})
    return {(dict(k)["campaign"], dict(k)["result"]): int(v) for k, v in found.items()}


async def test_the_key_series_follow_a_missed_call_and_its_callback(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    phone = carrier_phone(FarEnd.RINGS_OUT, random.Random())
    async with running_service(sandbox, tmp_path, deadline="10m", database_url=database_url) as svc:
        assert await probe(svc.base, "/health") == (200, {"status": "ok"})
        assert await probe(svc.base, "/ready") == (200, {"status": "ready"})
        before = await scrape(svc.base)
        events_before = value(before, "dialer_ami_events_received_total", pbx=sandbox.host)
        assert events_before is not None

        await svc.admins(admin1="ring")  # on shift, but lets the callback ring out
        await svc.call_in("100", phone, patience=6)
        (task,) = await svc.until(svc.tasks, 20, "a callback task")
        await svc.until(
            lambda: [a for a in svc.home.query("select * from attempts") if a["state"] == "ended"],
            30,
            "the first callback attempt to end",
        )
        await svc.admins()  # nobody left to call back with: the counts stay as they are

        async def agrees() -> Samples | None:
            samples = await scrape(svc.base)
            return samples if attempts_in_metrics(samples) == attempts_in_db(svc) else None

        samples = await until(agrees, "the attempts in /metrics as in the database", timeout=15, every=1)
        assert value(samples, "dialer_ami_up", pbx=sandbox.host) == 1
        assert value(samples, "dialer_ami_reconciled", pbx=sandbox.host) == 1
        assert (
            value(samples, "dialer_dialplan_current", pbx=sandbox.host) == 1
        )  # the sandbox runs the shipped one
        assert value(samples, "dialer_leader") == 1
        events = value(samples, "dialer_ami_events_received_total", pbx=sandbox.host)
        assert events is not None and events > events_before + 10  # a call in and a callback out: many events
        counted = attempts_in_metrics(samples)
        assert ("callback", "no_answer") in counted, counted
        assert value(samples, "dialer_callback_tasks", clinic="c1", state="open") == 1
        assert value(samples, "dialer_callback_tasks", clinic="c1", state="contacted") == 0
        left = value(samples, "dialer_callback_deadline_seconds", clinic="c1")
        deadline = datetime.fromisoformat(task["deadline_at"]) - datetime.fromisoformat(
            task["first_missed_at"]
        )
        assert left is not None and 0 < left < deadline.total_seconds()
        assert value(samples, "dialer_missed_calls_today", clinic="c1") == 1
        assert value(samples, "dialer_callbacks_in_deadline_ratio", clinic="c1") == 1.0  # first call in time
        assert value(samples, "dialer_calls_in_flight") is not None
        assert value(samples, "dialer_inbound_calls_held") == 0  # every finished call stored
        (build,) = samples["dialer_build_info"]
        assert dict(build)["version"]
        text = json.dumps({k: [sorted(s) for s in v] for k, v in samples.items()})
        assert phone[-7:] not in text  # counts only: no number in any label


async def test_a_service_whose_asterisk_is_down_is_live_but_not_ready(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    port = free_port()
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN) as twilio:
        home = DialerHome(tmp_path, database_url=database_url)
        config = service_config(sandbox, twilio, port, clinic, ami_proxy_port=free_port())  # nothing listens
        home.write(config.replace("[service]\n", '[service]\nlog_format = "json"\n', 1))
        process = await start_service(home.root, home.config)
        base = f"http://127.0.0.1:{port}"
        try:

            async def live() -> bool:
                try:
                    return (await probe(base, "/health"))[0] == 200
                except aiohttp.ClientError:
                    return False

            await until(live, "the service to answer", timeout=30, every=0.25)
            assert await probe(base, "/ready") == (
                503,
                {"status": "not ready", "reason": "ami: disconnected"},
            )
            samples = await scrape(base)
            assert value(samples, "dialer_ami_up", pbx=sandbox.host) == 0
            assert value(samples, "dialer_ami_events_received_total", pbx=sandbox.host) == 0
            assert value(samples, "dialer_leader") == 1  # it holds its own database's lease all the same
        finally:
            await stop_service(process, grace=20)
    lines = (home.root / SERVICE_LOG).read_text(encoding="utf-8").splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert logged and all({"ts", "level", "logger", "message"} <= set(entry) for entry in logged)


async def test_a_pbx_left_on_another_dialplan_is_named_in_the_log_and_in_metrics(
    sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service upgraded, the PBX not: the service's own copy of extensions_dialer.conf (here one with a line
    changed) is not what the sandbox's Asterisk has loaded."""
    shipped = Path(__file__).resolve().parents[2] / "config" / "asterisk" / "extensions_dialer.conf"
    newer = tmp_path / "newer"
    (newer / "asterisk").mkdir(parents=True)
    text = shipped.read_text(encoding="utf-8")
    (newer / "asterisk" / "extensions_dialer.conf").write_text(
        text.replace("DialStatus: ANSWER", "DialStatus: ANSWERED", 1), encoding="utf-8"
    )
    monkeypatch.setenv("DIALER_ASTERISK_CONFIG_DIR", str(newer))
    async with running_service(sandbox, tmp_path / "svc") as svc:
        samples = await until(
            lambda: scrape_when(svc.base, "dialer_dialplan_current"),
            "the dialplan's check",
            timeout=15,
            every=0.5,
        )
        assert value(samples, "dialer_dialplan_current", pbx=sandbox.host) == 0
        log_text = (svc.home.root / SERVICE_LOG).read_text(encoding="utf-8")
        told = [line for line in log_text.splitlines() if "runs extensions_dialer.conf version" in line]
        assert len(told) == 1, told
        assert "copy the service's config/asterisk/extensions_dialer.conf" in told[0]


async def scrape_when(base: str, name: str) -> Samples | None:
    samples = await scrape(base)
    return samples if samples.get(name) else None
