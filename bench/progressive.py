"""KOS progressive dialling vs preview dialling on the real Asterisk, time-compressed.

    .venv/bin/python -m bench.progressive                        # 200 patients each, 5 admins, x10, seed 1
    .venv/bin/python -m bench.progressive --save run.json.gz     # keep the raw events; --analyze reprints
    .venv/bin/python -m bench.progressive --max-channels 5       # what-if: trunk lines = administrators
    .venv/bin/python -m bench.progressive --queue bench-kos-rr   # what-if: rrmemory instead of ringall

Five simulated administrators (`Local/admin10@sandbox-agents` … `admin14`, tests/asterisk/sandbox_extra.conf:
rings 1 s, answers, talks SIM_TALK_adminN seconds, hangs up) work two lists of 200 recall patients with the same
behaviours in the same order and the same talk time each, but fresh numbers (tests/asterisk/patients.conf:
`…1` answers after a 1 s ring and stays until the other side hangs up, `…3` rings until the call times out,
`…2` busy):

* **progressive**: the real `dialer run` service (own home folder and SQLite), its clinic answering from the
  queue `bench-kos` (tests/asterisk/queues_test.conf: the reception queue's settings, no wrap-up time) whose
  members are the five administrators; the 200 recalls go in by `POST /api/kos`, one call per patient
  (`[campaigns.kos] calls = 1`), ratio 1.0. The service dials a patient only while an administrator is free and
  hands the answered one to the queue.
* **preview** (the baseline): each administrator takes the next patient of the same shared list, reads the card
  (10 s real), then starts the call by hand: the bench originates the patient and, once they answer, dials that
  administrator (`Originate Local/<number>@patients` with `Dial(Local/adminN@sandbox-agents)`), waits for the
  call to end, and takes the next card.

Both modes stop after the same 200 patients (not after the same wall time). Every real duration is divided by
the compression factor (default 10): talk times 60-140 s real -> 6-14 s, the card 10 s -> 1 s, the patient's
ring timeout 30 s -> 3 s. Not compressible: the simulated phones' 1 s ring before they answer (10 s real), and
the queue's wait for an administrator before a call counts as dropped (`wait_for_admin`, the product's 4 s
default: it must cover the administrator's 1 s ring).

Measured from Asterisk's own events on an independent AMI connection (bench/lib/rawami.py):

  talk         per administrator: their channel's time in the bridge with a patient (BridgeEnter -> Leave)
  logged in    the same window for every administrator of a mode: start of work (progressive: the first dial;
               preview: the first card opened) -> the last hangup of the mode
  occupancy    talk / logged-in time, summed over the administrators
  drop rate    answered patients who never reached an administrator (the product's UserEvent DialerCallback
               DROPPED, or hung up in the queue) / answered patients
  reached      patients bridged to an administrator, per administrator-hour of real (uncompressed) time
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import itertools
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.campaign import ClinicMorning, parse_mix
from bench.lib.rawami import Frame, RawAmi
from bench.lib.service import free_port, service_env, start_service, stop_service, wait_healthy
from dialer.engine.progressive import DROP_EVIDENCE
from dialer.sandbox import Sandbox
from dialer.sandbox.sandbox import AmiCredentials

QUEUES = ("bench-kos", "bench-kos-rr")  # tests/asterisk/queues_test.conf: ringall (as shipped) / rrmemory
# Their own extensions (tests/asterisk/sandbox_extra.conf): the integration tests use admin1..3 and the peak-hour
# benchmark admin1..5 on the same sandbox, and a shared administrator's device state would pace both.
ADMINS = ("admin10", "admin11", "admin12", "admin13", "admin14")
DEFAULT_MIX = "1:120,3:50,2:30"  # 60 % answer, 25 % no answer, 15 % busy
PATIENT = re.compile(r"^Local/(\d+)@patients-[0-9a-f]+;1$")
ADMIN = re.compile(r"^Local/(admin\d+)@sandbox-agents-[0-9a-f]+;1$")
BEHAVIOURS = {"1": "answers", "2": "busy", "3": "no answer"}
PASSWORD = "пароль-для-бенча"
# Free (1) or ringing (6): an administrator a waiting patient may still get (tests/kos_scenario.py's rule).
AVAILABLE = ("1", "6")


@dataclass(frozen=True)
class Scale:
    """Real durations and the compression factor that turns them into wall time on the sandbox."""

    factor: float = 10.0
    talk_real: tuple[float, float] = (60.0, 140.0)
    card_real: float = 10.0
    ring_timeout_real: float = 30.0

    def wall(self, real: float) -> float:
        return real / self.factor


@dataclass(frozen=True)
class Patient:
    n: int
    phone: str  # E.164
    behaviour: str  # the number's last digit
    talk: float  # wall seconds the administrator talks once connected

    @property
    def digits(self) -> str:
        return self.phone.lstrip("+")


def patient_lists(mix: dict[str, int], scale: Scale, seed: int) -> dict[str, list[Patient]]:
    """The same behaviours and talk times, in the same order, for both modes; fresh numbers for each (the
    sandbox's patients are told apart by number, and another run must never pick one of ours up)."""
    rng = random.Random(seed)
    behaviours = [d for d, count in mix.items() for _ in range(count)]
    rng.shuffle(behaviours)
    low, high = scale.talk_real
    talks = [round(scale.wall(rng.uniform(low, high)), 1) for _ in behaviours]
    numbers = random.Random()  # not seeded: the numbers must differ from run to run
    used: set[str] = set()
    lists: dict[str, list[Patient]] = {}
    for mode in ("progressive", "preview"):
        patients = []
        for n, (digit, talk) in enumerate(zip(behaviours, talks, strict=True), start=1):
            phone = ""
            while not phone or phone in used:
                phone = "+7916" + "".join(str(numbers.randrange(10)) for _ in range(6)) + digit
            used.add(phone)
            patients.append(Patient(n, phone, digit, talk))
        lists[mode] = patients
    return lists


# -- the observer ----------------------------------------------------------------------------------------


class Talks:
    """Sets each administrator's talk time for the patient Asterisk is ringing them for (AgentCalled names
    the patient's channel), so that a patient talks as long whoever takes them, in both modes."""

    def __init__(self, ami: RawAmi, patients: Iterable[Patient], queue: str) -> None:
        self.ami = ami
        self.queue = queue
        self.talk = {p.digits: p.talk for p in patients}
        self.pending: set[asyncio.Task[None]] = set()
        self.set = 0
        self.unknown = 0

    def on_event(self, frame: Frame) -> None:
        if frame.get("Event") != "AgentCalled" or frame.get("Queue") != self.queue:
            return
        admin = frame.get("Interface", "").removeprefix("Local/").split("@")[0]
        patient = PATIENT.match(frame.get("Channel", ""))
        talk = self.talk.get(patient.group(1)) if patient else None
        if admin not in ADMINS or talk is None:
            self.unknown += 1
            return
        self.set += 1
        # The simulated administrator reads the global when it answers, 1 s after it starts ringing.
        task = asyncio.create_task(self.ami.setvar(f"SIM_TALK_{admin}", f"{talk:.1f}"))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)


# -- the progressive mode: the real service ---------------------------------------------------------------


def service_config(
    creds: AmiCredentials, scale: Scale, port: int, clinic: ClinicMorning, args: argparse.Namespace
) -> str:
    return f"""
{clinic.rehearsal()}
[service]
data_dir = "var"
listen_port = {port}
public_url = "http://127.0.0.1:{port}"

[ami]
host = "{creds.host}"
port = {creds.port}
username = "{creds.username}"
secret = "{creds.secret}"
ping_interval = 2

[trunks.sim]
dial = "Local/{{number}}@patients"
max_channels = {args.max_channels}
calls_per_second = 10
ring_timeout = "{round(scale.wall(scale.ring_timeout_real) * 1000)}ms"

[[clinics]]
id = "c1"
name = "Клиника «Улыбка»"
timezone = "{clinic.tz.key}"
phone = "+7 495 123-45-67"
trunk = "sim"
queues = ["{args.queue}"]
hours = []
skip_holidays = false

# A single clinic adopts every inbound call it sees: point it at a context nobody dials, so that other tests'
# callers on the shared sandbox never become callbacks here (they would take the administrators).
[inbound]
contexts = ["bench-progressive-none"]
staff_contexts = []

[campaigns.kos]
calls = 1
moves = 3
gap = "7d"
ratio = {args.ratio}
wait_for_admin = "{args.wait_for_admin}s"
drop_cap = {args.drop_cap}
per_day = 1000
window = {{ start = "08:00", end = "21:00", min_gap = "3s" }}

[sms]
provider = "none"
"""


@dataclass
class Home:
    root: Path
    port: int

    @property
    def config(self) -> Path:
        return self.root / "dialer.toml"

    @property
    def db(self) -> Path:
        return self.root / "var" / "dialer.db"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "dialer", "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            env=service_env(),
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dialer {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def active_targets(self) -> int:
        with contextlib.closing(sqlite3.connect(self.db, timeout=2)) as conn:
            row = conn.execute("select count(*) from targets where state = 'active'").fetchone()
        return int(row[0])


def offset_target_ids(home: Home) -> None:
    """Start the service's target ids at a random high number: its attempt ids (`kos:<target>:1`, also the
    channels' uniqueids) must not equal those of a test's service on the same sandbox, or Asterisk refuses the
    second channel and each service follows the other's call. One placeholder row, in no campaign of the
    product's, long finished; SQLite numbers the next rows after it."""
    base = random.randrange(100_000, 900_000)
    with contextlib.closing(sqlite3.connect(home.db, timeout=10)) as conn, conn:
        conn.execute(
            "insert into targets (target_id, clinic_id, campaign, subject_id, patient_id, phone, state,"
            " created_at, updated_at) values (?, 'c1', 'bench-offset', 'offset', '', '', 'done', ?, ?)",
            (base, "2000-01-01 00:00:00.000000", "2000-01-01 00:00:00.000000"),
        )


def add_users(home: Home) -> str:
    """The administrators as operators with their phones (so pop-ups and wrap-up forms are made as in
    production), and a token for the clinic's system. Returns the token."""
    for i, admin in enumerate(ADMINS):
        home.cli(
            "users", "add", f"op{i + 1}", "--role", "operator", "--name", f"Администратор {i + 1}",
            "--phone", f"Local/{admin}@sandbox-agents", "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
    out = home.cli("users", "add", "crm", "--role", "admin", "--api-token")
    return out.split("API-токен (показан один раз): ")[1].split()[0]


def recall_rows(patients: list[Patient], today: str) -> list[dict[str, str]]:
    return [
        {
            "recall_id": f"K-{p.n:04d}",  # zero-padded: the service calls in recall_id order, as the list goes
            "clinic": "c1",
            "patient_name": f"Пациент {p.n}",
            "phone": p.phone,
            "doctor": "Петрова Анна Викторовна",
            "comment": "Контроль пломбы через полгода",
            "target_date": today,
        }
        for p in patients
    ]


async def post_recalls(home: Home, token: str, rows: list[dict[str, str]]) -> None:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(f"{home.base}/api/kos", json=rows) as r,
    ):
        reply = await r.json()
        if r.status != 200 or reply.get("imported") != len(rows):
            raise RuntimeError(f"POST /api/kos: {r.status} {reply}")


class Lines:
    """Which of a mode's calls are up, from the events: the mode is over when every patient was dialled and
    every patient and administrator channel of it has hung up."""

    def __init__(self, patients: Iterable[Patient]) -> None:
        self.numbers = {p.digits for p in patients}
        self.dialled: set[str] = set()
        self.open: set[str] = set()  # channel names
        self.ids: set[str] = set()  # the patients' channel ids (Linkedid of their administrators' legs)

    def on_event(self, frame: Frame) -> None:
        name, channel = frame.get("Event"), frame.get("Channel", "")
        if name == "Newchannel":
            patient = PATIENT.match(channel)
            if patient and patient.group(1) in self.numbers:
                self.dialled.add(patient.group(1))
                self.ids.add(frame.get("Uniqueid", ""))
                self.open.add(channel)
            admin = ADMIN.match(channel)
            if admin and admin.group(1) in ADMINS and frame.get("Linkedid", "") in self.ids:
                self.open.add(channel)
        elif name == "Hangup":
            self.open.discard(channel)

    @property
    def all_done(self) -> bool:
        return self.dialled == self.numbers and not self.open


@dataclass
class ModeRun:
    mode: str
    patients: list[Patient]
    work_start: float  # wall clock: the first dial (progressive) or the first card opened (preview)
    started: float  # wall clock: the mode's set-up began
    ended: float  # wall clock: the mode was over
    notes: dict[str, Any] = field(default_factory=dict)


async def run_progressive(
    ami: RawAmi, creds: AmiCredentials, scale: Scale, patients: list[Patient], args: argparse.Namespace
) -> ModeRun:
    started = time.time()
    clinic = ClinicMorning.of()
    today = clinic.today.isoformat()
    lines = Lines(patients)
    ami.listeners.append(lines.on_event)
    with tempfile.TemporaryDirectory(prefix="bench-progressive-") as tmp:
        home = Home(Path(tmp), free_port())
        home.config.write_text(service_config(creds, scale, home.port, clinic, args), encoding="utf-8")
        process = await start_service(home.root, home.config)
        try:
            await wait_healthy(home.base, process, root=home.root)
            await asyncio.to_thread(offset_target_ids, home)
            token = await asyncio.to_thread(add_users, home)
            sys.stderr.write(f"progressive: posting {len(patients)} recalls to the service...\n")
            posted = time.time()
            await post_recalls(home, token, recall_rows(patients, today))
            deadline = time.monotonic() + args.timeout
            while not lines.all_done:
                # Also over when the service has nothing left to dial (a call that never got a channel).
                if not lines.open and lines.dialled and await asyncio.to_thread(home.active_targets) == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"progressive: {len(lines.dialled)} of {len(patients)} dialled in time"
                    )
                await asyncio.sleep(0.5)
            ended = time.time()
            await asyncio.sleep(1.0)
            log = (home.root / "service.log").read_text(encoding="utf-8", errors="replace")
        finally:
            await stop_service(process)
            ami.listeners.remove(lines.on_event)
    first_dial = min(
        (float(f.get("Timestamp", t)) for t, f in ami.events if is_patient_start(f, lines.numbers)),
        default=posted,
    )
    notes = {
        "posted": posted,
        "log_drops": log.count("dropped: nobody free"),
        "log_hung_up_waiting": log.count("hung up while waiting for an administrator"),
        "log_errors": [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line][:20],
        "service_log": log,
    }
    return ModeRun("progressive", patients, first_dial, started, ended, notes)


def is_patient_start(frame: Frame, numbers: set[str]) -> bool:
    patient = PATIENT.match(frame.get("Channel", ""))
    return frame.get("Event") == "Newchannel" and patient is not None and patient.group(1) in numbers


# -- the preview mode: administrators dial by hand ---------------------------------------------------------


class Hangups:
    """Futures for the hangup of the patient channels the preview administrators start."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, uniqueid: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[uniqueid] = future
        return future

    def on_event(self, frame: Frame) -> None:
        if frame.get("Event") == "Hangup":
            future = self.waiting.pop(frame.get("Uniqueid", ""), None)
            if future is not None and not future.done():
                future.set_result(time.time())


async def preview_admin(
    ami: RawAmi, admin: str, todo: deque[Patient], hangups: Hangups, scale: Scale, tag: str
) -> list[str]:
    """One administrator's preview shift: card, call by hand, talk, next card. Returns any anomalies."""
    problems = []
    ring_ms = round(scale.wall(scale.ring_timeout_real) * 1000)
    while todo:
        patient = todo.popleft()
        await asyncio.sleep(scale.wall(scale.card_real))  # reading the card
        await ami.setvar(f"SIM_TALK_{admin}", f"{patient.talk:.1f}")
        uniqueid = f"preview-{tag}-{patient.n}"
        ended = hangups.expect(uniqueid)
        reply = await ami.send(
            "Originate",
            [
                ("Channel", f"Local/{patient.digits}@patients"),
                ("Application", "Dial"),
                # The administrator's phone rings only once the patient has answered.
                ("Data", f"Local/{admin}@sandbox-agents,30"),
                ("Timeout", str(ring_ms)),
                ("ChannelId", uniqueid),
                ("CallerID", '"Клиника" <74951234567>'),
                ("Async", "true"),
            ],
        )
        if reply.get("Response") != "Success":
            problems.append(f"{uniqueid}: Originate refused: {reply.get('Message', '')}")
            hangups.waiting.pop(uniqueid, None)
            continue
        try:
            await asyncio.wait_for(ended, scale.wall(scale.ring_timeout_real) + patient.talk + 60)
        except TimeoutError:
            problems.append(f"{uniqueid}: no hangup seen")
    return problems


async def settle(lines: Lines, timeout: float = 30) -> None:
    """The administrators' legs hang up a moment after the patients' channels: wait for the last one."""
    deadline = time.monotonic() + timeout
    while lines.open and time.monotonic() < deadline:  # noqa: ASYNC110 (polled, like the service's state)
        await asyncio.sleep(0.2)


async def run_preview(ami: RawAmi, scale: Scale, patients: list[Patient]) -> ModeRun:
    started = time.time()
    lines = Lines(patients)
    hangups = Hangups()
    ami.listeners += [lines.on_event, hangups.on_event]
    todo = deque(patients)  # one shared list, in order: whoever is free takes the next card
    tag = f"{random.randrange(16**6):06x}"
    sys.stderr.write(f"preview: {len(ADMINS)} administrators work {len(patients)} cards by hand...\n")
    work_start = time.time()
    try:
        results = await asyncio.gather(*(preview_admin(ami, a, todo, hangups, scale, tag) for a in ADMINS))
        await settle(lines)
    finally:
        ami.listeners.remove(lines.on_event)
        ami.listeners.remove(hangups.on_event)
    ended = time.time()
    return ModeRun(
        "preview", patients, work_start, started, ended, {"problems": [p for r in results for p in r]}
    )


# -- the measurement --------------------------------------------------------------------------------------


@dataclass
class Call:
    channel: str
    uniqueid: str
    behaviour: str
    start: float
    answered: float | None = None
    end: float | None = None
    connected: float | None = None  # the administrator's leg entered the bridge
    admin: str = ""
    taken: bool = False  # UserEvent DialerCallback CONNECTED: the dialplan's word, often before the bridge
    dropped_event: bool = False  # UserEvent DialerCallback DROPPED
    dropped_at: float | None = None

    @property
    def outcome_at(self) -> float | None:
        """When the product counts this answered call in its drop rate: connected, dropped, or its hangup."""
        if self.answered is None:
            return None
        return self.connected or self.dropped_at or self.end


@dataclass
class Segment:
    admin: str
    call: str  # the patient's channel id
    enter: float
    leave: float | None = None


@dataclass
class Observed:
    calls: dict[str, Call] = field(default_factory=dict)  # patient channel name -> call
    segments: list[Segment] = field(default_factory=list)
    agent_talk: Counter[str] = field(default_factory=Counter)  # AgentComplete TalkTime per administrator
    last_end: float = 0.0
    most_in_air: int = 0
    most_waiting: int = 0
    over_dials: list[str] = field(default_factory=list)  # dials with more waiting than available admins


def stamp(arrived: float, frame: Frame) -> float:
    return float(frame.get("Timestamp", arrived))


class Collector:
    """One pass over the events, keeping only the calls of one mode (by the patients' numbers) and their
    administrators' legs (by Linkedid)."""

    def __init__(self, patients: list[Patient], ratio: float, queue: str) -> None:
        self.queue = queue
        self.behaviour = {p.digits: p.behaviour for p in patients}
        self.ratio = ratio
        self.seen = Observed()
        self.by_id: dict[str, Call] = {}  # channel id -> the open call with it
        self.ids: set[str] = set()  # every patient channel id of this mode
        self.legs: dict[str, Segment] = {}  # administrator channel -> its open bridge segment
        self.admin_call: dict[str, str] = {}  # administrator channel -> the patient's channel id
        self.members: dict[str, str] = {}  # queue member interface -> device state
        # Queue member interface -> the patient channel it rings for. A ringing Local channel reports "in use",
        # yet with ringall every free administrator rings for the same patient and all but one stay free.
        self.ringing: dict[str, str] = {}

    def feed(self, arrived: float, frame: Frame) -> None:
        at = stamp(arrived, frame)
        name = frame.get("Event", "")
        channel = frame.get("Channel", "")
        if name == "QueueMemberStatus" and frame.get("Queue") == self.queue:
            self.members[frame.get("Interface", "")] = frame.get("Status", "")
        elif name == "AgentCalled" and frame.get("Queue") == self.queue:
            self.ringing[frame.get("Interface", "")] = channel
        elif name in ("AgentConnect", "AgentRingNoAnswer") and frame.get("Queue") == self.queue:
            self.ringing.pop(frame.get("Interface", ""), None)
        elif name == "Newchannel":
            self._newchannel(at, frame, channel)
        elif name == "Newstate" and channel in self.seen.calls and frame.get("ChannelState") == "6":
            answered = self.seen.calls[channel]
            answered.answered = answered.answered or at
        elif name == "BridgeEnter" and channel in self.admin_call:
            self._open_leg(channel, at)
        elif name == "BridgeLeave" and channel in self.legs:
            self._close_leg(channel, at)
        elif name == "UserEvent" and frame.get("UserEvent") == "DialerCallback":
            call = self.by_id.get(frame.get("AttemptId", ""))
            if call is not None and frame.get("DialStatus") == "DROPPED":
                call.dropped_event = True
                call.dropped_at = at
            elif call is not None and frame.get("DialStatus") == "CONNECTED":
                call.taken = True  # the service may dial the next patient on this event, before the bridge
        elif (
            name == "AgentComplete" and frame.get("Queue") == self.queue and frame.get("Linkedid") in self.ids
        ):
            self.seen.agent_talk[self._admin(frame.get("Interface", ""))] += int(frame.get("TalkTime", "0"))
        elif name == "Hangup":
            self._hangup(at, channel)

    def _open_leg(self, channel: str, at: float) -> None:
        admin = self._admin(channel)
        self.legs[channel] = Segment(admin, self.admin_call[channel], at)
        call = self.by_id.get(self.admin_call[channel])
        if call is not None and call.connected is None:
            call.connected, call.admin = at, admin

    @staticmethod
    def _admin(channel: str) -> str:
        return channel.removeprefix("Local/").split("@")[0]

    def _newchannel(self, at: float, frame: Frame, channel: str) -> None:
        patient = PATIENT.match(channel)
        if patient and patient.group(1) in self.behaviour:
            call = Call(channel, frame.get("Uniqueid", ""), self.behaviour[patient.group(1)], at)
            self.seen.calls[channel] = call
            self.by_id[call.uniqueid] = call
            self.ids.add(call.uniqueid)
            self._pacing(call)
            return
        admin = ADMIN.match(channel)
        if admin and admin.group(1) in ADMINS and frame.get("Linkedid", "") in self.by_id:
            self.admin_call[channel] = frame["Linkedid"]

    def _pacing(self, call: Call) -> None:
        """At each dial: patients up and not yet with an administrator vs administrators free or ringing."""
        up = [c for c in self.by_id.values() if c.end is None]
        waiting = [c for c in up if c.connected is None and not c.taken]
        self.seen.most_in_air = max(self.seen.most_in_air, len(up))
        self.seen.most_waiting = max(self.seen.most_waiting, len(waiting))
        waiting_channels = {c.channel for c in waiting}
        available = sum(
            1
            for member, state in self.members.items()
            if state in AVAILABLE or self.ringing.get(member) in waiting_channels
        )
        if self.members and len(waiting) > available * self.ratio:
            self.seen.over_dials.append(f"{call.uniqueid}: {len(waiting)} waiting, {available} available")

    def _close_leg(self, channel: str, at: float) -> None:
        segment = self.legs.pop(channel)
        segment.leave = at
        self.seen.segments.append(segment)
        self.seen.last_end = max(self.seen.last_end, at)

    def _hangup(self, at: float, channel: str) -> None:
        if channel in self.legs:  # no BridgeLeave seen: the hangup ends the talk
            self._close_leg(channel, at)
        if channel in self.admin_call:
            self.seen.last_end = max(self.seen.last_end, at)
            del self.admin_call[channel]
        call = self.seen.calls.get(channel)
        if call is not None and call.end is None:
            call.end = at
            self.seen.last_end = max(self.seen.last_end, at)
            self.by_id.pop(call.uniqueid, None)


def observe(events: list[tuple[float, Frame]], patients: list[Patient], ratio: float, queue: str) -> Observed:
    collector = Collector(patients, ratio, queue)
    for arrived, frame in events:
        collector.feed(arrived, frame)
    return collector.seen


@dataclass
class Figures:
    mode: str
    patients: int
    calls: int
    answered: int
    reached: int
    drops: int
    dropped_events: int
    busy_or_no_answer: int
    window: float  # wall seconds each administrator was logged in
    talk: dict[str, float]  # wall seconds per administrator
    agent_talk: dict[str, int]
    idle_gap_median: float  # between one talk's end and the same administrator's next talk
    most_in_air: int
    most_waiting: int
    over_dials: int
    halved: float  # share of the window in which the product's replayed drop rate was above its 3 % cap
    factor: float

    @property
    def occupancy(self) -> float:
        return sum(self.talk.values()) / (len(ADMINS) * self.window) if self.window > 0 else 0.0

    @property
    def drop_rate(self) -> float:
        return 100.0 * self.drops / self.answered if self.answered else 0.0

    @property
    def reached_per_admin_hour(self) -> float:
        admin_hours = len(ADMINS) * self.window * self.factor / 3600.0
        return self.reached / admin_hours if admin_hours else 0.0


def halved_share(calls: list[Call], start: float, end: float, cap: float = 3.0, window: int = 100) -> float:
    """The product's rule replayed (dialer/engine/progressive.py: the drop rate over the last 100 answered
    calls, counted over at least DROP_EVIDENCE of them; above drop_cap the ratio is halved): the share of
    [start, end] spent above the cap."""
    outcomes = sorted((c.outcome_at, c.connected is None) for c in calls if c.outcome_at is not None)
    recent: deque[bool] = deque(maxlen=window)
    above = 0.0
    for (at, dropped), (following, _) in itertools.pairwise([*outcomes, (end, False)]):
        recent.append(dropped)
        if 100.0 * sum(recent) / max(len(recent), DROP_EVIDENCE) > cap:
            above += max(0.0, min(following, end) - max(at, start))
    return above / (end - start) if end > start else 0.0


def figures(run: ModeRun, seen: Observed, factor: float, cap: float) -> Figures:
    calls = list(seen.calls.values())
    answered = [c for c in calls if c.answered is not None]
    reached = [c for c in answered if c.connected is not None]
    talk = {a: 0.0 for a in ADMINS}
    gaps: list[float] = []
    by_admin: dict[str, list[Segment]] = {}
    for s in seen.segments:
        talk[s.admin] += (s.leave or s.enter) - s.enter
        by_admin.setdefault(s.admin, []).append(s)
    for segments in by_admin.values():
        segments.sort(key=lambda s: s.enter)
        gaps += [b.enter - (a.leave or a.enter) for a, b in itertools.pairwise(segments)]
    return Figures(
        mode=run.mode,
        patients=len(run.patients),
        calls=len(calls),
        answered=len(answered),
        reached=len(reached),
        drops=len(answered) - len(reached),
        dropped_events=sum(c.dropped_event for c in calls),
        busy_or_no_answer=len(calls) - len(answered),
        window=seen.last_end - run.work_start,
        talk=talk,
        agent_talk=dict(seen.agent_talk),
        idle_gap_median=statistics.median(gaps) if gaps else 0.0,
        most_in_air=seen.most_in_air,
        most_waiting=seen.most_waiting,
        over_dials=len(seen.over_dials),
        halved=halved_share(calls, run.work_start, seen.last_end, cap),
        factor=factor,
    )


# -- the report -------------------------------------------------------------------------------------------


Row = tuple[str, Callable[["Figures"], str]]


def table(columns: list[Figures], rows: list[Row]) -> None:
    print(f"  {'':<46}" + "".join(f"{f.mode:>14}" for f in columns))
    for name, show in rows:
        print(f"  {name:<46}" + "".join(f"{show(f):>14}" for f in columns))


def progressive_only(show: Callable[[Figures], str]) -> Callable[[Figures], str]:
    return lambda f: show(f) if f.mode == "progressive" else "n/a"


def report(
    runs: dict[str, ModeRun], figs: dict[str, Figures], scale: Scale, args: argparse.Namespace
) -> None:
    first = next(iter(runs.values()))
    mix = Counter(BEHAVIOURS.get(p.behaviour, p.behaviour) for p in first.patients)
    talks = [p.talk for p in first.patients]
    print(
        f"\n{' vs '.join(figs)}: {len(first.patients)} patients each "
        f"({', '.join(f'{k} {v}' for k, v in mix.items())}), {len(ADMINS)} administrators "
        f"({ADMINS[0]}..{ADMINS[-1]}), compressed x{scale.factor:g}"
    )
    print(
        f"  talk {min(talks):.1f}-{max(talks):.1f} s (mean {statistics.mean(talks):.1f} s = "
        f"{statistics.mean(talks) * scale.factor:.0f} s real), card {scale.wall(scale.card_real):.1f} s, "
        f"ring timeout {scale.wall(scale.ring_timeout_real):.1f} s; progressive: wait_for_admin "
        f"{args.wait_for_admin} s, ratio {args.ratio:g}, drop_cap {args.drop_cap:g} %, "
        f"trunk max_channels {args.max_channels}, queue {args.queue}"
    )
    table(
        list(figs.values()),
        [
            ("calls placed", lambda f: str(f.calls)),
            ("  answered", lambda f: str(f.answered)),
            ("  busy or no answer", lambda f: str(f.busy_or_no_answer)),
            ("reached an administrator", lambda f: str(f.reached)),
            ("dropped (answered, never reached one)", lambda f: str(f.drops)),
            ("  of which UserEvent DialerCallback DROPPED", lambda f: str(f.dropped_events)),
            ("drop rate (target <= 3 %)", lambda f: f"{f.drop_rate:.1f} %"),
            ("logged-in window (wall s, each admin)", lambda f: f"{f.window:.1f}"),
            ("talk, all administrators (wall s)", lambda f: f"{sum(f.talk.values()):.1f}"),
            ("occupancy = talk / logged-in", lambda f: f"{f.occupancy:.3f}"),
            ("reached per administrator-hour (real)", lambda f: f"{f.reached_per_admin_hour:.1f}"),
            ("median idle gap between talks (wall s)", lambda f: f"{f.idle_gap_median:.2f}"),
            ("most patient calls up at once", lambda f: str(f.most_in_air)),
            ("most patients waiting for an admin", lambda f: str(f.most_waiting)),
            ("dials with waiting > available x ratio", progressive_only(lambda f: str(f.over_dials))),
            (
                "time with the drop rate > drop_cap (halved)",
                progressive_only(lambda f: f"{100 * f.halved:.0f} %"),
            ),
            (
                "mode wall time (set-up to end, s)",
                lambda f: f"{runs[f.mode].ended - runs[f.mode].started:.1f}",
            ),
        ],
    )
    print(f"  per administrator, occupancy ({' / '.join(figs)}):")
    for a in ADMINS:
        print(f"    {a}: " + " / ".join(f"{f.talk[a] / f.window:.3f}" for f in figs.values()))
    notes(runs, figs)


def notes(runs: dict[str, ModeRun], figs: dict[str, Figures]) -> None:
    pro, pre = figs.get("progressive"), figs.get("preview")
    if pro is not None and pro.agent_talk:
        print(
            f"  cross-check, progressive: AgentComplete TalkTime sum {sum(pro.agent_talk.values())} s "
            f"vs bridge time {sum(pro.talk.values()):.1f} s"
        )
    if pro is not None and pre is not None:
        ratio = pro.occupancy / pre.occupancy if pre.occupancy else 0.0
        print(
            f"\n  occupancy ratio progressive / preview: {ratio:.2f} (target >= 1.5: "
            f"{'met' if ratio >= 1.5 else 'MISSED'}); progressive drop rate {pro.drop_rate:.1f} % "
            f"(target <= 3 %: {'met' if pro.drop_rate <= 3.0 else 'MISSED'})"
        )
        print(
            f"  the most any dialler could reach against this baseline: {1 / pre.occupancy:.2f}x (occupancy 1)"
        )
    if "progressive" in runs:
        run = runs["progressive"]
        if "posted" in run.notes:
            print(
                f"  progressive: POST /api/kos sent -> first dial "
                f"{run.work_start - run.notes['posted']:.2f} s (not counted in the window)"
            )
        print(
            f"  service log: {run.notes.get('log_drops', 0)} 'dropped' warnings, "
            f"{run.notes.get('log_hung_up_waiting', 0)} 'hung up while waiting'; "
            f"errors: {run.notes.get('log_errors') or 'none'}"
        )
    if "preview" in runs and runs["preview"].notes.get("problems"):
        print(f"  preview anomalies: {runs['preview'].notes['problems'][:10]}")


def analyse(
    runs: dict[str, ModeRun], events: list[tuple[float, Frame]], scale: Scale, args: argparse.Namespace
) -> dict[str, Figures]:
    return {
        mode: figures(run, observe(events, run.patients, args.ratio, args.queue), scale.factor, args.drop_cap)
        for mode, run in runs.items()
    }


def save(
    path: Path, args: argparse.Namespace, scale: Scale, runs: dict[str, ModeRun], events: list[Any]
) -> None:
    data = {
        "args": {
            "mix": args.mix,
            "seed": args.seed,
            "ratio": args.ratio,
            "wait_for_admin": args.wait_for_admin,
            "max_channels": args.max_channels,
            "drop_cap": args.drop_cap,
            "queue": args.queue,
        },
        "scale": asdict(scale),
        "runs": {mode: asdict(run) for mode, run in runs.items()},
        "events": events,
    }
    path.write_bytes(gzip.compress(json.dumps(data, ensure_ascii=False).encode("utf-8")))


def load(path: Path, args: argparse.Namespace) -> tuple[Scale, dict[str, ModeRun], list[tuple[float, Frame]]]:
    data = json.loads(gzip.decompress(path.read_bytes()))
    for key, value in data["args"].items():
        setattr(args, key, value)
    s = data["scale"]
    scale = Scale(s["factor"], tuple(s["talk_real"]), s["card_real"], s["ring_timeout_real"])
    runs = {}
    for mode, r in data["runs"].items():
        patients = [Patient(**p) for p in r.pop("patients")]
        runs[mode] = ModeRun(patients=patients, **r)
    return scale, runs, [(t, f) for t, f in data["events"]]


# -- the sandbox ------------------------------------------------------------------------------------------


async def admins_in_queue(ami: RawAmi, sandbox: Sandbox, queue: str) -> None:
    for admin in ADMINS:
        sandbox.rx(f"queue remove member Local/{admin}@sandbox-agents from {queue}")
        await ami.setvar(f"SIM_MODE_{admin}", "answer")
        await ami.setvar(f"SIM_TALK_{admin}", "10")
        sandbox.rx(f"queue add member Local/{admin}@sandbox-agents to {queue}")


async def admins_out(ami: RawAmi, sandbox: Sandbox, queue: str) -> None:
    for admin in ADMINS:
        sandbox.rx(f"queue remove member Local/{admin}@sandbox-agents from {queue}")
        await ami.setvar(f"SIM_TALK_{admin}", "")
        await ami.setvar(f"SIM_MODE_{admin}", "")


def admins_elsewhere(sandbox: Sandbox, ours: str) -> list[str]:
    """Our administrators as members of another queue: someone else is using them (their device state, and so
    the product's pacing, would be shared with that work)."""
    found, queue = [], ""
    for line in sandbox.rx("queue show").splitlines():
        if line and not line.startswith(" "):
            queue = line.split(" ", 1)[0]
        elif queue != ours and any(f"Local/{a}@sandbox-agents" in line for a in ADMINS):
            found.append(f"{queue}: {line.strip()}")
    return found


def others_running() -> list[str]:
    """Other heavy work on this 2-core machine at the start (figures taken meanwhile are noisier)."""
    listed = subprocess.run(
        ["pgrep", "-af", r"pytest|bench\.|dialer .*run"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return [
        line for line in listed if line.split(" ", 1)[0] != str(os.getpid()) and "progressive" not in line
    ]


async def main_async(args: argparse.Namespace) -> None:
    t0 = time.time()
    scale = Scale(factor=args.factor)
    lists = patient_lists(parse_mix(args.mix), scale, args.seed)
    others = others_running()
    if others:
        sys.stderr.write("note: other work is running:\n  " + "\n  ".join(others) + "\n")
    sandbox = Sandbox()
    creds = sandbox.up(sys.stderr)  # reloads tests/asterisk/queues_test.conf: the bench-kos queue
    if args.queue not in sandbox.rx(f"queue show {args.queue}"):
        raise RuntimeError(f"the sandbox has no queue {args.queue}: tests/asterisk/queues_test.conf")
    elsewhere = admins_elsewhere(sandbox, args.queue)
    if elsewhere and not args.force:
        raise SystemExit(
            "our administrators are in use elsewhere (--force to run anyway):\n  " + "\n  ".join(elsewhere)
        )
    ami = await RawAmi.logged_in(creds.host, creds.port, creds.username, creds.secret)
    talks = Talks(ami, lists["progressive"], args.queue)
    ami.listeners.append(talks.on_event)
    runs: dict[str, ModeRun] = {}
    try:
        await admins_in_queue(ami, sandbox, args.queue)
        if args.only in (None, "progressive"):
            runs["progressive"] = await run_progressive(ami, creds, scale, lists["progressive"], args)
            await asyncio.sleep(2.0)  # the last administrator leg is gone; start the baseline from quiet
        if args.only in (None, "preview"):
            runs["preview"] = await run_preview(ami, scale, lists["preview"])
    finally:
        with contextlib.suppress(Exception):
            await admins_out(ami, sandbox, args.queue)
        await ami.close()
    figs = analyse(runs, ami.events, scale, args)
    report(runs, figs, scale, args)
    print(
        f"  talk times set on AgentCalled: {talks.set} (unknown: {talks.unknown}); whole bench {time.time() - t0:.0f} s"
    )
    if others:
        print(f"  other work running at the start: {len(others)} processes (see stderr)")
    if args.save:
        save(Path(args.save), args, scale, runs, ami.events)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mix", default=DEFAULT_MIX, help=f"patients per behaviour digit (default {DEFAULT_MIX})")
    p.add_argument("--factor", type=float, default=10.0, help="time compression factor (default 10)")
    p.add_argument("--ratio", type=float, default=1.0, help="[campaigns.kos] ratio (default 1.0)")
    p.add_argument(
        "--wait-for-admin", type=int, default=4, help="[campaigns.kos] wait_for_admin, s (default 4)"
    )
    p.add_argument(
        "--max-channels",
        type=int,
        default=10,
        help="the trunk's max_channels in the progressive mode (default 10)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed for the order of behaviours and the talk times")
    p.add_argument("--timeout", type=float, default=900.0, help="give up on the progressive mode after this")
    p.add_argument("--drop-cap", type=float, default=3.0, help="[campaigns.kos] drop_cap, %% (default 3)")
    p.add_argument("--only", choices=("progressive", "preview"), help="run one mode only (what-ifs)")
    p.add_argument(
        "--queue", choices=QUEUES, default=QUEUES[0], help="the clinic's queue (default bench-kos)"
    )
    p.add_argument(
        "--force", action="store_true", help="run even when our administrators are members of other queues"
    )
    p.add_argument("--save", help="keep the run (events, patients) in this .json.gz for --analyze")
    p.add_argument("--analyze", help="report on a run kept with --save instead of running one")
    args = p.parse_args(argv)
    if args.analyze:
        scale, runs, events = load(Path(args.analyze), args)
        report(runs, analyse(runs, events, scale, args), scale, args)
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
