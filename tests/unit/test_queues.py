"""The live queue state from Asterisk 22's queue events and its QueueStatus answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.queues import (
    BUSY,
    INUSE,
    INVALID,
    NOT_INUSE,
    ONHOLD,
    RINGING,
    RINGINUSE,
    UNAVAILABLE,
    AdminState,
    QueueState,
)
from dialer.core.tracker import Event

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
Q = ("reception",)
A1, A2 = "Local/admin1@sandbox-agents", "Local/admin2@sandbox-agents"


def member_event(
    name: str, interface: str = A1, status: int = NOT_INUSE, paused: str = "0", **extra: str
) -> Event:
    return {
        "Event": name,
        "Queue": "reception",
        "MemberName": "Администратор 1",
        "Interface": interface,
        "StateInterface": interface,
        "Membership": "dynamic",
        "Penalty": "0",
        "CallsTaken": "0",
        "LastCall": "0",
        "LastPause": "0",
        "LoginTime": "1795600000",
        "InCall": "0",
        "Status": str(status),
        "Paused": paused,
        "PausedReason": "",
        "Ringinuse": "0",
        "Wrapuptime": "0",
        **extra,
    }


def status_of(interface: str, status: int, queue: str = "reception") -> Event:
    return {**member_event("QueueMemberStatus", interface, status), "Queue": queue}


def queue_member(
    interface: str, status: int = NOT_INUSE, paused: str = "0", queue: str = "reception"
) -> Event:
    """QueueStatus's QueueMember: Asterisk names the interface Location (and the member Name) here."""
    return {
        "Event": "QueueMember",
        "ActionID": "qs-1",
        "Queue": queue,
        "Name": "Администратор",
        "Location": interface,
        "StateInterface": interface,
        "Membership": "dynamic",
        "Penalty": "0",
        "CallsTaken": "3",
        "LastCall": "1795600000",
        "LastPause": "0",
        "LoginTime": "1795590000",
        "InCall": "0",
        "Status": str(status),
        "Paused": paused,
        "PausedReason": "",
        "Wrapuptime": "0",
    }


def caller_event(name: str, uniqueid: str, queue: str = "reception", **extra: str) -> Event:
    return {
        "Event": name,
        "Queue": queue,
        "Channel": f"Local/100@clinic-inbound-{uniqueid[-4:]};2",
        "Uniqueid": uniqueid,
        "Linkedid": uniqueid,
        "CallerIDNum": "79161110001",
        "Position": "1",
        "Count": "1",
        **extra,
    }


def queue_entry(uniqueid: str, wait: int, queue: str = "reception") -> Event:
    return {
        "Event": "QueueEntry",
        "ActionID": "qs-1",
        "Queue": queue,
        "Position": "1",
        "Channel": f"Local/100@clinic-inbound-{uniqueid[-4:]};2",
        "Uniqueid": uniqueid,
        "CallerIDNum": "79161110001",
        "CallerIDName": "<unknown>",
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Wait": str(wait),
        "Priority": "0",
    }


def test_a_member_added_free_then_ringing_talking_and_free_again() -> None:
    s = QueueState()
    assert s.feed(member_event("QueueMemberAdded"), T0)
    assert s.admins(Q, T0) == {A1: AdminState.FREE}
    assert s.free(Q, T0) == [A1]
    steps = [
        (RINGING, AdminState.RINGING),
        (RINGINUSE, AdminState.RINGING),
        (INUSE, AdminState.TALKING),
        (BUSY, AdminState.TALKING),
        (ONHOLD, AdminState.TALKING),
        (NOT_INUSE, AdminState.FREE),
    ]
    for status, state in steps:
        assert s.feed(status_of(A1, status), T0)
        assert s.admins(Q, T0) == {A1: state}, status
        assert s.free(Q, T0) == ([A1] if state is AdminState.FREE else [])


def test_offline_members() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded", status=UNAVAILABLE), T0)
    s.feed(member_event("QueueMemberAdded", A2, status=INVALID), T0)
    assert s.admins(Q, T0) == {A1: AdminState.OFFLINE, A2: AdminState.OFFLINE}
    assert s.free(Q, T0) == []


def test_wrap_up_after_a_call() -> None:
    s = QueueState(wrap_up_seconds=30)
    s.feed(member_event("QueueMemberAdded"), T0)
    s.feed(status_of(A1, INUSE), T0)
    s.feed(status_of(A1, NOT_INUSE), T0 + timedelta(seconds=100))
    hung_up = T0 + timedelta(seconds=100)
    assert s.admins(Q, hung_up + timedelta(seconds=29)) == {A1: AdminState.WRAP_UP}
    assert s.free(Q, hung_up + timedelta(seconds=29)) == []
    assert s.admins(Q, hung_up + timedelta(seconds=30)) == {A1: AdminState.FREE}
    assert s.free(Q, hung_up + timedelta(seconds=30)) == [A1]


def test_no_wrap_up_after_a_ring_that_was_not_answered_or_when_it_is_off() -> None:
    s = QueueState(wrap_up_seconds=30)
    s.feed(member_event("QueueMemberAdded"), T0)
    s.feed(status_of(A1, RINGING), T0)
    s.feed(status_of(A1, NOT_INUSE), T0)
    assert s.admins(Q, T0) == {A1: AdminState.FREE}
    off = QueueState()
    off.feed(member_event("QueueMemberAdded"), T0)
    off.feed(status_of(A1, INUSE), T0)
    off.feed(status_of(A1, NOT_INUSE), T0)
    assert off.admins(Q, T0) == {A1: AdminState.FREE}


def test_pause_and_unpause() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded"), T0)
    assert s.feed(member_event("QueueMemberPause", paused="1", PausedReason="обед"), T0)
    assert s.admins(Q, T0) == {A1: AdminState.PAUSED}
    # Paused wins over the device state.
    s.feed(member_event("QueueMemberStatus", status=INUSE, paused="1"), T0)
    assert s.admins(Q, T0) == {A1: AdminState.PAUSED}
    s.feed(member_event("QueueMemberPause", paused="0"), T0)
    assert s.admins(Q, T0) == {A1: AdminState.FREE}


def test_a_status_event_without_paused_keeps_the_pause() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded", paused="1"), T0)
    event = status_of(A1, NOT_INUSE)
    del event["Paused"]
    s.feed(event, T0)
    assert s.admins(Q, T0) == {A1: AdminState.PAUSED}


def test_a_removed_member_is_gone() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded"), T0)
    assert s.feed(member_event("QueueMemberRemoved"), T0)
    assert s.admins(Q, T0) == {}
    assert not s.feed(member_event("QueueMemberRemoved"), T0)  # twice: nothing changes


def test_a_reserved_administrator_counts_as_ringing() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded"), T0)
    s.feed(member_event("QueueMemberAdded", A2), T0)
    s.reserved.add(A1)
    assert s.admins(Q, T0) == {A1: AdminState.RINGING, A2: AdminState.FREE}
    assert s.free(Q, T0) == [A2]
    s.feed(status_of(A1, INUSE), T0)  # once their phone is up, they are talking
    assert s.admins(Q, T0)[A1] is AdminState.TALKING
    s.reserved.discard(A1)
    s.feed(status_of(A1, NOT_INUSE), T0)
    assert sorted(s.free(Q, T0)) == [A1, A2]


def test_a_member_of_two_queues_shows_their_most_telling_state() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded"), T0)
    s.feed({**member_event("QueueMemberAdded"), "Queue": "doctors"}, T0)
    s.feed(status_of(A1, INUSE, queue="doctors"), T0)
    assert s.admins(("reception", "doctors"), T0) == {A1: AdminState.TALKING}
    assert s.admins(Q, T0) == {A1: AdminState.FREE}  # only the queues asked about count
    assert s.admins(("other",), T0) == {}


def test_callers_waiting_and_the_longest_wait() -> None:
    s = QueueState()
    assert s.waiting_count(Q) == 0 and s.longest_wait(Q, T0) == 0.0
    assert s.feed(caller_event("QueueCallerJoin", "1795600746.1727"), T0)
    assert s.feed(caller_event("QueueCallerJoin", "1795600746.1737"), T0 + timedelta(seconds=20))
    now = T0 + timedelta(seconds=50)
    assert s.waiting_count(Q) == 2
    assert s.longest_wait(Q, now) == 50.0
    assert s.feed(caller_event("QueueCallerAbandon", "1795600746.1727", HoldTime="50"), now)
    assert s.waiting_count(Q) == 1 and s.longest_wait(Q, now) == 30.0
    assert s.feed(caller_event("QueueCallerLeave", "1795600746.1737"), now)
    assert s.waiting_count(Q) == 0 and s.longest_wait(Q, now) == 0.0
    assert not s.feed(caller_event("QueueCallerLeave", "1795600746.1737"), now)  # abandon then leave: once


def test_a_callers_join_time_is_the_events_timestamp() -> None:
    s = QueueState()
    joined = T0 - timedelta(seconds=12)
    s.feed(caller_event("QueueCallerJoin", "1795600746.1727", Timestamp=f"{joined.timestamp():.6f}"), T0)
    assert s.longest_wait(Q, T0) == 12.0


def test_a_repeated_join_keeps_the_first_time() -> None:
    s = QueueState()
    s.feed(caller_event("QueueCallerJoin", "1795600746.1727"), T0)
    s.feed(caller_event("QueueCallerJoin", "1795600746.1727"), T0 + timedelta(seconds=30))
    assert s.waiting_count(Q) == 1 and s.longest_wait(Q, T0 + timedelta(seconds=40)) == 40.0


def test_waiting_counts_only_the_queues_asked_about() -> None:
    s = QueueState()
    s.feed(caller_event("QueueCallerJoin", "1795600746.1727"), T0)
    s.feed(caller_event("QueueCallerJoin", "1795600746.1737", queue="doctors"), T0)
    assert s.waiting_count(Q) == 1
    assert s.waiting_count(("reception", "doctors")) == 2
    assert s.waiting_count(()) == 0


def test_reset_from_a_queue_status_answer() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded", "Local/gone@sandbox-agents"), T0)
    s.feed(caller_event("QueueCallerJoin", "1795600000.1"), T0)
    s.reserved.add(A2)
    now = T0 + timedelta(minutes=5)
    answer: list[Event] = [
        {"Event": "QueueParams", "ActionID": "qs-1", "Queue": "reception", "Max": "0", "Strategy": "ringall",
         "Calls": "2", "Holdtime": "3", "TalkTime": "40", "Completed": "9", "Abandoned": "2"},
        queue_member(A1, INUSE),
        queue_member(A2, NOT_INUSE),
        queue_member("Local/admin3@sandbox-agents", NOT_INUSE, paused="1"),
        queue_entry("1795600746.1727", wait=42),
        queue_entry("1795600746.1737", wait=7),
        {"Event": "QueueStatusComplete", "ActionID": "qs-1", "EventList": "Complete", "ListItems": "6"},
    ]  # fmt: skip
    s.reset(answer, now)
    assert s.admins(Q, now) == {
        A1: AdminState.TALKING,
        A2: AdminState.RINGING,  # still reserved by the dialer: a reset does not forget that
        "Local/admin3@sandbox-agents": AdminState.PAUSED,
    }
    assert s.waiting_count(Q) == 2
    assert s.longest_wait(Q, now) == 42.0  # QueueEntry's Wait: they joined before we looked
    assert s.longest_wait(Q, now + timedelta(seconds=3)) == 45.0


def test_a_reset_with_an_empty_answer_forgets_everything() -> None:
    s = QueueState()
    s.feed(member_event("QueueMemberAdded"), T0)
    s.feed(caller_event("QueueCallerJoin", "1795600746.1727"), T0)
    s.reset([], T0)
    assert s.admins(Q, T0) == {} and s.waiting_count(Q) == 0


def test_events_without_a_queue_or_interface_change_nothing() -> None:
    s = QueueState()
    assert not s.feed({"Event": "QueueMemberAdded", "Queue": "reception"}, T0)
    assert not s.feed({"Event": "QueueMemberStatus", "Interface": A1, "Status": "2"}, T0)
    assert not s.feed({"Event": "QueueCallerJoin", "Queue": "reception"}, T0)
    assert not s.feed({"Event": "QueueCallerJoin", "Uniqueid": "1.2"}, T0)
    assert not s.feed({"Event": "Newchannel", "Uniqueid": "1.2"}, T0)
    assert s.members == {} and s.waiting == {}


def test_a_garbage_status_keeps_the_last_known_one() -> None:
    s = QueueState()
    s.feed(status_of(A1, INUSE), T0)
    s.feed({**status_of(A1, INUSE), "Status": "busy!"}, T0)
    assert s.admins(Q, T0) == {A1: AdminState.TALKING}


def test_a_garbage_wait_in_a_queue_entry_does_not_break_the_intake() -> None:
    """Intake.feed hands every AMI event to QueueState inside the protocol's data_received: an exception there
    closes the AMI link (and the same QueueStatus answer after the reconnect closes it again)."""
    s = QueueState()
    for wait in ("99999999999999999999", "-99999999999999999999", "abc", ""):
        s.feed(queue_entry("1795600746.1727", 0) | {"Wait": wait}, T0)
    assert s.waiting_count(Q) == 1


values = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["reception", A1, "1", "2", "6", "-1", "", "nan", "²", "99999999999999999999"]),
)
events = st.dictionaries(
    st.sampled_from(
        ["Event", "Queue", "Interface", "Location", "Uniqueid", "Status", "Paused", "Wait", "Timestamp"]
    ),
    values,
).map(lambda e: {**e, "Event": e.get("Event", "QueueMember")})
names = st.sampled_from(["QueueMemberAdded", "QueueMember", "QueueMemberStatus", "QueueMemberPause",
                         "QueueMemberRemoved", "QueueCallerJoin", "QueueEntry", "QueueCallerLeave",
                         "QueueCallerAbandon"])  # fmt: skip


@given(stream=st.lists(st.tuples(names, events), max_size=30), wrap=st.sampled_from([0.0, 15.0]))
@settings(max_examples=150, deadline=None)
def test_garbage_never_raises_and_the_answers_stay_sane(stream: list[tuple[str, Event]], wrap: float) -> None:
    s = QueueState(wrap_up_seconds=wrap)
    for i, (name, event) in enumerate(stream):
        s.feed({**event, "Event": name}, T0 + timedelta(seconds=i))
    now = T0 + timedelta(seconds=len(stream))
    queues = ("reception", "")
    admins = s.admins(queues, now)
    assert set(s.free(queues, now)) == {i for i, state in admins.items() if state is AdminState.FREE}
    assert s.waiting_count(queues) >= 0
    assert s.longest_wait(queues, now) >= 0.0 or s.waiting_count(queues) > 0


def test_two_asterisks_queues_of_one_name_are_kept_apart_and_reset_one_by_one() -> None:
    """Main's and east's clinics both answer from a «reception» with an administrator on extension A1."""
    s = QueueState()
    east = ("east/reception",)
    s.feed(member_event("QueueMemberAdded"), T0)
    s.feed(member_event("QueueMemberAdded", status=INUSE), T0, "east")
    s.feed(caller_event("QueueCallerJoin", "east/1795600100.7"), T0, "east")  # headed as east's events are
    assert (s.admins(Q, T0), s.admins(east, T0)) == ({A1: AdminState.FREE}, {A1: AdminState.TALKING})
    assert (s.waiting_count(Q), s.waiting_count(east)) == (0, 1)

    # East's link comes back: its QueueStatus answer (ids not headed yet) replaces east's part only.
    s.reset([queue_member(A1, NOT_INUSE), queue_entry("1795600100.9", wait=5)], T0, "east")
    assert (s.admins(Q, T0), s.admins(east, T0)) == ({A1: AdminState.FREE}, {A1: AdminState.FREE})
    assert s.waiting_count(east) == 1
    # Its caller leaves, as east's live event names them: the same caller, found.
    assert s.feed(caller_event("QueueCallerLeave", "east/1795600100.9"), T0, "east")
    assert s.waiting_count(east) == 0
    # Main's link comes back with nobody in its queue: east's administrator stays.
    s.reset([], T0)
    assert (s.admins(Q, T0), s.admins(east, T0)) == ({}, {A1: AdminState.FREE})


def test_what_changes_while_the_queue_status_is_on_its_way_is_not_undone_by_it() -> None:
    """A member is taken out of the queue and a caller leaves while QueueStatus is asked for; Asterisk's answer
    was put together before, and still has both."""
    s = QueueState()
    s.feed(member_event("QueueMemberAdded"), T0)
    s.feed(member_event("QueueMemberAdded", A2), T0)
    s.asking()
    assert s.feed(member_event("QueueMemberRemoved", A2), T0)
    s.feed(caller_event("QueueCallerJoin", "1795600100.4"), T0)
    s.feed(caller_event("QueueCallerLeave", "1795600100.4"), T0 + timedelta(seconds=3))
    s.feed(status_of(A1, INUSE), T0 + timedelta(seconds=4))
    answer = [queue_member(A1, NOT_INUSE), queue_member(A2), queue_entry("1795600100.4", wait=2)]
    s.reset(answer, T0 + timedelta(seconds=5))
    assert s.admins(Q, T0 + timedelta(seconds=5)) == {A1: AdminState.TALKING}
    assert s.waiting_count(Q) == 0
    # Asked for again, and the answer never comes (the link went): what came meanwhile stays applied, once.
    s.asking()
    s.feed(member_event("QueueMemberAdded", A2), T0)
    s.not_asking()
    assert s.meanwhile == {}
    s.reset([queue_member(A1, INUSE), queue_member(A2)], T0)
    assert s.admins(Q, T0) == {A1: AdminState.TALKING, A2: AdminState.FREE}
