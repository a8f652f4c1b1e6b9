"""The inbound tracker fed the AMI event sequences Asterisk 22 sends for calls into the clinic's dialplan.

The traces follow what the sandbox shows: a simulated caller is an Originate of Local/<DID>@<context>, so the
call has two inbound channels (;1 and ;2, one Linkedid); the ;2 channel runs the dialplan and waits in the
queue, the administrators are Local channels in sandbox-agents. With a real trunk there is one channel.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialer.core.ids import AttemptId
from dialer.core.inbound import (
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
from dialer.core.inbound_tracker import InboundTracker
from dialer.core.tracker import Event

INBOUND = ("clinic-inbound", "test-direct")
STAFF = ("test-staff-outbound",)
EPOCH = 1795600746.0
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # arrival time; the events' own Timestamps must win over it
OURS = frozenset({"reminders", "callback", "autocb"})


def is_ours(uniqueid: str) -> bool:
    parsed = AttemptId.try_parse(uniqueid)
    return parsed is not None and parsed.campaign in OURS


def tracker() -> InboundTracker:
    return InboundTracker(INBOUND, STAFF, is_ours=is_ours)


def at(offset: float) -> datetime:
    return datetime.fromtimestamp(EPOCH + offset, UTC)


# Event builders: the headers Asterisk 22 sends ---------------------------------------------------------


def snapshot(
    channel: str, uniqueid: str, linkedid: str, context: str, exten: str, caller: str, prefix: str = ""
) -> Event:
    return {
        f"{prefix}Channel": channel,
        f"{prefix}ChannelState": "6",
        f"{prefix}ChannelStateDesc": "Up",
        f"{prefix}CallerIDNum": caller,
        f"{prefix}CallerIDName": "<unknown>",
        f"{prefix}ConnectedLineNum": "<unknown>",
        f"{prefix}ConnectedLineName": "<unknown>",
        f"{prefix}Language": "ru",
        f"{prefix}AccountCode": "",
        f"{prefix}Context": context,
        f"{prefix}Exten": exten,
        f"{prefix}Priority": "1",
        f"{prefix}Uniqueid": uniqueid,
        f"{prefix}Linkedid": linkedid,
    }


@dataclass(frozen=True)
class Call:
    """One simulated inbound call and the ids Asterisk gives its channels."""

    seq: int = 1726
    caller: str = "79161110001"
    context: str = "clinic-inbound"
    did: str = "100"
    queue: str = "reception"
    start: float = 0.0  # seconds after EPOCH
    agent: str = "admin1"

    @property
    def linkedid(self) -> str:
        return f"{int(EPOCH)}.{self.seq}"

    @property
    def uid2(self) -> str:
        return f"{int(EPOCH)}.{self.seq + 1}"

    def agent_uid(self, leg: int) -> str:
        return f"{int(EPOCH)}.{self.seq + 1 + leg}"

    @property
    def interface(self) -> str:
        return f"Local/{self.agent}@sandbox-agents"

    def leg(self, n: int, offset: float, event: str, caller: str | None = None, **extra: str) -> Event:
        uid = self.linkedid if n == 1 else self.uid2
        name = f"Local/{self.did}@{self.context}-{self.seq:08x};{n}"
        number = self.caller if caller is None else caller
        return {
            "Event": event,
            "Timestamp": f"{EPOCH + self.start + offset:.6f}",
            **snapshot(name, uid, self.linkedid, self.context, self.did, number),
            **extra,
        }

    def agent_leg(self, n: int, offset: float, event: str, **extra: str) -> Event:
        name = f"{self.interface}-{self.seq + 100:08x};{n}"
        return {
            "Event": event,
            "Timestamp": f"{EPOCH + self.start + offset:.6f}",
            **snapshot(name, self.agent_uid(n), self.linkedid, "sandbox-agents", self.agent, self.caller),
            **extra,
        }

    def with_agent(self, offset: float, event: str, **extra: str) -> Event:
        """An event about the caller's ;2 channel and the administrator's channel (Dest* headers)."""
        agent = snapshot(
            f"{self.interface}-{self.seq + 100:08x};1",
            self.agent_uid(1),
            self.linkedid,
            "sandbox-agents",
            self.agent,
            self.caller,
            prefix="Dest",
        )
        return {**self.leg(2, offset, event), **agent, **extra}

    # -- pieces of the dialplan's life -------------------------------------------------------------

    def arrive(self) -> list[Event]:
        # The Originate sets the caller id after the channels exist: Newchannel says <unknown>.
        return [
            self.leg(1, 0, "Newchannel", caller="<unknown>"),
            self.leg(2, 0, "Newchannel", caller="<unknown>"),
        ]

    def join(self, offset: float = 4) -> list[Event]:
        return [self.leg(2, offset, "QueueCallerJoin", Queue=self.queue, Position="1", Count="1")]

    def ring_agent(self, offset: float = 4) -> list[Event]:
        return [
            self.with_agent(
                offset,
                "AgentCalled",
                Queue=self.queue,
                Interface=self.interface,
                MemberName=f"Администратор {self.agent}",
            ),
            self.agent_leg(1, offset, "Newchannel"),
            self.agent_leg(2, offset, "Newchannel"),
            self.with_agent(offset, "DialBegin", DialString=f"{self.agent}@sandbox-agents"),
        ]

    def hang_up_agent(self, offset: float) -> list[Event]:
        return [
            self.agent_leg(1, offset, "Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"}),
            self.agent_leg(2, offset, "Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"}),
        ]

    def hang_up(self, offset: float, cause: str = "16", first: int = 1) -> list[Event]:
        other = 2 if first == 1 else 1
        return [
            self.leg(first, offset, "Hangup", Cause=cause, **{"Cause-txt": "Normal Clearing"}),
            self.leg(other, offset, "Hangup", Cause=cause, **{"Cause-txt": "Normal Clearing"}),
        ]

    def queue_exit(self, offset: float, status: str) -> list[Event]:
        return [
            self.leg(2, offset, "UserEvent", UserEvent="DialerQueueExit", Queue=self.queue, Status=status)
        ]

    # -- whole calls ------------------------------------------------------------------------------

    def answered_in_queue(self) -> list[Event]:
        return [
            *self.arrive(),
            *self.join(4),
            *self.ring_agent(4),
            self.with_agent(5, "DialEnd", DialStatus="ANSWER"),
            self.leg(2, 5, "QueueCallerLeave", Queue=self.queue, Count="0", Position="1"),
            self.with_agent(
                5,
                "AgentConnect",
                Queue=self.queue,
                Interface=self.interface,
                MemberName=f"Администратор {self.agent}",
                HoldTime="1",
                RingTime="1",
            ),
            self.with_agent(
                12,
                "AgentComplete",
                Queue=self.queue,
                Interface=self.interface,
                HoldTime="1",
                TalkTime="7",
                Reason="caller",
            ),
            *self.hang_up_agent(12),
            *self.hang_up(12),
        ]

    def abandoned(self) -> list[Event]:
        return [
            *self.arrive(),
            *self.join(4),
            *self.ring_agent(4),
            self.leg(1, 6, "Hangup", Cause="0", **{"Cause-txt": "Unknown"}),
            self.with_agent(6, "DialEnd", DialStatus="CANCEL"),
            self.leg(
                2, 6, "QueueCallerAbandon", Queue=self.queue, Position="1", OriginalPosition="1", HoldTime="1"
            ),
            self.leg(2, 6, "QueueCallerLeave", Queue=self.queue, Count="0", Position="1"),
            *self.hang_up_agent(6),
            self.leg(2, 6, "Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"}),
        ]

    def queue_timeout(self, exit_status: str | None = None, hangup_after: float = 6) -> list[Event]:
        gave_up = 8.0
        return [
            *self.arrive(),
            *self.join(4),
            *self.ring_agent(4),
            self.with_agent(7, "DialEnd", DialStatus="NOANSWER"),
            self.with_agent(7, "AgentRingNoAnswer", Queue=self.queue, Interface=self.interface, RingTime="3"),
            *self.hang_up_agent(7),
            self.leg(
                2,
                gave_up,
                "QueueCallerAbandon",
                Queue=self.queue,
                Position="1",
                OriginalPosition="1",
                HoldTime="4",
            ),
            self.leg(2, gave_up, "QueueCallerLeave", Queue=self.queue, Count="0", Position="1"),
            *(self.queue_exit(gave_up, exit_status) if exit_status else []),
            *self.hang_up(gave_up + hangup_after),
        ]

    def direct(self, status: str) -> list[Event]:
        return [
            *self.arrive(),
            self.agent_leg(1, 0.1, "Newchannel"),
            self.agent_leg(2, 0.1, "Newchannel"),
            self.with_agent(0.1, "DialBegin", DialString=f"{self.agent}@sandbox-agents"),
            self.with_agent(6, "DialEnd", DialStatus=status),
            *self.hang_up_agent(6 if status != "ANSWER" else 9),
            *self.hang_up(6 if status != "ANSWER" else 9),
        ]

    def ivr_hangup(self) -> list[Event]:
        return [*self.arrive(), *self.hang_up(1.5, cause="0")]


def feed(t: InboundTracker, events: list[Event]) -> list[InboundFact]:
    facts: list[InboundFact] = []
    for event in events:
        facts.extend(t.feed(event, NOW))
    return facts


def ends(facts: list[InboundFact]) -> list[InboundEnded]:
    return [f for f in facts if isinstance(f, InboundEnded)]


def the_end(facts: list[InboundFact]) -> InboundEnded:
    (end,) = ends(facts)
    return end


# Answered in the queue ------------------------------------------------------------------------------------


def test_a_call_answered_in_the_queue() -> None:
    c = Call()
    t = tracker()
    facts = feed(t, c.answered_in_queue())
    kinds = [type(f) for f in facts]
    assert kinds == [
        InboundStarted,
        CallerQueued,
        AgentRinging,
        CallerLeftQueue,
        InboundAnswered,
        AgentStopped,
        InboundEnded,
    ]
    started, queued, ringing, _left, answered, stopped, end = facts
    assert isinstance(started, InboundStarted)
    assert (started.call_id, started.context, started.did, started.at) == (
        c.linkedid,
        "clinic-inbound",
        "100",
        at(0),
    )
    assert isinstance(queued, CallerQueued)
    assert (queued.call_id, queued.queue, queued.caller, queued.at) == (
        c.linkedid,
        "reception",
        "79161110001",
        at(4),
    )
    assert isinstance(ringing, AgentRinging)
    assert (ringing.interface, ringing.member, ringing.caller, ringing.queue) == (
        "Local/admin1@sandbox-agents",
        "Администратор admin1",
        "79161110001",
        "reception",
    )
    assert isinstance(answered, InboundAnswered)
    assert (answered.caller, answered.by, answered.at, answered.waited) == (
        "79161110001",
        "Local/admin1@sandbox-agents",
        at(5),
        5.0,
    )
    assert isinstance(stopped, AgentStopped) and stopped.answered and stopped.interface == c.interface
    assert isinstance(end, InboundEnded)
    assert end.miss is None
    assert (end.call_id, end.caller, end.queue, end.did, end.context) == (
        c.linkedid,
        "79161110001",
        "reception",
        "100",
        "clinic-inbound",
    )
    assert (end.started_at, end.answered_at, end.ended_at, end.waited) == (at(0), at(5), at(12), 5.0)
    assert end.answered_by == c.interface
    assert end.queue_channel == c.uid2
    assert t.live_calls == 0


def test_the_call_ends_only_when_every_inbound_channel_has_hung_up() -> None:
    c = Call()
    t = tracker()
    events = c.answered_in_queue()
    *before, last = events
    assert ends(feed(t, before)) == []  # the ;2 channel is still up
    assert t.live_calls == 1
    assert the_end(feed(t, [last])).ended_at == at(12)


def test_the_administrators_hanging_up_first_or_last_does_not_matter() -> None:
    c = Call()
    events = c.answered_in_queue()
    agents = [e for e in events if e["Event"] == "Hangup" and e["Context"] == "sandbox-agents"]
    reordered = [e for e in events if e not in agents] + agents
    assert the_end(feed(tracker(), reordered)).miss is None


# Missed: the reasons ------------------------------------------------------------------------------------


def test_a_caller_who_hangs_up_while_waiting_abandoned() -> None:
    c = Call(caller="79161110002")
    facts = feed(tracker(), c.abandoned())
    assert not [f for f in facts if isinstance(f, InboundAnswered)]
    stopped = [f for f in facts if isinstance(f, AgentStopped)]
    assert all(not s.answered for s in stopped)
    end = the_end(facts)
    assert end.miss is MissReason.ABANDONED
    assert (end.caller, end.queue, end.answered_at, end.answered_by) == ("79161110002", "reception", None, "")
    assert (end.started_at, end.ended_at) == (at(0), at(6))
    assert end.waited == 6.0  # from the call's start to the abandon


def test_abandon_whichever_of_the_caller_channels_hangs_up_last() -> None:
    c = Call()
    events = c.abandoned()
    # The ;2 hangup may come before the ;1 one; the abandon is still an abandon.
    first = next(e for e in events if e["Event"] == "Hangup" and e["Uniqueid"] == c.linkedid)
    moved = [e for e in events if e is not first] + [first]
    assert the_end(feed(tracker(), moved)).miss is MissReason.ABANDONED


def test_queue_timeout_the_caller_stayed_on_after_the_queue_gave_up() -> None:
    c = Call(caller="79161110003")
    end = the_end(feed(tracker(), c.queue_timeout()))
    assert end.miss is MissReason.QUEUE_TIMEOUT
    assert end.queue == "reception"
    assert end.waited == 8.0  # until the queue let go, not until the hangup
    assert end.ended_at == at(14)


def test_a_caller_hanging_up_at_once_after_the_queue_abandon_event_is_an_abandon() -> None:
    end = the_end(feed(tracker(), Call().queue_timeout(hangup_after=0.5)))
    assert end.miss is MissReason.ABANDONED


def test_the_dialplan_says_timeout_whatever_the_timing() -> None:
    for status in ("TIMEOUT", "LEAVEEMPTY"):
        end = the_end(feed(tracker(), Call().queue_timeout(exit_status=status, hangup_after=0.2)))
        assert end.miss is MissReason.QUEUE_TIMEOUT, status
    end = the_end(feed(tracker(), Call().queue_timeout(exit_status="TIMEOUT", hangup_after=30)))
    assert end.miss is MissReason.QUEUE_TIMEOUT


def test_the_dialplan_saying_abandon_keeps_it_abandoned_even_when_the_hangup_comes_late() -> None:
    end = the_end(feed(tracker(), Call().queue_timeout(exit_status="ABANDON", hangup_after=6)))
    assert end.miss is MissReason.ABANDONED


def test_joinempty_nobody_on_shift_is_a_queue_timeout() -> None:
    """joinempty = paused,invalid,unavailable (queues_dialer.conf): with every administrator paused, Queue()
    returns JOINEMPTY at once. Asterisk emits no QueueCallerJoin then (the caller never entered the queue);
    the shipped dialplan's UserEvent DialerQueueExit says Queue: reception, Status: JOINEMPTY, and plays the
    callback promise before hanging up."""
    c = Call(caller="79161110004")
    events = [*c.arrive(), *c.queue_exit(4, "JOINEMPTY"), *c.hang_up(9)]
    end = the_end(feed(tracker(), events))
    assert end.miss is MissReason.QUEUE_TIMEOUT
    assert end.queue == "reception"


def test_a_direct_dial_not_answered_or_busy() -> None:
    for status in ("NOANSWER", "BUSY", "CONGESTION", "CHANUNAVAIL"):
        c = Call(context="test-direct", did="201", agent="ring", caller="79161110005")
        facts = feed(tracker(), c.direct(status))
        assert not [f for f in facts if isinstance(f, InboundAnswered)], status
        end = the_end(facts)
        assert end.miss is MissReason.NOT_ANSWERED, status
        assert (end.did, end.context, end.queue, end.caller) == ("201", "test-direct", "", "79161110005")
        assert end.waited == 6.0


def test_a_direct_dial_answered() -> None:
    c = Call(context="test-direct", did="203", agent="answer-5")
    facts = feed(tracker(), c.direct("ANSWER"))
    (answered,) = [f for f in facts if isinstance(f, InboundAnswered)]
    assert answered.at == at(6) and answered.waited == 6.0
    assert answered.by.startswith("Local/answer-5@sandbox-agents")
    end = the_end(facts)
    assert end.miss is None and end.answered_at == at(6)


def test_a_hang_up_in_the_ivr() -> None:
    c = Call()
    facts = feed(tracker(), c.ivr_hangup())
    assert [type(f) for f in facts] == [InboundStarted, InboundEnded]
    end = the_end(facts)
    assert end.miss is MissReason.IVR_HANGUP
    assert (end.queue, end.caller, end.waited) == ("", "79161110001", 1.5)


def test_a_hidden_number_is_counted_with_an_empty_caller() -> None:
    for build in (Call.abandoned, Call.ivr_hangup, Call.answered_in_queue):
        c = Call(caller="<unknown>")
        end = the_end(feed(tracker(), build(c)))
        assert end.caller == "", build.__name__
    assert caller_number("anonymous") == caller_number("Restricted") == caller_number("") == ""
    assert caller_number("+7 (916) 111-00-01") == "79161110001"


def trunk_call(status: str | None, hangup_after: float) -> list[Event]:
    """A real trunk delivers one channel: it is the call, and it waits in the queue itself."""
    uid = "1795600900.2001"

    def ev(name: str, offset: float, **extra: str) -> Event:
        return {
            "Event": name,
            "Timestamp": f"{EPOCH + offset:.6f}",
            **snapshot("PJSIP/trunk-00000011", uid, uid, "clinic-inbound", "74951234567", "+79161110008"),
            **extra,
        }

    return [
        ev("Newchannel", 0, ChannelState="4", ChannelStateDesc="Ring"),  # offered by the carrier
        ev("QueueCallerJoin", 4, Queue="reception", Position="1", Count="1"),
        ev("QueueCallerAbandon", 10, Queue="reception", Position="1", OriginalPosition="1", HoldTime="6"),
        ev("QueueCallerLeave", 10, Queue="reception", Count="0", Position="1"),
        *(
            [ev("UserEvent", 10, UserEvent="DialerQueueExit", Queue="reception", Status=status)]
            if status
            else []
        ),
        ev("Hangup", 10 + hangup_after, Cause="16"),
    ]


def test_a_real_trunks_single_channel() -> None:
    abandoned = the_end(feed(tracker(), trunk_call(None, 0)))
    assert (abandoned.call_id, abandoned.did, abandoned.caller) == (
        "1795600900.2001",
        "74951234567",
        "79161110008",
    )
    assert (abandoned.miss, abandoned.waited, abandoned.queue_channel) == (
        MissReason.ABANDONED,
        10.0,
        "1795600900.2001",
    )
    timeout = the_end(feed(tracker(), trunk_call("TIMEOUT", 6)))
    assert (timeout.miss, timeout.ended_at) == (MissReason.QUEUE_TIMEOUT, at(16))


# Staff and our own calls -------------------------------------------------------------------------------


def staff_call(status: str, dial_string: str = "79161234561@patients") -> list[Event]:
    uid, name = "1795600800.1800", "Local/79161234561@test-staff-outbound-00000700;2"
    base = snapshot(name, uid, uid, "test-staff-outbound", "79161234561", "101")
    dest = snapshot(
        "Local/79161234561@patients-00000701;1", "1795600800.1802", uid, "patients", "s", "101", "Dest"
    )
    return [
        {"Event": "Newchannel", "Timestamp": f"{EPOCH + 100:.6f}", **base},
        {"Event": "DialBegin", "Timestamp": f"{EPOCH + 100:.6f}", **base, **dest, "DialString": dial_string},
        {"Event": "DialEnd", "Timestamp": f"{EPOCH + 104:.6f}", **base, **dest, "DialStatus": status},
        {"Event": "Hangup", "Timestamp": f"{EPOCH + 110:.6f}", **base, "Cause": "16"},
    ]


def test_an_administrators_own_call_answered_by_a_patient() -> None:
    facts = feed(tracker(), staff_call("ANSWER"))
    assert facts == [StaffCallAnswered("79161234561", at(104))]


def test_an_administrators_own_call_not_answered_says_nothing() -> None:
    for status in ("NOANSWER", "BUSY", "CANCEL", "CONGESTION"):
        assert feed(tracker(), staff_call(status)) == [], status


def test_a_dial_from_a_context_that_is_not_staff_is_not_a_staff_call() -> None:
    events = [{**e, "Context": "somewhere-else"} for e in staff_call("ANSWER")]
    assert feed(tracker(), events) == []


def test_our_own_calls_are_never_inbound_even_in_an_inbound_context() -> None:
    ours = "reminders:17:2"
    events: list[Event] = [
        {"Event": "Newchannel", "Uniqueid": ours, "Linkedid": ours, "Context": "clinic-inbound", "Exten": "100"},
        {"Event": "Newchannel", "Uniqueid": f"{ours};2", "Linkedid": ours, "Context": "clinic-inbound"},
        {"Event": "QueueCallerJoin", "Uniqueid": f"{ours};2", "Linkedid": ours, "Context": "clinic-inbound",
         "Queue": "reception", "CallerIDNum": "79161234567"},
        {"Event": "QueueCallerAbandon", "Uniqueid": f"{ours};2", "Linkedid": ours, "Context": "clinic-inbound",
         "Queue": "reception"},
        {"Event": "Hangup", "Uniqueid": ours, "Linkedid": ours, "Context": "clinic-inbound"},
        {"Event": "Hangup", "Uniqueid": f"{ours};2", "Linkedid": ours, "Context": "clinic-inbound"},
    ]  # fmt: skip
    t = tracker()
    assert feed(t, events) == []
    assert t.live_calls == 0


def test_a_channel_of_ours_inside_a_foreign_linkedid_is_not_a_channel_of_the_call() -> None:
    ours = "callback:5:1"
    events: list[Event] = [
        {"Event": "Newchannel", "Uniqueid": ours, "Linkedid": "1795600746.1", "Context": "clinic-inbound"},
        {"Event": "Hangup", "Uniqueid": ours, "Linkedid": "1795600746.1", "Context": "clinic-inbound"},
    ]
    assert feed(tracker(), events) == []


def test_a_reminder_call_joining_the_reception_queue_creates_nothing() -> None:
    events: list[Event] = [
        {"Event": "QueueCallerJoin", "Uniqueid": "reminders:999:1;2", "Linkedid": "reminders:999:1",
         "Context": "dialer-reminder", "Queue": "reception", "CallerIDNum": "79161234567"},
        {"Event": "AgentConnect", "Uniqueid": "reminders:999:1;2", "Linkedid": "reminders:999:1",
         "Context": "dialer-reminder", "Queue": "reception", "Interface": "Local/admin1@sandbox-agents"},
        {"Event": "QueueCallerAbandon", "Uniqueid": "reminders:999:1;2", "Linkedid": "reminders:999:1",
         "Context": "dialer-reminder", "Queue": "reception"},
        {"Event": "Hangup", "Uniqueid": "reminders:999:1;2", "Linkedid": "reminders:999:1",
         "Context": "dialer-reminder"},
    ]  # fmt: skip
    t = tracker()
    assert feed(t, events) == []
    assert t.live_calls == 0


# Calls already in the queue when the service started; late events ---------------------------------------


def test_a_call_already_waiting_at_start_is_adopted_on_its_abandon() -> None:
    c = Call(caller="79161110006")
    events = [e for e in c.abandoned() if e["Event"] != "Newchannel"]  # we came up after it arrived
    facts = feed(tracker(), events)
    end = the_end(facts)
    assert end.call_id == c.linkedid
    assert end.miss is MissReason.ABANDONED
    assert (end.caller, end.queue, end.queue_channel) == ("79161110006", "reception", c.uid2)


def test_a_call_already_waiting_at_start_is_adopted_on_its_answer() -> None:
    c = Call()
    events = [e for e in c.answered_in_queue() if e["Event"] not in ("Newchannel", "QueueCallerJoin")]
    facts = feed(tracker(), events)
    assert len([f for f in facts if isinstance(f, InboundAnswered)]) == 1
    end = the_end(facts)
    assert end.miss is None and end.call_id == c.linkedid


def test_a_finished_calls_late_events_never_resurrect_it() -> None:
    c = Call()
    t = tracker()
    events = c.abandoned()
    assert len(ends(feed(t, events))) == 1
    assert feed(t, events) == []  # the whole call replayed
    late = [
        e for e in c.answered_in_queue() if e["Event"] in ("QueueCallerAbandon", "AgentConnect", "Hangup")
    ]
    assert feed(t, late + c.abandoned()) == []
    assert t.live_calls == 0


def test_duplicated_hangups_end_a_call_once() -> None:
    c = Call()
    events = c.ivr_hangup()
    doubled = [e for event in events for e in (event, event)]
    assert len(ends(feed(tracker(), doubled))) == 1


# Times ---------------------------------------------------------------------------------------------------


def test_the_events_own_timestamps_are_the_fact_times() -> None:
    c = Call(start=3600.0)
    facts = feed(tracker(), c.abandoned())
    started = next(f for f in facts if isinstance(f, InboundStarted))
    assert started.at == at(3600)
    end = the_end(facts)
    assert (end.started_at, end.ended_at) == (at(3600), at(3606))


def test_without_timestamps_the_arrival_time_is_used() -> None:
    c = Call()
    t = tracker()
    facts: list[InboundFact] = []
    for i, event in enumerate(c.abandoned()):
        plain = {k: v for k, v in event.items() if k != "Timestamp"}
        facts.extend(t.feed(plain, NOW + timedelta(seconds=i)))
    end = the_end(facts)
    assert end.started_at == NOW
    assert end.ended_at == NOW + timedelta(seconds=len(c.abandoned()) - 1)
    assert end.waited > 0


def test_a_garbage_timestamp_falls_back_to_the_arrival_time() -> None:
    c = Call()
    events = [{**e, "Timestamp": "soon"} for e in c.ivr_hangup()]
    end = the_end(feed(tracker(), events))
    assert end.started_at == NOW == end.ended_at


# Empty and missing ids ----------------------------------------------------------------------------------


def test_a_channel_without_a_linkedid_is_no_call() -> None:
    """A Newchannel whose Linkedid header is empty or missing (a damaged frame) must not open a call with the id
    "": InboundStarted("") would reach the live listeners (pop-ups, supervisor screen), and since a Hangup never
    ends a call with an empty id, it would stay among the live calls for good, collecting every later damaged
    channel. (_adopt already refuses an empty Linkedid; _on_newchannel does not.)"""
    for linkedid in ("", None):
        events: list[Event] = []
        for name in ("Newchannel", "Hangup"):
            event: Event = {
                "Event": name,
                "Uniqueid": "1795600746.1900",
                "Context": "clinic-inbound",
                "Exten": "100",
                "CallerIDNum": "79161110009",
            }
            if linkedid is not None:
                event["Linkedid"] = linkedid
            events.append(event)
        t = tracker()
        facts = feed(t, events)
        assert [f for f in facts if isinstance(f, (InboundStarted, InboundEnded))] == [], repr(linkedid)
        assert t.live_calls == 0, repr(linkedid)


# Robustness: interleavings, subsets, duplicates and junk ---------------------------------------------------

SCENARIOS = {
    "answered": Call.answered_in_queue,
    "abandoned": Call.abandoned,
    "timeout": Call.queue_timeout,
    "direct": lambda c: Call(c.seq, c.caller, "test-direct", "201", agent="ring", start=c.start).direct(
        "NOANSWER"
    ),
    "ivr": Call.ivr_hangup,
}
KEYS = ["Event", "Uniqueid", "Linkedid", "Context", "Exten", "CallerIDNum", "Queue", "Interface", "DialStatus",
        "DialString", "Timestamp", "UserEvent", "Status", "DestChannel", "HoldTime"]  # fmt: skip
EVENT_NAMES = ["Newchannel", "Hangup", "QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave",
               "AgentCalled", "AgentConnect", "AgentRingNoAnswer", "DialBegin", "DialEnd", "UserEvent", "VarSet",
               "Bogus", ""]  # fmt: skip
VALUES = ["", "clinic-inbound", "test-direct", "test-staff-outbound", "dialer-reminder", "reminders:17:2",
          "reminders:999:1", "1795600746.1726", "1795600746.1727", "1795600746.9999", "ANSWER", "NOANSWER",
          "DialerQueueExit", "TIMEOUT", "ABANDON", "JOINEMPTY", "79161110001", "<unknown>", "nan", "inf", "-1",
          "1e400", "99999999999999999999", "²", "reception", "79161234561@patients"]  # fmt: skip


@st.composite
def calls(draw: st.DrawFn) -> list[tuple[str, list[Event]]]:
    kinds = draw(st.lists(st.sampled_from(sorted(SCENARIOS)), min_size=1, max_size=4))
    out = []
    for i, kind in enumerate(kinds):
        c = Call(seq=1726 + 10 * i, caller=f"7916111000{i}", start=draw(st.floats(0, 20)))
        out.append((c.linkedid, SCENARIOS[kind](c)))
    return out


junk = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=8),
    st.dictionaries(st.sampled_from(KEYS), st.text(max_size=12), max_size=6),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
    st.builds(lambda name, rest: {**rest, "Event": name}, st.sampled_from(EVENT_NAMES),
              st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=8)),
)  # fmt: skip


@st.composite
def streams(draw: st.DrawFn) -> list[Event]:
    real = [e for _, events in draw(calls()) for e in events]
    # Any subset, any order, any duplication of the real events ...
    picks = draw(st.lists(st.integers(0, len(real) - 1), max_size=2 * len(real)))
    stream = [real[i] for i in picks]
    # ... damaged copies of some of them (headers dropped or garbled) ...
    for i in draw(st.lists(st.integers(0, len(real) - 1), max_size=5)):
        damaged = dict(real[i])
        for key in draw(st.lists(st.sampled_from(sorted(damaged)), max_size=3)):
            if draw(st.booleans()):
                damaged.pop(key, None)
            else:
                damaged[key] = draw(st.sampled_from(VALUES))
        stream.insert(draw(st.integers(0, len(stream))), damaged)
    # ... and junk anywhere.
    for extra in draw(st.lists(junk, max_size=8)):
        stream.insert(draw(st.integers(0, len(stream))), extra)
    return stream


@given(stream=streams())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_stream_never_raises_and_never_invents_calls(stream: list[Event]) -> None:
    t = tracker()
    inbound_linkedids: set[str] = set()
    facts: list[InboundFact] = []
    for event in stream:
        if event.get("Context", "") in INBOUND and event.get("Uniqueid"):
            inbound_linkedids.add(event.get("Linkedid", ""))
        facts.extend(t.feed(event, NOW))
    ended = Counter(f.call_id for f in ends(facts))
    assert all(n == 1 for n in ended.values()), ended
    for call_id in ended:  # (an empty Linkedid is test_a_channel_without_a_linkedid_is_no_call's business)
        assert call_id in inbound_linkedids, f"phantom call {call_id!r}"
        assert not is_ours(call_id)
    for f in facts:
        if isinstance(f, (InboundStarted, InboundAnswered, InboundEnded)):
            assert f.call_id in inbound_linkedids and not is_ours(f.call_id)


@given(found=calls())
@settings(max_examples=60, deadline=None)
def test_interleaved_whole_calls_each_end_once_with_their_own_outcome(
    found: list[tuple[str, list[Event]]],
) -> None:
    alone = {linkedid: the_end(feed(tracker(), events)) for linkedid, events in found}
    merged = sorted(
        (
            (float(e["Timestamp"]), n, i, e)
            for n, (_, events) in enumerate(found)
            for i, e in enumerate(events)
        ),
        key=lambda item: item[:3],
    )
    together = ends(feed(tracker(), [e for *_, e in merged]))
    assert {e.call_id: e for e in together} == alone
