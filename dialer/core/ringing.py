"""Whose phone rings for which call: the trigger of the administrator's pop-up, from AMI events. Pure.

A phone rings for a call in three ways: the queue rings a member (AgentCalled, for patients calling in and
for reminder patients who pressed 3); the dialer rings an administrator first for a callback (its Originate
to their phone, Uniqueid = the attempt id); or a dial from an inbound or queued call reaches their phone
(DialBegin to a device). Queue members are often Local channels; the interface is what the queue calls
them, and a device channel (PJSIP/101-0000002a) is reduced to its device (PJSIP/101).

FreePBX and its relatives ring queue members and ring groups through Local/ channels
(Local/101@from-queue/n), whose second half dials the phone from its own context: that DialBegin carries
neither the inbound context nor the queue. So a dial rings a phone for any call known to have arrived from
outside or to be waiting in a queue, by its Linkedid, whatever context it is dialled from.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from dialer.core.inbound import caller_number
from dialer.core.inbound_tracker import arrives
from dialer.core.tracker import Event, event_time


@dataclass(frozen=True, slots=True)
class PhoneRinging:
    interface: str
    call_key: str  # the call's Linkedid: one key for all the phones rung for it
    caller: str  # the patient's number (digits), "" when hidden
    kind: str  # inbound | reminder | callback | direct
    queue: str
    ref: str  # the attempt id for the dialer's own calls, else ""
    at: datetime
    did: str = ""  # the number the patient dialled, for a call that came in through an inbound context


@dataclass(frozen=True, slots=True)
class CallerWaiting:
    """A caller is on the line and no phone rings for them yet: they arrived from outside (and hear the
    greeting), or joined a queue. A phone may ring soon, and their card can be read meanwhile."""

    call_key: str
    caller: str
    kind: str
    queue: str
    ref: str
    at: datetime
    did: str = ""


@dataclass(frozen=True, slots=True)
class PhoneAnswered:
    interface: str
    call_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PhoneStopped:
    """This phone no longer rings for the call: someone else took it, the caller left, or it rang out."""

    interface: str
    call_key: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallGone:
    """The call is over for everyone (its first channel hung up): it arrived from outside, waited in a queue
    or rang a phone."""

    call_key: str
    at: datetime


# The pop-up's kind of call for each of the dialer's campaigns.
_KINDS = {"reminders": "reminder", "callback": "callback", "autocb": "callback"}

MAX_DIDS = 10_000
RingFact = CallerWaiting | PhoneRinging | PhoneAnswered | PhoneStopped | CallGone
NO_FACTS: tuple[RingFact, ...] = ()


def device_of(channel: str) -> str:
    """PJSIP/101-0000002a -> PJSIP/101; Local/admin1@agents-00000360;1 -> Local/admin1@agents."""
    base = channel.split(";", maxsplit=1)[0]
    head, sep, tail = base.rpartition("-")
    return head if sep and tail and all(c in "0123456789abcdef" for c in tail) else base


@dataclass(slots=True)
class _Ring:
    interface: str
    call_key: str
    answered: bool = False
    dialled: bool = False  # rung by a DialBegin, so its DialEnd says when it stops ringing


@dataclass
class RingTracker:
    # The names of the events `feed` reads; it ignores every other (the intake passes those over).
    events: ClassVar[frozenset[str]] = frozenset(
        {
            "AgentCalled",
            "QueueCallerJoin",
            "Newchannel",
            "DialBegin",
            "AgentConnect",
            "DialEnd",
            "AgentRingNoAnswer",
            "AgentDump",
            "Hangup",
        }
    )
    inbound_contexts: Collection[str]
    campaign_of: Callable[[str], str | None] = lambda uniqueid: None  # "reminders", "callback"… for our ids
    _rings: dict[tuple[str, str], _Ring] = field(default_factory=dict)  # (call_key, interface) -> ring
    _by_dest: dict[str, tuple[str, str]] = field(default_factory=dict)  # ringing channel uniqueid -> key
    _dids: dict[str, str] = field(default_factory=dict)  # an inbound call's key -> the number dialled
    _queued: dict[str, str] = field(default_factory=dict)  # a call a queue rings members for -> the queue

    def feed(self, event: Event, now: datetime) -> tuple[RingFact, ...]:
        name = event.get("Event", "")
        if name not in self.events:
            return NO_FACTS
        if name == "AgentCalled":
            self._note_queue(event)
            return self._ring(event, now, event.get("Interface", ""), event.get("DestUniqueid", ""), "queue")
        if name == "QueueCallerJoin":
            # Known from the caller's joining, not only from AgentCalled: a member's Local/ channel may dial
            # the phone (DialBegin) before Asterisk has published the queue's AgentCalled for it.
            if not self._note_queue(event):
                return NO_FACTS
            return (self._waiting(event, now),)
        if name == "Newchannel":
            arrived = self._note_did(event)
            ours = self._our_admin_call(event, now)
            return ours if ours or not arrived else (self._waiting(event, now),)
        if name == "DialBegin":
            return self._direct(event, now)
        if name == "AgentConnect":
            return self._answer(event.get("Linkedid", ""), event.get("Interface", ""), now, event)
        if name == "DialEnd":
            return self._dial_end(event, now)
        if name in ("AgentRingNoAnswer", "AgentDump"):
            return self._stop(event.get("Linkedid", ""), event.get("Interface", ""), now, event)
        if name == "Hangup":
            return self._hangup(event, now)
        return NO_FACTS

    def channels(self) -> frozenset[str]:
        """The channels this tracker follows now: each call's first channel (arrived from outside, waiting
        in a queue, or rung for), and each phone rung for it."""
        calls = frozenset(key for key, _ in self._rings) | frozenset(self._dids) | frozenset(self._queued)
        return calls | frozenset(self._by_dest)

    def gone(self, dead: Collection[str], last_seen: datetime) -> tuple[RingFact, ...]:
        """After the AMI link came back: these channels are no longer on Asterisk (their Hangup was lost with
        the link). A call whose first channel is gone is over for everyone; a phone whose ringing channel is
        gone, unanswered, no longer rings."""
        facts: list[RingFact] = []
        calls = {key for key, _ in self._rings} | set(self._dids) | set(self._queued)
        calls &= set(dead)
        for call_key in sorted(calls):
            for key in [k for k in self._rings if k[0] == call_key]:
                del self._rings[key]
            self._queued.pop(call_key, None)
            self._dids.pop(call_key, None)
            facts.append(CallGone(call_key, last_seen))
        for dest in [d for d in self._by_dest if d in dead]:
            call_key, interface = self._by_dest.pop(dest)
            ring = self._rings.get((call_key, interface))
            if ring is not None and not ring.answered:
                del self._rings[(call_key, interface)]
                facts.append(PhoneStopped(interface, call_key, last_seen))
        return tuple(facts)

    def _kind(self, linkedid: str, default: str) -> tuple[str, str]:
        campaign = self.campaign_of(linkedid)
        if campaign is None:
            return default, ""
        return _KINDS.get(campaign, campaign), linkedid

    def _ring(
        self, event: Event, now: datetime, interface: str, dest: str, how: str, queue: str | None = None
    ) -> tuple[RingFact, ...]:
        call_key = event.get("Linkedid", "")
        if not interface or not call_key or (call_key, interface) in self._rings:
            return NO_FACTS
        self._rings[(call_key, interface)] = _Ring(interface, call_key, dialled=how == "dial")
        if dest:
            self._by_dest[dest] = (call_key, interface)
        queued = how == "queue" or queue is not None
        kind, ref = self._kind(call_key, "inbound" if queued else "direct")
        return (
            PhoneRinging(
                interface,
                call_key,
                caller_number(event.get("CallerIDNum", "")),
                kind,
                event.get("Queue", "") if queue is None else queue,
                ref,
                event_time(event, now),
                self._dids.get(call_key, ""),
            ),
        )

    def _note_did(self, event: Event) -> bool:
        """A call's first channel created in an inbound context: its extension is the number dialled, which
        tells the clinic the call is for (one Asterisk may answer several clinics' numbers). Whether this is
        such a channel."""
        call_key = event.get("Linkedid", "")
        if (
            not call_key
            or call_key in self._dids
            or event.get("Context", "") not in self.inbound_contexts
            or not arrives(event)  # a leg dialled out over the trunk, created in its inbound context
        ):
            return False
        if len(self._dids) >= MAX_DIDS:  # calls whose end was never seen (a lost link) go first
            del self._dids[next(iter(self._dids))]
        self._dids[call_key] = event.get("Exten", "")
        return True

    def _note_queue(self, event: Event) -> bool:
        """Note the queue a call waits in; whether the call was not known to wait before."""
        call_key = event.get("Linkedid", "")
        if not call_key or call_key in self._queued:
            return False
        if len(self._queued) >= MAX_DIDS:
            del self._queued[next(iter(self._queued))]
        self._queued[call_key] = event.get("Queue", "")
        return True

    def _waiting(self, event: Event, now: datetime) -> CallerWaiting:
        call_key = event.get("Linkedid", "")
        kind, ref = self._kind(call_key, "inbound")
        return CallerWaiting(
            call_key,
            caller_number(event.get("CallerIDNum", "")),
            kind,
            event.get("Queue", ""),
            ref,
            event_time(event, now),
            self._dids.get(call_key, ""),
        )

    def _our_admin_call(self, event: Event, now: datetime) -> tuple[RingFact, ...]:
        uniqueid = event.get("Uniqueid", "")
        if self.campaign_of(uniqueid) not in ("callback",) or uniqueid.endswith(";2"):
            return NO_FACTS
        interface = device_of(event.get("Channel", ""))
        self._rings[(uniqueid, interface)] = _Ring(interface, uniqueid)
        self._by_dest[uniqueid] = (uniqueid, interface)
        return (
            PhoneRinging(
                interface,
                uniqueid,
                caller_number(event.get("CallerIDNum", "")),
                "callback",
                "",
                uniqueid,
                event_time(event, now),
            ),
        )

    def _direct(self, event: Event, now: datetime) -> tuple[RingFact, ...]:
        """A dial from a call that came in (or waits in a queue) rings the phone dialled, from any context:
        a queue member's or ring group's Local/ channel dials the phone from its own. The queue's dial to a
        member it announced in AgentCalled is that ring already."""
        dest, dest_id, call_key = (
            event.get("DestChannel", ""),
            event.get("DestUniqueid", ""),
            event.get("Linkedid", ""),
        )
        known = call_key in self._dids or call_key in self._queued
        if (
            not dest
            or dest_id in self._by_dest
            or not (known or event.get("Context", "") in self.inbound_contexts)
        ):
            return NO_FACTS
        # A member's phone rung through a Local/ channel is still the queue's call: it shows as one.
        return self._ring(event, now, device_of(dest), dest_id, "dial", self._queued.get(call_key))

    def _dial_end(self, event: Event, now: datetime) -> tuple[RingFact, ...]:
        dest = event.get("DestUniqueid", "")
        key = self._by_dest.get(dest)
        if key is None:
            return NO_FACTS
        if event.get("DialStatus") == "ANSWER":
            return self._answer(key[0], key[1], now, event)
        ring = self._rings.get(key)
        if ring is None or not ring.dialled:
            return NO_FACTS  # a queue member's ring ends with the queue's own events
        del self._by_dest[dest]
        return self._stop(key[0], key[1], now, event)

    def _answer(self, call_key: str, interface: str, now: datetime, event: Event) -> tuple[RingFact, ...]:
        ring = self._rings.get((call_key, interface))
        if ring is None or ring.answered:
            return NO_FACTS
        ring.answered = True
        at = event_time(event, now)
        facts: list[RingFact] = [PhoneAnswered(interface, call_key, at)]
        for (key, other), other_ring in list(self._rings.items()):
            if key == call_key and other != interface and not other_ring.answered:
                del self._rings[(key, other)]
                facts.append(PhoneStopped(other, call_key, at))
        return tuple(facts)

    def _stop(self, call_key: str, interface: str, now: datetime, event: Event) -> tuple[RingFact, ...]:
        ring = self._rings.pop((call_key, interface), None)
        if ring is None or ring.answered:
            return NO_FACTS
        return (PhoneStopped(interface, call_key, event_time(event, now)),)

    def _hangup(self, event: Event, now: datetime) -> tuple[RingFact, ...]:
        uniqueid = event.get("Uniqueid", "")
        call_key = event.get("Linkedid", "")
        self._by_dest.pop(uniqueid, None)
        if uniqueid != call_key:
            return NO_FACTS
        arrived = self._dids.pop(call_key, None) is not None
        waited = self._queued.pop(call_key, None) is not None
        if not arrived and not waited and not any(key == call_key for key, _ in self._rings):
            return NO_FACTS
        for key in [k for k in self._rings if k[0] == call_key]:
            del self._rings[key]
        return (CallGone(call_key, event_time(event, now)),)
