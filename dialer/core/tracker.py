"""The call-tracking state machine: AMI event dicts in, call facts out.

Synchronous and free of I/O, so the same code runs on the live AMI stream and on a recorded replay.
It never raises on bad input: garbage, truncated or out-of-order events are counted and dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dialer.core.facts import (
    CallAnswered,
    CallEnded,
    CallStarted,
    DigitIgnored,
    DigitPressed,
    Fact,
    FarEndTalk,
    JoinedQueue,
    MachineAnswered,
    PatientLeg,
)
from dialer.core.outcomes import REASON_ANSWERED, UNALLOCATED, CallResult, classify, to_int

Event = dict[str, str]
NO_FACTS: tuple[Fact, ...] = ()
SECOND_LEG = ";2"

# How long an attempt whose channel is gone waits for its OriginateResponse before it is closed anyway.
ORIGINATE_RESPONSE_GRACE = timedelta(seconds=3)
# The event the AMI link makes of an OriginateResponse to an Originate another process sent. Asterisk tells every
# manager session; it counts only for a call this process took over from one that died (its Reason 3 is what tells
# the clinic's own ring timeout from a phone switched off), never for a call this process placed itself.
ORIGINATE_RESPONSE_ELSEWHERE = "OriginateResponseElsewhere"
# How many ended calls (attempt ids, inbound Linkedids) are remembered to ignore their late events: hours of
# calls at full pace.
ENDED_MEMORY = 10_000


def leg_status(dial_status: str, cause: int | None) -> str:
    """A second leg's DIALSTATUS, made exact by its hangup cause: Dial says CHANUNAVAIL or NOANSWER for a number
    the network does not know, as for a network failure or a phone left ringing."""
    if (
        dial_status != "ANSWER"
        and classify(answered=False, reason=None, cause=cause) is CallResult.INVALID_NUMBER
    ):
        return UNALLOCATED
    return dial_status


def event_time(event: Event, now: datetime) -> datetime:
    """The event's own time (manager.conf timestampevents) when present and sane, else the arrival time."""
    stamp = event.get("Timestamp")
    if stamp:
        try:
            return datetime.fromtimestamp(float(stamp), UTC)
        except (ValueError, OverflowError, OSError):
            pass
    return now


@dataclass
class RecentIds:
    """The ids of the last ENDED_MEMORY calls that ended, oldest forgotten first: their late events are ignored."""

    _ids: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._ids

    def add(self, call_id: str) -> None:
        self._ids[call_id] = None
        if len(self._ids) > ENDED_MEMORY:
            self._ids.popitem(last=False)

    def discard(self, call_id: str) -> None:
        self._ids.pop(call_id, None)


@dataclass(slots=True)
class _Attempt:
    attempt_id: str
    channel_seen: bool = False
    answered: bool = False
    originate_reason: int | None = None
    originate_done: bool = False
    hangup_at: datetime | None = None
    cause: int | None = None
    second_leg_cause: int | None = None
    linkedid: str = ""
    sip: int | None = None  # the trunk's final response (Hangup TechCause); None on Local channels
    early_media: bool = False  # the network played something before any answer (DialState PROGRESS)
    # From our Originate until its channel's Newchannel: a channel already up with this Uniqueid is someone else's
    # (a second installation with a copy of this database), and Asterisk will refuse our Originate.
    awaiting_channel: bool = False
    # Placed by another process of this installation (before a restart or a takeover): its OriginateResponse goes
    # to the link as sent elsewhere, and is still this call's.
    adopted: bool = False

    def best_cause(self) -> int | None:
        # A Local channel's first leg often ends with cause 0; the second leg then knows the real reason.
        if self.cause not in (None, 0):
            return self.cause
        return self.second_leg_cause if self.second_leg_cause not in (None, 0) else self.cause


@dataclass
class TrackerStats:
    events: int = 0
    ignored: int = 0
    malformed: int = 0


@dataclass
class CallTracker:
    """Follows the service's own outbound attempts, recognised by their Uniqueid (the attempt id)."""

    is_attempt_id: Callable[[str], bool]
    digit_event: str = "DialerDigit"
    ignored_digit_event: str = "DialerDigitIgnored"
    leg_event: str = "DialerCallback"
    machine_event: str = "DialerMachine"
    stats: TrackerStats = field(default_factory=TrackerStats)
    _attempts: dict[str, _Attempt] = field(default_factory=dict)
    # Recently ended attempts: a late OriginateResponse or Hangup must not bring one back to life.
    _ended: RecentIds = field(default_factory=RecentIds)

    def __post_init__(self) -> None:
        self._handlers: dict[str, Callable[[Event, datetime], tuple[Fact, ...]]] = {
            "Newchannel": self._on_newchannel,
            "Newstate": self._on_newstate,
            "OriginateResponse": self._on_originate_response,
            ORIGINATE_RESPONSE_ELSEWHERE: self._on_originate_response_elsewhere,
            "DialState": self._on_dial_state,
            "UserEvent": self._on_user_event,
            "QueueCallerJoin": self._on_queue_join,
            "Hangup": self._on_hangup,
            "ChannelTalkingStart": self._on_talk,
            "ChannelTalkingStop": self._on_talk,
        }

    # -- public surface -------------------------------------------------------------------------

    @property
    def events(self) -> frozenset[str]:
        """The names of the events this tracker reads; it ignores every other."""
        return frozenset(self._handlers)

    def feed(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        self.stats.events += 1
        handler = self._handlers.get(event.get("Event", ""))
        if handler is None:
            self.stats.ignored += 1
            return NO_FACTS
        return handler(event, now)

    def passed_over(self) -> None:
        """An event the intake did not feed here, because no tracker reads its name: counted as ignored."""
        self.stats.events += 1
        self.stats.ignored += 1

    def expect(self, attempt_id: str) -> None:
        """An Originate for this attempt is about to go out. What was followed under its id until now was
        another's channel (an installation with a copy of this database): a new attempt has none yet."""
        self._attempts[attempt_id] = _Attempt(attempt_id, awaiting_channel=True)

    def adopt(self, attempt_id: str, *, answered: bool, originate_done: bool) -> None:
        """Resume following a call found alive on Asterisk after a reconnect or a restart."""
        self._ended.discard(attempt_id)
        state = self._attempts.setdefault(attempt_id, _Attempt(attempt_id, adopted=True))
        state.channel_seen = True
        state.awaiting_channel = False
        state.answered = state.answered or answered
        state.originate_done = state.originate_done or originate_done

    def forget(self, attempt_id: str) -> None:
        """Stop following an attempt the engine closed on its own (refused, never placed, recovered)."""
        if self._attempts.pop(attempt_id, None) is not None:
            self._ended.add(attempt_id)

    def open_attempts(self) -> list[str]:
        return list(self._attempts)

    def expire(self, now: datetime) -> tuple[Fact, ...]:
        """Close attempts whose channel hung up but whose OriginateResponse never came (a lost frame)."""
        facts: list[Fact] = []
        for state in list(self._attempts.values()):
            if state.hangup_at is not None and now - state.hangup_at >= ORIGINATE_RESPONSE_GRACE:
                facts.append(self._end(state, state.hangup_at))
        return tuple(facts)

    # -- handlers -------------------------------------------------------------------------------

    def _lookup(self, uniqueid: str) -> _Attempt | None:
        state = self._attempts.get(uniqueid)
        if state is None and uniqueid and uniqueid not in self._ended and self.is_attempt_id(uniqueid):
            # A call of ours we did not start in this process (a restart); follow it anyway. Whether its
            # OriginateResponse is still to come is unknown: a call still ringing gets it after its Hangup, and
            # only its Reason tells the clinic's own ring timeout from the 480 Asterisk then puts on the Hangup.
            state = self._attempts[uniqueid] = _Attempt(uniqueid, adopted=True)
        return state

    def _followed(self, uniqueid: str) -> _Attempt | None:
        """The attempt whose channel this is; None before our own Newchannel, when the channel is another's."""
        state = self._lookup(uniqueid)
        return None if state is None or state.awaiting_channel else state

    def _on_newchannel(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        uniqueid = event.get("Uniqueid", "")
        state = self._lookup(uniqueid)
        if state is None:
            return NO_FACTS
        state.channel_seen = True
        state.awaiting_channel = False
        state.linkedid = event.get("Linkedid", "") or state.linkedid
        return (CallStarted(uniqueid, event_time(event, now), event.get("Channel", "")),)

    def _on_newstate(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        state = self._followed(event.get("Uniqueid", ""))
        if state is None or state.answered or event.get("ChannelStateDesc") != "Up":
            return NO_FACTS
        state.answered = True
        return (CallAnswered(state.attempt_id, event_time(event, now)),)

    def _on_originate_response(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        state = self._lookup(event.get("Uniqueid", ""))
        if state is None:
            return NO_FACTS
        state.originate_done = True
        state.originate_reason = to_int(event.get("Reason"))
        facts: list[Fact] = []
        if state.originate_reason == REASON_ANSWERED and not state.answered:
            state.answered = True
            facts.append(CallAnswered(state.attempt_id, event_time(event, now)))
        if state.hangup_at is not None or (not state.channel_seen and event.get("Response") == "Failure"):
            facts.append(self._end(state, state.hangup_at or event_time(event, now)))
        return tuple(facts)

    def _on_originate_response_elsewhere(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        state = self._lookup(event.get("Uniqueid", ""))
        if state is None or not state.adopted:
            return NO_FACTS
        return self._on_originate_response(event, now)

    def _on_talk(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        state = self._followed(event.get("Uniqueid", ""))
        if state is None:
            return NO_FACTS
        talking = event.get("Event") == "ChannelTalkingStart"
        duration = 0 if talking else (to_int(event.get("Duration")) or 0)
        return (FarEndTalk(state.attempt_id, event_time(event, now), talking, duration),)

    def _on_dial_state(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        # An Originate dials its channel itself, so the attempt is the dialled side: DestUniqueid.
        state = self._attempts.get(event.get("DestUniqueid", ""))
        if state is not None and not state.awaiting_channel and event.get("DialStatus") == "PROGRESS":
            state.early_media = True
        return NO_FACTS

    def _on_user_event(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        kind = event.get("UserEvent")
        if kind == self.machine_event:
            if self._followed(event.get("AttemptId", "")) is None:
                return NO_FACTS
            return (MachineAnswered(event.get("AttemptId", ""), event_time(event, now)),)
        if kind == self.leg_event:
            attempt_id, status = event.get("AttemptId", ""), event.get("DialStatus", "")
            if self._followed(attempt_id) is None or not status:
                self.stats.malformed += 1
                return NO_FACTS
            status = leg_status(status, to_int(event.get("Cause")))
            return (PatientLeg(attempt_id, status, event_time(event, now), event.get("Member", "")),)
        if kind not in (self.digit_event, self.ignored_digit_event):
            return NO_FACTS
        attempt_id = event.get("AttemptId", "")
        digit = event.get("Digit", "")
        if self._followed(attempt_id) is None or len(digit) != 1:
            self.stats.malformed += 1
            return NO_FACTS
        if kind == self.ignored_digit_event:
            return (DigitIgnored(attempt_id, digit, event.get("Taken", ""), event_time(event, now)),)
        return (DigitPressed(attempt_id, digit, event_time(event, now)),)

    def _on_queue_join(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        state = self._followed(event.get("Uniqueid", ""))
        if state is None:
            return NO_FACTS
        return (JoinedQueue(state.attempt_id, event.get("Queue", ""), event_time(event, now)),)

    def _on_hangup(self, event: Event, now: datetime) -> tuple[Fact, ...]:
        uniqueid = event.get("Uniqueid", "")
        if uniqueid.endswith(SECOND_LEG):
            leg = self._attempts.get(uniqueid[: -len(SECOND_LEG)])
            if leg is not None and not leg.awaiting_channel:
                leg.second_leg_cause = to_int(event.get("Cause"))
            return NO_FACTS
        state = self._followed(uniqueid)
        if state is None:
            return NO_FACTS
        state.channel_seen = True
        state.cause = to_int(event.get("Cause"))
        state.sip = to_int(event.get("TechCause"))
        state.hangup_at = event_time(event, now)
        state.linkedid = event.get("Linkedid", "") or state.linkedid
        if state.originate_done:
            return (self._end(state, state.hangup_at),)
        return NO_FACTS

    def _end(self, state: _Attempt, at: datetime) -> CallEnded:
        self._attempts.pop(state.attempt_id, None)
        self._ended.add(state.attempt_id)
        cause = state.best_cause()
        result = classify(
            answered=state.answered,
            reason=state.originate_reason,
            cause=cause,
            sip=state.sip,
            early_media=state.early_media,
        )
        return CallEnded(
            attempt_id=state.attempt_id,
            at=at,
            answered=state.answered,
            reason=state.originate_reason,
            cause=cause,
            result=result,
            linkedid=state.linkedid or state.attempt_id,
            sip=state.sip,
        )
