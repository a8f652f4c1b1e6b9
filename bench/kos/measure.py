"""What a mode achieved, measured from Asterisk's own events on the bench's AMI connection."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, deque
from dataclasses import dataclass, field

from bench.kos.world import (
    ADMIN,
    ADMINS,
    AVAILABLE,
    PEOPLE,
    ModeRun,
    Patient,
    Registry,
)
from bench.lib.rawami import Frame
from dialer.engine.progressive import DROP_EVIDENCE


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

    def __init__(self, patients: list[Patient], ratio: float, queue: str, registry: Registry) -> None:
        self.queue = queue
        self.registry = registry
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
        patient = self.registry.patient(frame)
        if patient:
            call = Call(channel, frame.get("Uniqueid", ""), self.behaviour[patient], at)
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


def observe(
    events: list[tuple[float, Frame]], patients: list[Patient], ratio: float, queue: str, ids: dict[str, str]
) -> Observed:
    """`ids`: the trunk channels' Uniqueids -> the patients' numbers, as the run's Registry found them."""
    collector = Collector(patients, ratio, queue, Registry(patients, ids=ids))
    for arrived, frame in events:
        collector.feed(arrived, frame)
    return collector.seen


@dataclass
class Figures:
    mode: str
    patients: int
    calls: int
    answered: int
    reached: int  # answered calls put through to an administrator, machines included
    reached_people: int  # of them, a patient on the line
    machines_put_through: int
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
        """Patients (not machines) put through to an administrator, per administrator-hour of real time."""
        admin_hours = len(ADMINS) * self.window * self.factor / 3600.0
        return self.reached_people / admin_hours if admin_hours else 0.0


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
        reached_people=sum(c.behaviour in PEOPLE for c in reached),
        machines_put_through=sum(c.behaviour not in PEOPLE for c in reached),
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
