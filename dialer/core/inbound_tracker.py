"""Inbound calls: AMI event dicts in, inbound call facts out. Pure and synchronous, like the outbound tracker.

A call is grouped by its Linkedid. It is an inbound call when it arrives from outside (see `arrives`) in one
of the clinic's inbound contexts (where the trunk delivers calls); later channels of the call created there
join it. It is answered when a person took it: a queue
member connected (AgentConnect) or a dialled phone answered (DialEnd ANSWER). When every inbound channel of
the call has hung up, the call ends; unanswered, it is a missed call with a reason:

- abandoned in the queue: QueueCallerAbandon, and the caller hung up at that moment;
- no administrator in time: the queue gave up (QueueCallerAbandon, then the caller stayed in the dialplan,
  or the dialplan's DialerQueueExit said TIMEOUT/LEAVEEMPTY/JOINEMPTY/FULL);
- a direct dial to an extension or ring group was not answered or busy;
- the caller hung up in the IVR before reaching anyone;
- the call ended while the AMI link was down, and nobody had answered it before: its end was never seen
  (`gone`, after the link is back), so it is treated as missed: the patient is called back.
After-hours is decided by the engine from the clinic's hours, not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dialer.core.inbound import (
    NO_FACTS,
    AgentRinging,
    AgentStopped,
    CallerLeftQueue,
    CallerQueued,
    InboundAnswered,
    InboundEnded,
    InboundFact,
    InboundStarted,
    MissReason,
    StaffCallAnswered,
    caller_number,
)
from dialer.core.tracker import Event, RecentIds, event_time

ABANDON_HANGUP_WINDOW = timedelta(seconds=1.5)
_RING = "4"
_QUEUE_GAVE_UP = frozenset({"TIMEOUT", "LEAVEEMPTY", "JOINEMPTY", "FULL", "JOINUNAVAIL", "LEAVEUNAVAIL"})
_DIGITS = re.compile(r"\d{5,15}")


def arrives(newchannel: Event) -> bool:
    """Whether this Newchannel is a call arriving at the PBX, not a leg the PBX made to place a call.

    Both are created in the trunk endpoint's context, which the installation guide makes the inbound one, so
    the context cannot tell them apart. What does, as measured over the sandbox's PJSIP trunk: a
    call the carrier offers starts its own linked group (Uniqueid = Linkedid) in state 4, Ring, with the DID as
    its extension; the leg Asterisk creates to dial out (an administrator's call, a forward, an Originate) is
    created Down, with extension `s`, in the dialling call's group or, for an Originate, in its own.
    A Local channel's first half is created Down too, but a Local channel pointed at an inbound context is
    how a call is put into it by hand (the sandbox's simulated callers, a PBX's own bridging): its extension
    is the DID, so it counts as arriving.
    """
    uniqueid = newchannel.get("Uniqueid", "")
    if not uniqueid or uniqueid != newchannel.get("Linkedid", ""):
        return False
    return newchannel.get("ChannelState") == _RING or newchannel.get("Channel", "").startswith("Local/")


@dataclass(slots=True)
class _Call:
    call_id: str
    context: str
    did: str
    started_at: datetime
    channels: set[str] = field(default_factory=set)
    caller: str = ""
    queue: str = ""
    queue_channel: str = ""
    queued_at: datetime | None = None
    abandoned_at: datetime | None = None
    queue_exit: str = ""
    dialled: bool = False
    dial_failed: bool = False
    answered_at: datetime | None = None
    answered_by: str = ""
    waited: float | None = None


@dataclass
class InboundTracker:
    inbound_contexts: Collection[str]
    staff_contexts: Collection[str] = ()
    # Our own outbound calls (reminders, callbacks) are never inbound calls, whatever context they pass.
    is_ours: Callable[[str], bool] = lambda uniqueid: False
    _calls: dict[str, _Call] = field(default_factory=dict)
    _channel_call: dict[str, str] = field(default_factory=dict)
    _staff_dials: dict[str, str] = field(default_factory=dict)  # staff channel uniqueid -> dialled number
    _done: RecentIds = field(default_factory=RecentIds)

    def __post_init__(self) -> None:
        self._handlers: dict[str, Callable[[Event, datetime], tuple[InboundFact, ...]]] = {
            "Newchannel": self._on_newchannel,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerAbandon": self._on_abandon,
            "QueueCallerLeave": self._on_queue_leave,
            "AgentCalled": self._on_agent_called,
            "AgentRingNoAnswer": self._on_agent_missed,
            "AgentConnect": self._on_agent_connect,
            "DialBegin": self._on_dial_begin,
            "DialEnd": self._on_dial_end,
            "UserEvent": self._on_user_event,
            "Hangup": self._on_hangup,
        }

    @property
    def events(self) -> frozenset[str]:
        """The names of the events this tracker reads; it ignores every other."""
        return frozenset(self._handlers)

    def feed(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        handler = self._handlers.get(event.get("Event", ""))
        return handler(event, now) if handler is not None else NO_FACTS

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    def channels(self) -> frozenset[str]:
        """Every channel this tracker follows now (calls in progress, administrators' own dials)."""
        return frozenset(self._channel_call) | frozenset(self._staff_dials)

    def gone(self, dead: Collection[str], last_seen: datetime) -> tuple[InboundEnded, ...]:
        """After the AMI link came back: these channels are no longer on Asterisk, and their Hangup was lost
        with the link. A call left without a channel ends, unseen, as it was when the link was lost
        (`last_seen`): answered if it had been answered, else missed with the reason known by then
        (the queue had given up, the caller had abandoned, the dial had failed) or ENDED_UNSEEN."""
        ended: list[InboundEnded] = []
        lost: dict[str, list[str]] = {}  # call -> its channels that went in the gap
        for uniqueid in sorted(dead):
            call = self._drop_channel(uniqueid)
            if call is None:
                continue
            lost.setdefault(call.call_id, []).append(uniqueid)
            call.channels.discard(uniqueid)
            if not call.channels:
                at = max(last_seen, call.started_at)
                ended.append(self._end(call, at, unseen=tuple(lost[call.call_id])))
        return tuple(ended)

    # -- helpers ------------------------------------------------------------------------------------

    def _call_of(self, event: Event, now: datetime | None = None) -> _Call | None:
        linkedid = event.get("Linkedid", "")
        call = self._calls.get(linkedid)
        if call is None and now is not None:
            call = self._adopt(event, linkedid, now)
        if call is not None:
            number = caller_number(event.get("CallerIDNum", ""))
            if number and not call.caller and event.get("Uniqueid", "") in call.channels:
                call.caller = number
        return call

    def _drop_channel(self, uniqueid: str) -> _Call | None:
        """Forget a channel that is gone (an administrator's own dial, or one of a call's channels); return the
        call it belonged to, which still lists it among its channels."""
        self._staff_dials.pop(uniqueid, None)
        linkedid = self._channel_call.pop(uniqueid, None)
        return self._calls.get(linkedid) if linkedid else None

    def _adopt(self, event: Event, linkedid: str, now: datetime) -> _Call | None:
        """A call already in a queue when this process started: follow it from here on."""
        uniqueid = event.get("Uniqueid", "")
        if (
            not linkedid
            or not uniqueid
            or linkedid in self._done
            or event.get("Context", "") not in self.inbound_contexts
            or self.is_ours(linkedid)
            or self.is_ours(uniqueid)
        ):
            return None
        call = self._calls[linkedid] = _Call(
            linkedid, event.get("Context", ""), event.get("Exten", ""), event_time(event, now)
        )
        call.channels.add(uniqueid)
        self._channel_call[uniqueid] = linkedid
        return call

    # -- handlers -----------------------------------------------------------------------------------

    def _on_newchannel(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        uniqueid, linkedid = event.get("Uniqueid", ""), event.get("Linkedid", "")
        context = event.get("Context", "")
        if (
            not uniqueid
            or not linkedid
            or context not in self.inbound_contexts
            or self.is_ours(linkedid)
            or self.is_ours(uniqueid)
        ):
            return NO_FACTS
        if linkedid in self._done:
            return NO_FACTS
        call = self._calls.get(linkedid)
        facts: tuple[InboundFact, ...] = NO_FACTS
        if call is None:
            if not arrives(event):
                return NO_FACTS  # a leg dialled out over the trunk: the call that dialled it is not inbound
            at = event_time(event, now)
            call = self._calls[linkedid] = _Call(linkedid, context, event.get("Exten", ""), at)
            facts = (InboundStarted(linkedid, context, call.did, at),)
        call.channels.add(uniqueid)
        self._channel_call[uniqueid] = linkedid
        number = caller_number(event.get("CallerIDNum", ""))
        if number and not call.caller:
            call.caller = number
        return facts

    def _on_queue_join(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        call = self._call_of(event, now)
        if call is None:
            return NO_FACTS
        at = event_time(event, now)
        call.queue = event.get("Queue", "")
        call.queue_channel = event.get("Uniqueid", "")
        call.queued_at = call.queued_at or at
        call.abandoned_at = None
        return (CallerQueued(call.call_id, call.queue, call.caller, at),)

    def _on_abandon(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        call = self._call_of(event, now)
        if call is not None and not call.queue:
            call.queue, call.queue_channel = event.get("Queue", ""), event.get("Uniqueid", "")
        if call is not None and call.answered_at is None:
            call.abandoned_at = event_time(event, now)
        return NO_FACTS

    def _on_queue_leave(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        call = self._call_of(event)
        if call is None:
            return NO_FACTS
        return (CallerLeftQueue(call.call_id, event.get("Queue", call.queue), event_time(event, now)),)

    def _on_agent_called(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        call = self._call_of(event)
        if call is None:
            return NO_FACTS
        return (
            AgentRinging(
                call.call_id,
                event.get("Queue", ""),
                event.get("Interface", ""),
                event.get("MemberName", ""),
                call.caller,
                event_time(event, now),
            ),
        )

    def _on_agent_missed(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        call = self._call_of(event)
        if call is None:
            return NO_FACTS
        return (AgentStopped(call.call_id, event.get("Interface", ""), False, event_time(event, now)),)

    def _on_agent_connect(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        call = self._call_of(event, now)
        if call is not None and not call.queue:
            call.queue, call.queue_channel = event.get("Queue", ""), event.get("Uniqueid", "")
        if call is None or call.answered_at is not None:
            return NO_FACTS
        at = event_time(event, now)
        interface = event.get("Interface", "")
        return (*self._answered(call, interface, at), AgentStopped(call.call_id, interface, True, at))

    def _answered(self, call: _Call, by: str, at: datetime) -> tuple[InboundFact, ...]:
        call.answered_at, call.answered_by = at, by
        call.waited = max(0.0, (at - call.started_at).total_seconds())
        return (InboundAnswered(call.call_id, call.caller, by, call.waited, at),)

    def _on_dial_begin(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        call = self._call_of(event)
        if call is not None:
            if event.get("Uniqueid", "") in call.channels:
                call.dialled = True
            return NO_FACTS
        uniqueid = event.get("Uniqueid", "")
        if not uniqueid or self.is_ours(uniqueid) or self.is_ours(event.get("Linkedid", "")):
            return NO_FACTS
        # A leg created in the trunk's (inbound) context is a call out over the trunk, whichever context
        # dials it: FreePBX dials its trunks from its dial-out subroutine, not from the phones' context.
        if (
            event.get("Context", "") in self.staff_contexts
            or event.get("DestContext", "") in self.inbound_contexts
        ):
            match = _DIGITS.search(event.get("DialString", ""))
            if match:
                self._staff_dials[uniqueid] = match.group(0)
        return NO_FACTS

    def _on_dial_end(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        uniqueid = event.get("Uniqueid", "")
        answered = event.get("DialStatus", "") == "ANSWER"
        number = self._staff_dials.pop(uniqueid, None)
        if number is not None:
            return (StaffCallAnswered(number, event_time(event, now)),) if answered else NO_FACTS
        call = self._call_of(event)
        if call is None or uniqueid not in call.channels or call.queue:
            return NO_FACTS  # queue members' dials are AgentConnect's business
        if answered and call.answered_at is None:
            return self._answered(call, event.get("DestChannel", ""), event_time(event, now))
        if not answered:
            call.dial_failed = True
        return NO_FACTS

    def _on_user_event(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        if event.get("UserEvent") == "DialerQueueExit":
            call = self._call_of(event)
            if call is not None:
                call.queue_exit = event.get("Status", "")
                call.queue = call.queue or event.get("Queue", "")
        return NO_FACTS

    def _on_hangup(self, event: Event, now: datetime) -> tuple[InboundFact, ...]:
        uniqueid = event.get("Uniqueid", "")
        call = self._drop_channel(uniqueid)
        if call is None:
            return NO_FACTS
        number = caller_number(event.get("CallerIDNum", ""))
        if number and not call.caller:
            call.caller = number
        at = event_time(event, now)
        call.channels.discard(uniqueid)
        if (
            call.abandoned_at is not None
            and call.queue_exit == ""
            and at - call.abandoned_at > ABANDON_HANGUP_WINDOW
        ):
            call.queue_exit = "TIMEOUT"  # the queue let go of a caller who stayed on: it gave up, not them
        if call.channels:
            return NO_FACTS
        return (self._end(call, at),)

    def _end(self, call: _Call, at: datetime, unseen: tuple[str, ...] = ()) -> InboundEnded:
        """The call's end at `at`; `unseen`: the channels it had, when that end was not seen (the link was down)."""
        del self._calls[call.call_id]
        self._done.add(call.call_id)
        waited = call.waited
        if waited is None:
            gave_up = call.abandoned_at or at
            waited = max(0.0, (gave_up - call.started_at).total_seconds())
        return InboundEnded(
            call_id=call.call_id,
            context=call.context,
            did=call.did,
            queue=call.queue,
            caller=call.caller,
            started_at=call.started_at,
            queue_channel=call.queue_channel,
            ended_at=at,
            answered_at=call.answered_at,
            answered_by=call.answered_by,
            waited=waited,
            miss=_miss_reason(call, unseen=bool(unseen)),
            unseen=bool(unseen),
            channels=unseen,
        )


def _miss_reason(call: _Call, *, unseen: bool = False) -> MissReason | None:
    if call.answered_at is not None:
        return None
    if unseen:
        return _unseen_miss_reason(call)
    if call.queue_exit in _QUEUE_GAVE_UP:
        return MissReason.QUEUE_TIMEOUT  # JOINEMPTY too: nobody on shift, so the caller never even joined
    if call.queue:
        return MissReason.ABANDONED
    if call.dialled or call.dial_failed:
        return MissReason.NOT_ANSWERED
    return MissReason.IVR_HANGUP


def _unseen_miss_reason(call: _Call) -> MissReason:
    """What was known of an unanswered call when the link was lost; anything after that was not seen."""
    if call.queue_exit in _QUEUE_GAVE_UP:
        return MissReason.QUEUE_TIMEOUT
    if call.abandoned_at is not None:
        return MissReason.ABANDONED
    if call.dial_failed:
        return MissReason.NOT_ANSWERED
    return MissReason.ENDED_UNSEEN
