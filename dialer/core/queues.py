"""Who is free to talk and who is waiting: the live state of the clinic's queues, from AMI events.

Fed by QueueStatus (at start and after every reconnect) and by the queue events as they come. Pure. With
several Asterisks, each one's queues are kept apart under their keys (core/pbx_links.queue_key): a clinic asks
about its own Asterisk's queues, and a reconnect starts again only that Asterisk's part.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from dialer.core.outcomes import to_int
from dialer.core.pbx_links import MAIN, headed, queue_key
from dialer.core.tracker import Event, event_time

# A wait longer than a day is garbage, not a caller.
MAX_WAIT_SECONDS = 86_400

# Asterisk device states, as QueueMemberStatus's Status reports them.
NOT_INUSE, INUSE, BUSY, INVALID, UNAVAILABLE, RINGING, RINGINUSE, ONHOLD = 1, 2, 3, 4, 5, 6, 7, 8


class AdminState(StrEnum):
    FREE = "free"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    OFFLINE = "offline"

    @property
    def label(self) -> str:
        return _ADMIN_LABELS[self]


_ADMIN_LABELS = {
    AdminState.FREE: "свободен",
    AdminState.RINGING: "звонит телефон",
    AdminState.TALKING: "разговаривает",
    AdminState.WRAP_UP: "оформляет звонок",
    AdminState.PAUSED: "на паузе",
    AdminState.OFFLINE: "не в сети",
}


@dataclass(slots=True)
class Member:
    queue: str
    interface: str
    name: str
    status: int = NOT_INUSE
    paused: bool = False
    wrap_up_until: datetime | None = None

    def state(self, now: datetime) -> AdminState:
        if self.paused:
            return AdminState.PAUSED
        if self.status in (INVALID, UNAVAILABLE):
            return AdminState.OFFLINE
        if self.status in (RINGING, RINGINUSE):
            return AdminState.RINGING
        if self.status in (INUSE, BUSY, ONHOLD):
            return AdminState.TALKING
        if self.wrap_up_until is not None and now < self.wrap_up_until:
            return AdminState.WRAP_UP
        return AdminState.FREE


@dataclass
class QueueState:
    wrap_up_seconds: float = 0.0
    members: dict[tuple[str, str], Member] = field(default_factory=dict)
    waiting: dict[str, dict[str, datetime]] = field(
        default_factory=dict
    )  # queue -> caller uniqueid -> joined
    reserved: set[str] = field(default_factory=set)  # the administrators the dialer is calling now, by `seat`
    asterisk_of_queue: dict[str, str] = field(default_factory=dict)  # queue key -> the Asterisk's name
    # Per Asterisk whose QueueStatus is on its way: the events applied meanwhile, applied again after it.
    meanwhile: dict[str, list[tuple[Event, datetime]]] = field(default_factory=dict)

    def feed(self, event: Event, now: datetime, pbx: str = MAIN) -> bool:
        """Apply one event of the Asterisk named `pbx`; True if the state changed."""
        name = event.get("Event", "")
        queue = event.get("Queue", "")
        if not queue:
            return False
        if pbx in self.meanwhile:
            self.meanwhile[pbx].append((event, now))
        key = queue_key(queue, pbx)
        self.asterisk_of_queue[key] = pbx
        if name in ("QueueMemberAdded", "QueueMember", "QueueMemberStatus", "QueueMemberPause"):
            return self._member(key, event, now)
        if name == "QueueMemberRemoved":
            return self.members.pop((key, event.get("Interface", "")), None) is not None
        uniqueid = headed(event.get("Uniqueid", ""), pbx)
        if name in ("QueueCallerJoin", "QueueEntry"):
            if uniqueid:
                self.waiting.setdefault(key, {}).setdefault(uniqueid, _joined(event, now))
                return True
            return False
        if name in {"QueueCallerLeave", "QueueCallerAbandon"}:
            return self.waiting.get(key, {}).pop(uniqueid, None) is not None
        return False

    def asking(self, pbx: str = MAIN) -> None:
        """The Asterisk's QueueStatus is asked for: keep its queue events from now until `reset` or `not_asking`."""
        self.meanwhile[pbx] = []

    def not_asking(self, pbx: str = MAIN) -> None:
        """The QueueStatus never came (the link went again): the events kept meanwhile are applied already."""
        self.meanwhile.pop(pbx, None)

    def reset(self, events: Iterable[Event], now: datetime, pbx: str = MAIN) -> None:
        """Start the Asterisk's part again from its QueueStatus answer (after a reconnect nothing earlier can be
        trusted); the other Asterisks' parts stay as they are. The events that came while the answer was on its
        way are applied again after it: a member removed meanwhile may still be in the answer, and each
        member's and caller's last event is at least as new as the answer."""
        theirs = {key for key, owner in self.asterisk_of_queue.items() if owner == pbx}
        self.members = {k: m for k, m in self.members.items() if k[0] not in theirs}
        self.waiting = {k: w for k, w in self.waiting.items() if k not in theirs}
        later = self.meanwhile.pop(pbx, [])
        for event in events:
            self.feed(event, now, pbx)
        for event, at in later:
            self.feed(event, at, pbx)

    def _member(self, key: str, event: Event, now: datetime) -> bool:
        interface = event.get("Interface", "") or event.get("Location", "")
        if not interface:
            return False
        member = self.members.setdefault(
            (key, interface), Member(key, interface, event.get("MemberName", ""))
        )
        status = to_int(event.get("Status"))
        if status is not None:
            if member.status in (INUSE, BUSY, ONHOLD) and status == NOT_INUSE and self.wrap_up_seconds:
                member.wrap_up_until = now + timedelta(seconds=self.wrap_up_seconds)
            member.status = status
        if "Paused" in event:
            member.paused = event.get("Paused") == "1"
        return True

    # -- questions --------------------------------------------------------------------------------

    def admins(self, queues: Collection[str], now: datetime) -> dict[str, AdminState]:
        """Each administrator (by interface) in these queues, in their most telling state."""
        states: dict[str, AdminState] = {}
        order = list(AdminState)
        for member in self.members.values():
            if member.queue in queues:
                state = member.state(now)
                seat = queue_key(member.interface, self.asterisk_of_queue.get(member.queue, MAIN))
                if seat in self.reserved and state is AdminState.FREE:
                    state = AdminState.RINGING
                current = states.get(member.interface)
                if current is None or order.index(state) > order.index(current):
                    states[member.interface] = state
        return states

    def seat(self, interface: str, queues: Collection[str]) -> str:
        """An administrator of these queues as the service's reservations and rests know them: the interface
        headed by its Asterisk's name, as the queues are. Two Asterisks may each have a «PJSIP/101»; ringing
        one for a callback leaves the other free. A clinic's queues are all on its own Asterisk."""
        pbx = next((self.asterisk_of_queue[q] for q in queues if q in self.asterisk_of_queue), MAIN)
        return queue_key(interface, pbx)

    def free(self, queues: Collection[str], now: datetime) -> list[str]:
        return [i for i, s in self.admins(queues, now).items() if s is AdminState.FREE]

    def waiting_count(self, queues: Collection[str]) -> int:
        return sum(len(self.waiting.get(q, {})) for q in queues)

    def longest_wait(self, queues: Collection[str], now: datetime) -> float:
        joined = [at for q in queues for at in self.waiting.get(q, {}).values()]
        return max(((now - at).total_seconds() for at in joined), default=0.0)


def _joined(event: Event, now: datetime) -> datetime:
    wait = to_int(event.get("Wait"))  # QueueEntry (from QueueStatus) says how long the caller has waited
    at = event_time(event, now)
    return at - timedelta(seconds=wait) if wait and 0 < wait < MAX_WAIT_SECONDS else at
