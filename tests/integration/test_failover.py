"""Two `dialer run` nodes on one real PostgreSQL and the real Asterisk sandbox: the leader dials a reminder
campaign, the standby serves the pages. The leader is killed with SIGKILL (or its network to PostgreSQL is cut)
while calls are up; the standby takes over within `[service] takeover`, reconciles the calls in the air with
Asterisk and finishes the campaign. A leader cut off steps back to standby and lives on, and leads again
when the other node dies. Checked against Asterisk's own events: every call has its attempt row,
none was dialled twice, and every missed call is in the database with its callback task.

Marked `pg` and `asterisk`: `scripts/test` runs it after the main run, on PostgreSQL, alone on the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import Frame, RawAmi
from bench.lib.service import SERVICE_LOG, free_port, service_env, stop_service, wait_healthy
from tests.asterisk_plugin import SandboxHandle
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.inbound_scenario import Service, carrier_phone, service_config
from tests.operators import add_user, operators
from tests.reminder_scenario import run_cli
from tests.support import DialerHome, until, visits_csv
from tests.tcp_line import TcpLine

pytestmark = [pytest.mark.asterisk, pytest.mark.pg]

TAKEOVER = 3.0
# One call each (one window, one attempt): slow answerers first, so calls are up when the leader goes.
PATIENTS = {
    "P1": (CarrierPatient(FarEnd.PERSON, key="1"), "confirmed"),
    "P2": (CarrierPatient(FarEnd.PERSON, key="2", voice=1), "cancelled"),
    "P3": (CarrierPatient(FarEnd.PERSON, key="1", voice=2), "confirmed"),
    "P4": (CarrierPatient(FarEnd.PERSON, key="2"), "cancelled"),
    "P5": (CarrierPatient(FarEnd.EARLY_PRESSER, key="1"), "confirmed"),
    "P6": (CarrierPatient(FarEnd.BUSY), "not_reached"),
    "P7": (CarrierPatient(FarEnd.RINGS_OUT), "not_reached"),
    "P8": (CarrierPatient(FarEnd.PERSON, key="1", voice=1), "confirmed"),
}


@dataclass
class Node:
    name: str
    home: DialerHome
    base: str
    process: asyncio.subprocess.Process | None = None

    def log(self) -> str:
        path = self.home.root / SERVICE_LOG
        return path.read_text(errors="replace") if path.exists() else ""

    async def start(self) -> None:
        """`dialer run` as `start_service` starts it, but under a host name of its own (a UTS namespace): the
        nodes are two machines to each other, so the leader's death is known only by its lease's expiry."""
        log = (self.home.root / SERVICE_LOG).open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                "unshare",
                "--uts",
                "sh",
                "-c",
                'hostname "$0" && exec "$@"',
                f"node-{self.name}",
                sys.executable,
                "-m",
                "dialer",
                "--config",
                str(self.home.config),
                "--log-level",
                "INFO",
                "run",
                cwd=self.home.root,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
                env=service_env(),
            )
        finally:
            log.close()

    async def health(self) -> dict[str, Any] | None:
        with contextlib.suppress(aiohttp.ClientError, ValueError):
            async with aiohttp.ClientSession() as http, http.get(f"{self.base}/api/health") as r:
                return dict(await r.json()) if r.status == 200 else None
        return None

    async def alive(self) -> int:
        """`GET /health`: the process answers, whatever the database."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.base}/health") as r:
            return r.status

    async def ready(self) -> int:
        async with aiohttp.ClientSession() as http, http.get(f"{self.base}/ready") as r:
            return r.status

    async def leader_gauge(self) -> float | None:
        """`dialer_leader` as Prometheus reads it from this node (open to this machine without a login)."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.base}/metrics") as r:
            for line in (await r.text()).splitlines():
                if line.startswith("dialer_leader "):
                    return float(line.split()[1])
        return None

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


@dataclass
class TwoNodes:
    a: Node
    b: Node
    svc_b: Service  # node B's pages, and the sandbox's AMI to place callers and ring administrators
    observer: RawAmi
    twilio: FakeTwilio
    db: AsyncEngine
    phones: dict[str, str]

    async def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        async with self.db.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(text(sql), params)]


def node_config(
    sandbox: SandboxHandle, twilio: FakeTwilio, clinic: ClinicTime, port: int, database_url: str
) -> str:
    window = f'{{start="{clinic.hhmmss(-60)}", end="{clinic.hhmmss(600)}", attempts=1}}'
    return service_config(
        sandbox,
        twilio,
        port,
        clinic,
        service=f'database_url = "{database_url}"\ntakeover = "{TAKEOVER:g}s"\n',
        carrier_channels=3,  # a few calls at a time: some are up at the kill, some are left for the next leader
        extra=f"""
[campaigns.reminders]
windows = [{window}]
list_build_time = "{clinic.hhmmss(-120)}"
same_day_confirmation = false
""",
    )


@contextlib.asynccontextmanager
async def two_nodes(
    sandbox: SandboxHandle, root: Path, postgres_url: str, a_database_url: str | None = None
) -> AsyncIterator[TwoNodes]:
    """Node A (started first: the leader) and node B (the standby) on one database, with tomorrow's visits
    imported; A reaches the database at `a_database_url` when given (through a line the test cuts)."""
    clinic = ClinicTime.morning()
    rng = random.Random()
    serials = rng.sample(range(10000), len(PATIENTS))
    phones = {
        key: patient.number(s) for (key, (patient, _)), s in zip(PATIENTS.items(), serials, strict=True)
    }
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    observer = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
    db = create_async_engine(postgres_url)
    async with FakeTwilio(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, step_delay=0.05) as twilio:
        nodes = []
        for name, url in (("a", a_database_url or postgres_url), ("b", postgres_url)):
            port = free_port()
            home = DialerHome(root / name)
            home.write(node_config(sandbox, twilio, clinic, port, url))
            nodes.append(Node(name, home, f"http://127.0.0.1:{port}"))
        a, b = nodes
        svc_b = Service(b.home, observer, sandbox, twilio, b.base, clinic)
        await svc_b.set_global("DIALER_QUEUE_TIMEOUT", "30")
        await svc_b.set_global("DIALER_INBOUND_QUEUE", "test-reception")
        await svc_b.admins()
        (root / "visits.csv").write_text(visits_csv(phones, tomorrow), encoding="utf-8")
        code, out, err = await run_cli(b.home, "import", "appointments", str(root / "visits.csv"), timeout=60)
        assert code == 0, out + err
        try:
            await a.start()
            await wait_healthy(a.base, a.process, root=a.home.root, timeout=30)
            await b.start()

            async def standing_by() -> bool:
                health = await b.health()
                return health is not None and health["ami"] == "connected" and health["leader"] is False

            await until(standing_by, "node B up beside the leader, standing by", timeout=30, every=0.3)
            assert (await a.health() or {}).get("leader") is True
            assert (await a.leader_gauge(), await b.leader_gauge()) == (1, 0)
            assert await b.ready() == 200  # a healthy standby takes the pages' traffic
            yield TwoNodes(a, b, svc_b, observer, twilio, db, phones)
        finally:
            await a.kill()
            if b.process is not None:
                await stop_service(b.process, grace=20)
            await svc_b.admins()
            await observer.close()
            await db.dispose()


async def in_flight(nodes: TwoNodes) -> int:
    (row,) = await nodes.rows("select count(*) as n from attempts where state in ('dialing', 'answered')")
    return int(row["n"])


async def took_over(node: Node, since: float, limit: float) -> float:
    """Seconds from `since` until the node logs that it took over dialing."""
    await until(lambda: "taking over dialing" in node.log(), f"node {node.name} to take over", timeout=limit)
    return time.monotonic() - since


async def campaign_done(nodes: TwoNodes) -> None:
    expected = {key: status for key, (_, status) in PATIENTS.items()}

    async def done() -> bool:
        rows = await nodes.rows("select appointment_id, reminder_status from appointments")
        statuses = {r["appointment_id"]: r["reminder_status"] for r in rows}
        return statuses == expected and await in_flight(nodes) == 0

    try:
        await until(done, "every patient's outcome", timeout=90, every=0.5)
    except AssertionError:
        rows = await nodes.rows("select appointment_id, reminder_status from appointments")
        raise AssertionError(f"outcomes {rows}; node B's log:\n{nodes.b.log()[-3000:]}") from None


async def dialled_once_each(nodes: TwoNodes) -> None:
    """Asterisk's own channels against the attempts: every call has its row, and no attempt went out twice."""
    (inst,) = await nodes.rows("select installation_id from installation")
    prefix = f"{inst['installation_id']}:"
    placed = [
        r["attempt_id"] for r in await nodes.rows("select attempt_id from attempts where state = 'ended'")
    ]
    await until(
        lambda: nodes.observer.hung_up(placed), "the end of every call on the observer's link", timeout=60
    )
    seen = [
        f["Uniqueid"]
        for f in nodes.observer.matching(lambda f: f.get("Event") == "Newchannel")
        if f.get("Uniqueid", "").startswith(prefix) and not f["Uniqueid"].endswith(";2")
    ]
    assert len(seen) == len(set(seen)), f"an attempt was dialled twice: {sorted(seen)}"
    assert sorted(seen) == sorted(placed), f"Asterisk {sorted(seen)} vs the attempts {sorted(placed)}"
    targets = await nodes.rows(
        "select t.subject_id, count(a.attempt_id) as calls from targets t "
        "left join attempts a on a.target_id = t.target_id and a.state = 'ended' "
        "where t.campaign = 'reminders' group by t.subject_id"
    )
    assert {r["subject_id"]: r["calls"] for r in targets} == dict.fromkeys(PATIENTS, 1)
    sent = [m.to for m in nodes.twilio.messages]
    for key, (_, status) in PATIENTS.items():
        assert sent.count(nodes.phones[key]) == (1 if status == "not_reached" else 0), f"SMS to {key}"


@pytest.mark.timeout(240)
async def test_the_standby_takes_over_when_the_leader_is_killed_and_nothing_is_lost_or_dialled_twice(
    sandbox: SandboxHandle, tmp_path: Path, postgres_url: str
) -> None:
    rng = random.Random()
    async with two_nodes(sandbox, tmp_path, postgres_url) as nodes:
        svc = nodes.svc_b
        # A pop-up reaches the administrator whose browser is on the standby.
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
        waiting = carrier_phone(FarEnd.BUSY, rng)
        async with operators(svc, "anna") as people:
            await svc.admins(admin1="ring")
            await svc.call_in("100", waiting, patience=12)
            joined = await svc.ami.wait_for(
                lambda f: f.get("Event") == "QueueCallerJoin" and f.get("CallerIDNum") == waiting.lstrip("+"),
                20,
            )
            await people["anna"].card(
                lambda c: c["call"] == joined["Linkedid"] and c["state"] == "ringing", 15, "ringing on node B"
            )
        await svc.admins()  # nobody on shift: the callbacks wait, and ring no one

        await until(lambda: in_flight_at_least(nodes, 2), "calls up on the leader", timeout=60, every=0.2)
        burst = [carrier_phone(FarEnd.BUSY, rng) for _ in range(4)]
        for caller in burst:  # a peak of callers who give up in the greeting, as the leader goes
            await svc.call_in("100", caller, patience=2)
        await asyncio.sleep(0.5)
        up = await in_flight(nodes)
        killed_at = time.monotonic()
        await nodes.a.kill()
        seconds = await took_over(nodes.b, killed_at, TAKEOVER + 10)
        print(
            f"\ntakeover after SIGKILL: {seconds:.1f} s (takeover = {TAKEOVER:g} s, {up} calls up at the kill)"
        )
        assert up >= 1, "no call was up when the leader was killed"
        assert seconds <= TAKEOVER + 5

        await campaign_done(nodes)
        await dialled_once_each(nodes)
        assert (await nodes.b.health() or {}).get("leader") is True
        await until(lambda: gauge_is(nodes.b, 1), "node B's dialer_leader at 1", timeout=20, every=0.5)

        # Every missed call once, with its callback task; the caller's events on Asterisk are of one call.
        for caller in [waiting, *burst]:
            number = caller.lstrip("+")

            async def recorded(caller: str = caller) -> list[dict[str, Any]]:
                return await nodes.rows(
                    "select c.call_id, c.miss_reason, c.source, c.queue_channel, t.task_id from inbound_calls c "
                    "left join callback_tasks t on t.task_id = c.task_id where c.caller = :caller",
                    caller=caller,
                )

            await until(recorded, f"the missed call from {number[-4:]}", timeout=20, every=0.3)
            rows = await recorded()

            def theirs(f: Frame, n: str = number) -> bool:
                return f.get("CallerIDNum") == n and "Linkedid" in f

            came_in = {f["Linkedid"] for f in nodes.observer.matching(theirs)}
            assert len(rows) == len(came_in) == 1, (rows, came_in)
            assert rows[0]["miss_reason"] and rows[0]["task_id"] is not None, rows


async def gauge_is(node: Node, value: float) -> bool:
    return await node.leader_gauge() == value


async def in_flight_at_least(nodes: TwoNodes, n: int) -> bool:
    return await in_flight(nodes) >= n


async def leader_is(node: Node, leading: bool) -> bool:
    health = await node.health()
    return health is not None and health["leader"] is leading


@pytest.mark.timeout(240)
async def test_a_leader_cut_off_from_postgresql_stands_by_and_leads_again_when_the_other_node_dies(
    sandbox: SandboxHandle, tmp_path: Path, postgres_url: str
) -> None:
    line = await TcpLine(make_url(postgres_url).port or 5432).start()
    through_line = make_url(postgres_url).set(port=line.port).render_as_string(hide_password=False)
    try:
        async with two_nodes(sandbox, tmp_path, postgres_url, a_database_url=through_line) as nodes:
            await until(lambda: in_flight_at_least(nodes, 2), "calls up on the leader", timeout=60, every=0.2)
            cut_at = time.monotonic()
            line.cut()
            a = nodes.a
            assert a.process is not None

            def stood_by() -> bool:
                return "lost the dialing lease; standing by" in a.log()

            await until(stood_by, "node A to stand by", timeout=TAKEOVER + 15, every=0.2)
            stopped = time.monotonic() - cut_at
            assert "could not renew the dialing lease" in a.log(), a.log()[-3000:]
            seconds = await took_over(nodes.b, cut_at, TAKEOVER + 10)
            print(
                f"\ncut off: the leader stood by after {stopped:.1f} s, the standby took over after {seconds:.1f} s"
            )
            # Still cut off, node A lives on and answers, standing by.
            assert a.process.returncode is None and await a.alive() == 200
            await campaign_done(nodes)
            # The old leader wrote no attempt after the cut, and never dials without one: any Originate of its
            # after the cut would show here as a channel without its row, or as an attempt dialled twice.
            await dialled_once_each(nodes)

            # Its network back, node A serves as a standby beside the new leader.
            line.mend()
            await until(lambda: leader_is(a, False), "node A's health, standing by", timeout=20, every=0.3)
            assert (await a.leader_gauge(), await nodes.b.leader_gauge()) == (0, 1)
            assert a.process.returncode is None

            # The new leader dies: node A takes the lease again, at a new generation.
            killed_at = time.monotonic()
            await nodes.b.kill()
            await until(
                lambda: a.log().count("taking over dialing") == 2,
                "node A to lead again",
                timeout=TAKEOVER + 10,
            )
            again = time.monotonic() - killed_at
            print(f"node A led again {again:.1f} s after the new leader was killed")
            await until(lambda: leader_is(a, True), "node A's health, leading", timeout=20, every=0.3)
            await until(lambda: gauge_is(a, 1), "node A's dialer_leader at 1", timeout=20, every=0.5)
            (lease,) = await nodes.rows("select holder, generation from leases")
            assert lease["holder"].startswith("node-a:") and lease["generation"] == 3, lease
            assert a.process.returncode is None
    finally:
        await line.stop()
