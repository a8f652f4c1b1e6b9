"""One run of the peak hour: the real `dialer run` service on the sandbox, the seeded callers, and an observer.

As tests/inbound_scenario.py does it: a home folder with a dialer.toml (fresh SQLite under it), the queue
`test-reception` (tests/asterisk/queues_test.conf) selected with the global DIALER_INBOUND_QUEUE, simulated
administrators `Local/adminN@sandbox-agents` (tests/asterisk/sandbox_extra.conf) as its members, and callers
as AMI Originates of `Local/100@clinic-inbound` running `Wait(<patience>)`; over the carrier (the default
of bench.peak_hour), Originates on the carrier's AMI of `PJSIP/100@clinic`, which reach `clinic-inbound`
over the trunk with the caller's number, as a call from the public network does, and callbacks go out over the
trunk to the carrier's people.

Patience: the caller's leg runs `Wait()` far longer than needed, and the driver hangs it up (AMI Hangup; over
the carrier, the caller's own channel on the carrier, so the clinic sees the BYE) when the caller's patience
runs out unless an administrator has picked up by then (AgentConnect with the caller's number): patience bounds
the wait, never the conversation.

Talk times: the simulated administrator reads the global SIM_TALK_adminN once it answers (1 s after it starts
ringing). The observer sets it per conversation just before that: on AgentCalled (a queue call: the caller's
number says whose call it is) and on the Newchannel of a callback's administrator leg (the attempt id says
whose callback it is). So each patient's conversation lasts the same in both runs, whoever takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.lib.clinic import ClinicTime
from bench.lib.rawami import Frame, RawAmi
from bench.lib.service import free_port, service_env, start_service, stop_service, wait_healthy
from bench.peak.config import QUEUE, callback_attempt, on_host_clock, service_config
from bench.peak.traffic import Caller, Traffic
from dialer.sandbox import Sandbox
from dialer.sandbox.carrier import CARRIER_USERNAME
from dialer.sandbox.layout import ENV_DIR, ENV_PORT
from dialer.sandbox.sandbox import AmiCredentials

ALL_ADMINS = tuple(f"admin{i}" for i in range(1, 10))
ADMIN_CHANNEL = re.compile(r"^Local/(admin\d)@sandbox-agents-[0-9a-f]+;2$")
CALLER_CHANNEL = re.compile(r"^Local/100@clinic-inbound-[0-9a-f]+;1$")
LINE_KEPT_S = 600.0  # the caller's Wait(): longer than any wait plus conversation
SAVED_GLOBALS = ("DIALER_INBOUND_QUEUE", "DIALER_QUEUE_TIMEOUT")


@dataclass
class RunData:
    """Everything measured from one run: raw events, the service's rows, what the driver did."""

    policy: str
    t0: float  # wall clock (time.time()) of the schedule's zero
    stopped: float  # wall clock when the service was stopped
    events: list[tuple[float, Frame]]
    calls: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    originated: dict[str, float] = field(default_factory=dict)  # caller digits -> wall clock sent
    talk_set: dict[str, int] = field(default_factory=dict)  # how SIM_TALK was chosen: queue/callback/unknown
    hung_up: dict[str, int] = field(default_factory=dict)  # patience ends: hung up / answered before / ?
    service_errors: list[str] = field(default_factory=list)
    hold: dict[str, float] = field(default_factory=dict)  # final correction per kind (queue, callback), s


class Driver:
    """Plays one traffic schedule against a service with one callback order."""

    def __init__(
        self,
        traffic: Traffic,
        creds: AmiCredentials,
        sandbox: Sandbox,
        root: Path,
        policy: str,
        source: Path | None = None,
    ) -> None:
        self.source = source  # where the service's `dialer` package is imported from (None: as installed)
        self.traffic = traffic
        self.creds = creds
        self.sandbox = sandbox
        self.root = root
        self.policy = policy
        self.callers = traffic.by_digits()
        self.ami: RawAmi | None = None
        self.actions: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.talk_set: dict[str, int] = {"queue": 0, "callback": 0, "unknown": 0}
        # How much longer than SIM_TALK an administrator's leg stays up, per kind of call: learnt from the run's
        # own conversations (0.5 s or ~0 depending on the sandbox and the kind), applied to the next ones.
        self.hold: dict[str, float] = {"queue": 0.5, "callback": 0.5}
        self.extra: dict[str, list[float]] = {"queue": [], "callback": []}
        self.set_for: dict[str, tuple[str, float, bool]] = {}  # admin -> (kind, SIM_TALK, a conversation?)
        self.up_at: dict[str, float] = {}  # admin `;2` channel -> its Up time
        self.caller_channel: dict[str, str] = {}  # caller digits -> their `;1` channel (the phone)
        self.connected: set[str] = set()  # caller digits an administrator picked up
        self.carrier: RawAmi | None = None  # the carrier's AMI, where callers call from (traffic.carrier)
        self.carrier_channel: dict[str, str] = {}  # the caller's ChannelId on the carrier -> its channel name
        self.hung_up: dict[str, int] = {"patience": 0, "answered first": 0, "no channel": 0}

    @property
    def db(self) -> Path:
        return self.root / "var" / "dialer.db"

    # -- the observer's reactions: talk times --------------------------------------------------------

    def _on_event(self, frame: Frame) -> None:
        name = frame.get("Event")
        if name in ("NewCallerid", "Newchannel") and CALLER_CHANNEL.match(frame.get("Channel", "")):
            self.caller_channel.setdefault(frame.get("CallerIDNum", ""), frame["Channel"])
        elif name == "AgentConnect":
            self.connected.add(frame.get("CallerIDNum", ""))
        elif name == "AgentCalled":
            admin = frame.get("Interface", "").removeprefix("Local/").split("@")[0]
            caller = self.callers.get(frame.get("CallerIDNum", ""))
            if admin in ALL_ADMINS and caller is not None:
                self.talk_set["queue"] += 1
                self._set_talk(admin, "queue", caller.talk, conversation=True)
        elif name == "Newchannel":
            match = ADMIN_CHANNEL.match(frame.get("Channel", ""))
            uniqueid = frame.get("Uniqueid", "")
            if match and callback_attempt(uniqueid) is not None:
                caller = self._callback_caller(uniqueid.removesuffix(";2"), frame)
                key = "callback" if caller is not None else "unknown"
                self.talk_set[key] += 1
                talk = (
                    caller.talk
                    if caller is not None
                    else self.traffic.scale.wall(sum(self.traffic.profile.talk_real) / 2)
                )
                answers = caller is not None and caller.answers_callback
                ring = self.traffic.patient_ring_s
                self._set_talk(match.group(1), "callback", talk + ring, conversation=answers)
        elif name in ("Newstate", "Hangup"):
            self._learn_hold(frame)

    def _on_carrier_event(self, frame: Frame) -> None:
        if frame.get("Event") == "Newchannel" and frame.get("Uniqueid", "").startswith("peak-"):
            self.carrier_channel[frame["Uniqueid"]] = frame.get("Channel", "")

    def _set_talk(self, admin: str, kind: str, seconds: float, *, conversation: bool) -> None:
        value = round(max(0.1, seconds - self.hold[kind]), 2)
        self.set_for[admin] = (kind, value, conversation)
        self.actions.put_nowait((admin, f"{value:.2f}"))

    def _learn_hold(self, frame: Frame) -> None:
        channel = frame.get("Channel", "")
        match = ADMIN_CHANNEL.match(channel)
        if match is None:
            return
        stamp = float(frame.get("Timestamp", "0") or 0)
        if frame.get("Event") == "Newstate" and frame.get("ChannelStateDesc") == "Up":
            self.up_at[channel] = stamp
            return
        up = self.up_at.pop(channel, None)
        kind, value, conversation = self.set_for.get(match.group(1), ("", 0.0, False))
        if up is None or not conversation or stamp - up < 0.3:
            return  # a ringall loser, or a callback whose patient never answered
        extra = self.extra[kind]
        extra.append(stamp - up - value)
        self.hold[kind] = statistics.median(extra[-15:])

    def _callback_caller(self, attempt_id: str, frame: Frame) -> Caller | None:
        for key in ("CallerIDNum", "ConnectedLineNum"):
            caller = self.callers.get(frame.get(key, ""))
            if caller is not None:
                return caller
        # The attempt row is written ("dialing") before its Originate goes out: read the number from it.
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(self.db, timeout=0.5) as conn:
            row = conn.execute("select phone from attempts where attempt_id = ?", (attempt_id,)).fetchone()
            if row:
                return self.callers.get(str(row[0]).lstrip("+"))
        return None

    async def _set_talk_times(self) -> None:
        assert self.ami is not None
        while True:
            admin, seconds = await self.actions.get()
            await self.ami.send("Setvar", [("Variable", f"SIM_TALK_{admin}"), ("Value", seconds)])

    # -- the sandbox around a run ---------------------------------------------------------------------

    async def setvar(self, name: str, value: str) -> None:
        assert self.ami is not None
        await self.ami.send("Setvar", [("Variable", name), ("Value", value)])

    async def getvar(self, name: str) -> str:
        assert self.ami is not None
        reply = await self.ami.send("Getvar", [("Variable", name)])
        return reply.get("Value", "")

    def members(self, admins: int) -> None:
        """Exactly admin1..adminN in the test queue, answering."""
        for admin in ALL_ADMINS:
            self.sandbox.rx(f"queue remove member Local/{admin}@sandbox-agents from {QUEUE}")
        for admin in ALL_ADMINS[:admins]:
            self.sandbox.rx(f"queue add member Local/{admin}@sandbox-agents to {QUEUE}")

    async def wait_idle(self, timeout: float = 90.0) -> int:
        """Until the sandbox has no channels (a previous run's or test's); returns what is left."""
        left = 0
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            out = await asyncio.to_thread(self.sandbox.rx, "core show channels count")
            found = re.search(r"(\d+) active channels?", out)
            left = int(found.group(1)) if found else 0
            if left == 0:
                return 0
            await asyncio.sleep(1.0)
        return left

    async def prepare_sandbox(self) -> None:
        """The queue the inbound calls go to, its timeout, and the administrators in it, answering."""
        profile, scale = self.traffic.profile, self.traffic.scale
        await self.setvar("DIALER_INBOUND_QUEUE", QUEUE)
        await self.setvar("DIALER_QUEUE_TIMEOUT", str(max(1, round(scale.wall(profile.queue_timeout_real)))))
        for admin in ALL_ADMINS[: profile.admins]:
            await self.setvar(f"SIM_MODE_{admin}", "answer")
            await self.setvar(f"SIM_TALK_{admin}", f"{scale.wall(sum(profile.talk_real) / 2):.2f}")
        await asyncio.to_thread(self.members, profile.admins)

    async def run(self, *, log: Callable[[str], None]) -> RunData:
        """One policy's run: the service started on a fresh home, the callers placed, the rows and events kept."""
        self.root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = self.root / "dialer.toml"
        clinic = ClinicTime.morning()
        config.write_text(
            service_config(self.creds, self.traffic, self.policy, port, clinic), encoding="utf-8"
        )
        ami = self.ami = await RawAmi.logged_in(
            self.creds.host, self.creds.port, self.creds.username, self.creds.secret
        )
        saved = {name: await self.getvar(name) for name in SAVED_GLOBALS}
        process: asyncio.subprocess.Process | None = None
        if self.traffic.carrier:
            carrier_port = self.sandbox.layout.carrier_ami_port
            self.carrier = await RawAmi.logged_in(
                self.creds.host, carrier_port, CARRIER_USERNAME, self.creds.secret
            )
            self.carrier.listeners.append(self._on_carrier_event)
        try:
            left = await self.wait_idle()
            if left:
                log(f"warning: {left} channels still up on the sandbox before the {self.policy} run")
            await self.prepare_sandbox()
            process = await start_service(self.root, config, self._env())
            await wait_healthy(f"http://127.0.0.1:{port}", process, root=self.root, timeout=40)
            ami.listeners.append(self._on_event)
            async with asyncio.TaskGroup() as group:
                setter = group.create_task(self._set_talk_times())
                t0 = time.time() + 1.0
                ami.events.clear()
                ami.chunks.clear()
                originated = await self._originate_all(t0)
                log(
                    f"  {self.policy}: {len(originated)} calls placed, the last patience over at "
                    f"{time.time() - t0:.0f} s; draining"
                )
                await self._drain(t0, log)
                setter.cancel()
            stopped = time.time()
            await stop_service(process)
            calls, tasks, attempts = self._rows(clinic.offset)
            return RunData(
                self.policy, t0, stopped, list(ami.events), calls, tasks, attempts, originated,
                talk_set=dict(self.talk_set), hung_up=dict(self.hung_up), service_errors=self._errors(),
                hold=dict(self.hold),
            )  # fmt: skip
        finally:
            if process is not None and process.returncode is None:
                await stop_service(process)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.members, 0)
                for name, value in saved.items():
                    await self.setvar(name, value)
            ami.listeners.clear()
            await ami.close()
            if self.carrier is not None:
                await self.carrier.close()

    def _env(self) -> dict[str, str]:
        # The service is told which sandbox it talks to (the bench's own one, by default), so that it accepts
        # the [rehearsal] section that puts it on the clinic's morning.
        layout = self.sandbox.layout
        env = service_env({ENV_DIR: str(layout.base), ENV_PORT: str(layout.ami_port)})
        if self.source is not None:
            env["PYTHONPATH"] = str(self.source)
        return env

    async def imported_from(self) -> str:
        """Where the service will import `dialer` from (the snapshot, when one is given)."""
        self.root.mkdir(parents=True, exist_ok=True)
        probe = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import dialer; print(dialer.__file__)",
            cwd=self.root,
            stdout=asyncio.subprocess.PIPE,
            env=self._env(),
        )
        out, _ = await probe.communicate()
        return out.decode().strip()

    async def _originate_all(self, t0: float) -> dict[str, float]:
        assert self.ami is not None
        sent: dict[str, float] = {}
        failures: list[str] = []

        async def call(caller: Caller) -> None:
            assert self.ami is not None
            sent[caller.digits] = time.time()
            headers = [
                ("Application", "Wait"),
                ("Data", f"{LINE_KEPT_S:.0f}"),
                ("CallerID", f'"Пациент" <{caller.digits}>'),
                ("Async", "true"),
            ]
            if self.carrier is not None:
                # Fixed width: Asterisk refuses a ChannelId that is a prefix of a live channel's Uniqueid.
                channel_id = self._caller_id(caller)
                headers += [("Channel", "PJSIP/100@clinic"), ("ChannelId", channel_id)]
                reply = await self.carrier.send("Originate", headers)
            else:
                reply = await self.ami.send("Originate", [("Channel", "Local/100@clinic-inbound"), *headers])
            if reply.get("Response") != "Success":
                failures.append(f"{caller.digits}: {reply}")
                return
            await asyncio.sleep(max(0.0, sent[caller.digits] + caller.patience - time.time()))
            await self._give_up(caller)

        async with asyncio.TaskGroup() as group:
            for caller in self.traffic.callers:
                delay = t0 + caller.at - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                group.create_task(call(caller))
        if failures:
            raise RuntimeError(f"{len(failures)} Originates refused, e.g. {failures[0]}")
        return sent

    def _caller_id(self, caller: Caller) -> str:
        return f"peak-{self.policy[:4]}-{caller.index:05d}"

    async def _give_up(self, caller: Caller) -> None:
        """The caller's patience is over: hang up unless an administrator has answered."""
        assert self.ami is not None
        if caller.digits in self.connected:
            self.hung_up["answered first"] += 1
            return
        if self.carrier is not None:
            channel = self.carrier_channel.get(self._caller_id(caller))
            if channel is None:
                self.hung_up["no channel"] += 1
                return
            self.hung_up["patience"] += 1
            await self.carrier.send("Hangup", [("Channel", channel), ("Cause", "16")])
            return
        channel = self.caller_channel.get(caller.digits)
        if channel is None:
            self.hung_up["no channel"] += 1
            return
        self.hung_up["patience"] += 1
        await self.ami.send("Hangup", [("Channel", channel), ("Cause", "16")])

    def _query(self, sql: str) -> list[dict[str, Any]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(self.db, timeout=5) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql)]

    async def _drain(self, t0: float, log: Callable[[str], None]) -> None:
        """Until every call has ended and every task is closed, or every deadline and second try is past."""
        p, scale = self.traffic.profile, self.traffic.scale
        last = max(c.at + c.patience for c in self.traffic.callers) + 8.0  # + the callback-promise prompt
        tail = scale.wall(p.deadline_real + p.min_gap_real + 2 * p.ring_timeout_real) + 15.0
        cap = t0 + last + tail
        n = len(self.traffic.callers)
        while time.time() < cap:
            await asyncio.sleep(1.0)
            rows = await asyncio.to_thread(
                self._query,
                "select (select count(*) from inbound_calls) as calls, "
                "(select count(*) from callback_tasks where state = 'open') as open",
            )
            if rows and rows[0]["calls"] >= n and rows[0]["open"] == 0:
                return
        log(f"  {self.policy}: drain cap reached ({cap - t0:.0f} s after the start)")

    def _rows(
        self, offset: timedelta
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """The service's rows, with their times moved from the service's clock (the clinic's morning, see
        ClinicTime) back to the host's, where the driver's and Asterisk's times are."""
        return (
            on_host_clock(self._query("select * from inbound_calls order by started_at"), offset),
            on_host_clock(self._query("select * from callback_tasks order by task_id"), offset),
            on_host_clock(self._query("select * from attempts order by created_at"), offset),
        )

    def _errors(self) -> list[str]:
        path = self.root / "service.log"
        if not path.exists():
            return []
        lines = path.read_text(errors="replace").splitlines()
        return [line for line in lines if " ERROR " in line or "Traceback" in line]
