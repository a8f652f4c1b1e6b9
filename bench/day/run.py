"""One clinic day on the sandbox: the peak hour's callers and simulated administrators (bench.peak.run) for the
day's hours, the service as one or two real `dialer run` processes on one database (PostgreSQL or SQLite), the
leader SIGKILLed once at a seeded moment, and both Asterisks' events kept for the figures.

The service's clock (the product's [rehearsal] setting) is placed so that the clinic's calling hours end
(21:00 its time) just after the last caller's callback deadline: the day's end and its "no calls after hours"
rule are inside the run, whatever the host's hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.day.nodes import Node, rss_course, rss_growth, sample_memory, wait_exit
from bench.day.outbound import OutboundDay, Windows
from bench.day.outbound_run import import_lists, received, with_outbound
from bench.day.traffic import DayTraffic
from bench.lib.clinic import ClinicTime
from bench.lib.rawami import Frame, RawAmi
from bench.lib.service import free_port
from bench.peak.config import on_host_clock, service_config
from bench.peak.run import Driver
from bench.peak.traffic import Caller
from dialer.core.calendar import WorkCalendar, working_morning
from dialer.sandbox import Sandbox
from dialer.sandbox.carrier import CARRIER_USERNAME
from dialer.sandbox.sandbox import AmiCredentials
from tests.fakes.twilio_server import FakeTwilio

CALLING_ENDS = time_of_day(21, 0)  # the product's default calling hours: 08:00-21:00, the clinic's time
CLINIC_ZONE = "Asia/Omsk"
# The standby takes over when the leader's lease is this old: 3 real seconds, about 18 s of the clinic's time at
# x6 (the product's default is 10 s).
TAKEOVER_S = 3.0
NO_LISTS = OutboundDay((), ())


@dataclass
class DayRun:
    t0: float
    stopped: float
    offset_s: float  # the service's clock minus the host's
    zone: str
    events: list[tuple[float, Frame]]
    carrier_events: list[tuple[float, Frame]]
    calls: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    killed_at: float | None
    back_at: float | None  # the restarted node healthy again, or the standby leading
    standby: str  # what the second node did
    rss_growth_mb: float
    rss_samples: int
    service_errors: list[str] = field(default_factory=list)
    hung_up: dict[str, int] = field(default_factory=dict)
    sms: list[dict[str, str]] = field(default_factory=list)  # what the Twilio-compatible server took
    lists: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # reminders, recalls: the patients
    recall_rows: list[dict[str, Any]] = field(default_factory=list)
    reminder_rows: list[dict[str, Any]] = field(default_factory=list)
    rss_course: list[dict[str, Any]] = field(default_factory=list)  # bench.day.nodes.rss_course


def clinic_clock(seconds_to_close: float) -> ClinicTime:
    """The clinic's clock reading 21:00 (its zone, a working day) `seconds_to_close` after now."""
    tz = ZoneInfo(CLINIC_ZONE)
    host = datetime.now(UTC)
    close = working_morning(host, tz, WorkCalendar(skip_holidays=False), CALLING_ENDS)
    return ClinicTime(tz, close - timedelta(seconds=seconds_to_close), host)


class DayDriver(Driver):
    """Plays the day's callers against the service, kills its leader once, and keeps what the world saw."""

    def __init__(
        self,
        day: DayTraffic,
        creds: AmiCredentials,
        sandbox: Sandbox,
        root: Path,
        *,
        database_url: str | None,
        nodes: int,
        kill_at: float,
        outbound: OutboundDay = NO_LISTS,
    ) -> None:
        super().__init__(day.traffic, creds, sandbox, root, "deadline")
        self.day = day
        self.database_url = database_url or f"sqlite+aiosqlite:///{root / 'var' / 'dialer.db'}"
        self.on_postgres = database_url is not None
        self.node_count = nodes
        self.kill_at = kill_at
        self.killed_at: float | None = None
        self.back_at: float | None = None
        self.standby = "none (--nodes 1): the killed process is restarted at once"
        self.took_over_by = ""  # what told the standby's takeover: its log line or its /api/health
        self.outbound = outbound
        self.windows = Windows.for_span(day.traffic.span, 60.0)
        self.twilio = FakeTwilio()

    def _config(self, clinic: ClinicTime, port: int) -> str:
        text = service_config(self.creds, self.traffic, "deadline", port, clinic)
        service = f'[service]\ndatabase_url = "{self.database_url}"\ntakeover = "{TAKEOVER_S:g}s"\n'
        # Asterisk's queue_log tells how the calls that ended while no node watched ended (the leader dead, the
        # standby not yet leading): an installation sets it, and so does the day.
        queue_log = self.sandbox.layout.root / "var/log/asterisk/queue_log"
        text = text.replace("[service]\n", service, 1)
        text = text.replace("[inbound]\n", f'[inbound]\nqueue_log = "{queue_log}"\n', 1)
        min_gap = self.traffic.scale.wall(self.traffic.profile.min_gap_real)
        return with_outbound(text, self.twilio, clinic, self.windows, min_gap)

    def _nodes(self, clinic: ClinicTime) -> list[Node]:
        nodes = []
        for i in range(1, self.node_count + 1):
            home = self.root / f"node{i}"
            home.mkdir(parents=True, exist_ok=True)
            port = free_port()
            config = home / "dialer.toml"
            config.write_text(self._config(clinic, port), encoding="utf-8")
            nodes.append(Node(f"node{i}", home, config, port, self._env()))
        return nodes

    def _closing_in(self) -> float:
        """Wall seconds from now to 21:00 the clinic's time: the last caller's deadline, plus the start-up."""
        traffic = self.traffic
        last = max(c.at + c.patience for c in traffic.callers)
        return 60.0 + last + traffic.scale.wall(traffic.profile.deadline_real) + 10.0

    async def run_day(self, *, log: Callable[[str], None]) -> DayRun:
        (self.root / "var").mkdir(parents=True, exist_ok=True)
        await self.twilio.start()
        clinic = clinic_clock(self._closing_in())
        started = time.time()
        nodes = self._nodes(clinic)
        ami = self.ami = await RawAmi.logged_in(
            self.creds.host, self.creds.port, self.creds.username, self.creds.secret
        )
        saved = {name: await self.getvar(name) for name in ("DIALER_INBOUND_QUEUE", "DIALER_QUEUE_TIMEOUT")}
        carrier_port = self.sandbox.layout.carrier_ami_port
        carrier = self.carrier = await RawAmi.logged_in(
            self.creds.host, carrier_port, CARRIER_USERNAME, self.creds.secret
        )
        carrier.listeners.append(self._on_carrier_event)
        try:
            left = await self.wait_idle()
            if left:
                log(f"warning: {left} channels still up on the sandbox before the day")
            await self.prepare_sandbox()
            first = nodes[0]
            for line in await import_lists(
                self.outbound, clinic, first.root, first.config, first.env, sys.executable
            ):
                log(f"  {line}")
            await nodes[0].start()
            if len(nodes) > 1:
                await self._start_standby(nodes[1], log)
            ami.listeners.append(self._on_event)
            async with asyncio.TaskGroup() as group:
                helpers = [
                    group.create_task(self._set_talk_times()),
                    group.create_task(sample_memory(nodes)),
                ]
                t0 = time.time() + 1.0
                killer = group.create_task(self._kill_once(nodes, t0, log))
                ami.events.clear()
                carrier.events.clear()
                await self._originate_all(t0)
                log(f"  {len(self.traffic.callers)} calls placed at {time.time() - t0:.0f} s; draining")
                await self._drain(t0, log)
                await self._outbound_done(started, log)
                await killer
                for helper in helpers:
                    helper.cancel()
            stopped = time.time()
            warm_up = 0.2 * self.traffic.span
            growth = rss_growth(nodes, warm_up, stopped)
            for node in nodes:
                await node.stop()
            calls, tasks, attempts = await asyncio.to_thread(self._rows_at, clinic.offset)
            recalls = await asyncio.to_thread(self._query, "select external_id, status, reason from recalls")
            reminders = await asyncio.to_thread(
                self._query, "select appointment_id, reminder_status, reminder_digit from appointments"
            )
            lists = {
                "reminders": [vars_of(p) for p in self.outbound.reminders],
                "recalls": [vars_of(p) for p in self.outbound.recalls],
            }
            return DayRun(
                t0, stopped, clinic.offset.total_seconds(), CLINIC_ZONE, list(ami.events),
                list(carrier.events), calls, tasks, attempts, self.killed_at, self.back_at, self.standby,
                growth, sum(len(n.rss) for n in nodes), self._node_errors(nodes), dict(self.hung_up),
                received(self.twilio), lists, recalls, reminders, rss_course(nodes, t0, stopped),
            )  # fmt: skip
        finally:
            for node in nodes:
                await node.kill()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.members, 0)
                for name, value in saved.items():
                    await self.setvar(name, value)
            ami.listeners.clear()
            await ami.close()
            await carrier.close()
            await self.twilio.stop()

    async def _outbound_done(self, started: float, log: Callable[[str], None]) -> None:
        """Past the reminder plan's last window and the КОС round, with time for the last SMS."""
        end = started + max(self.windows.second[1], self.windows.recalls[1]) + 30.0
        if end > time.time():
            log(f"  waiting {end - time.time():.0f} s more for the reminder plan's end and its SMS")
            await asyncio.sleep(end - time.time())

    async def _start_standby(self, node: Node, log: Callable[[str], None]) -> None:
        await node.start(healthy=False)
        end = time.monotonic() + 60.0
        while time.monotonic() < end and node.alive:
            health = await node.health()
            if health is not None and health.get("ami") == "connected" and health.get("leader") is False:
                self.standby = "stands by beside the first (its AMI link up, not leading)"
                log(f"  --nodes 2: the second node {self.standby}")
                return
            await asyncio.sleep(0.3)
        if await wait_exit(node, 1.0):
            self.standby = f"EXITED at start-up: {node.refused_standby()}"
        else:
            self.standby = "did not stand by within 60 s"
        log(f"  --nodes 2: the second node {self.standby}; nothing will take over")

    async def _kill_once(self, nodes: list[Node], t0: float, log: Callable[[str], None]) -> None:
        await asyncio.sleep(max(0.0, t0 + self.kill_at - time.time()))
        leader = nodes[0]
        await leader.kill()
        self.killed_at = time.time()
        log(f"  SIGKILL to {leader.name} at {self.killed_at - t0:.0f} s")
        if len(nodes) == 1:
            await leader.start(timeout=90)
            self.back_at = time.time()
            log(f"  {leader.name} restarted, healthy {self.back_at - self.killed_at:.1f} s after the kill")
            return
        # Two nodes: nothing is restarted; the standby takes over by itself, or the day goes on without a leader.
        self.back_at = await self._taking_over(nodes[1], timeout=120.0)
        took = f"{self.back_at - self.killed_at:.1f} s" if self.back_at else "never (within 120 s)"
        log(f"  {nodes[1].name} took over ({self.took_over_by or 'nothing'}) {took} after the kill")
        self.standby += f"; took over {took} after the kill ({self.took_over_by or 'nothing said so'})"

    async def _taking_over(self, node: Node, timeout: float) -> float | None:
        """When the standby says it leads: its log's «taking over dialing» or `"leader": true` in /api/health,
        whichever is seen first (polled every 0.2 s)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and node.alive:
            if "taking over dialing" in node.log_text():
                self.took_over_by = "its log: taking over dialing"
                return time.time()
            health = await node.health()
            if health is not None and health.get("leader") is True:
                self.took_over_by = "its /api/health: leader"
                return time.time()
            await asyncio.sleep(0.2)
        return None

    def _node_errors(self, nodes: list[Node]) -> list[str]:
        errors: list[str] = []
        for node in nodes:
            path = node.root / "service.log"
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()
                errors += [f"{node.name}: {x}" for x in lines if " ERROR " in x or "Traceback" in x]
        return errors

    # -- the database, SQLite or PostgreSQL -----------------------------------------------------------

    def _query(self, sql: str) -> list[dict[str, Any]]:
        if not self.on_postgres:
            return super()._query(sql)
        return asyncio.run(self._pg_query(sql))

    async def _pg_query(self, sql: str) -> list[dict[str, Any]]:
        engine = create_async_engine(self.database_url)
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(sql))
                return [{k: _as_text(v) for k, v in row.items()} for row in result.mappings()]
        finally:
            await engine.dispose()

    def _callback_caller(self, attempt_id: str, frame: Frame) -> Caller | None:
        if self.on_postgres:
            for key in ("CallerIDNum", "ConnectedLineNum"):
                caller = self.callers.get(frame.get(key, ""))
                if caller is not None:
                    return caller
            return None
        return super()._callback_caller(attempt_id, frame)

    def _rows_at(
        self, offset: timedelta
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        return (
            on_host_clock(self._query("select * from inbound_calls order by started_at"), offset),
            on_host_clock(self._query("select * from callback_tasks order by task_id"), offset),
            on_host_clock(self._query("select * from attempts order by created_at"), offset),
        )


def vars_of(patient: Any) -> dict[str, str]:
    return {"row_id": patient.row_id, "phone": patient.phone, "behaviour": patient.behaviour}


def _as_text(value: Any) -> Any:
    """PostgreSQL's times as SQLite's: naive UTC text, so the rows read alike from both."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    return value
