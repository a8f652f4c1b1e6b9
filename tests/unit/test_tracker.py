"""The call tracker fed the AMI event sequences Asterisk 22 really sends for our Local-channel Originates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
)
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult
from dialer.core.tracker import (
    ORIGINATE_RESPONSE_ELSEWHERE,
    ORIGINATE_RESPONSE_GRACE,
    CallTracker,
    Event,
)

A = "reminders:17:2"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
FOREIGN = "1732512345.17"


def is_ours(uniqueid: str) -> bool:
    parsed = AttemptId.try_parse(uniqueid)
    return parsed is not None and parsed.campaign == "reminders"


def tracker(*expected: str) -> CallTracker:
    t = CallTracker(is_attempt_id=is_ours)
    for attempt_id in expected:
        t.expect(attempt_id)
    return t


# Event builders: the headers Asterisk 22 sends that the tracker may read ---------------------------------


def _channel(uid: str, leg: int) -> str:
    return f"Local/79161234567@patients-{abs(hash(uid)) % 10**8:08x};{leg}"


def newchannel(uid: str, leg: int = 1) -> Event:
    return {
        "Event": "Newchannel",
        "Channel": _channel(uid, leg),
        "ChannelState": "0",
        "ChannelStateDesc": "Down",
        "CallerIDName": "Смирнова Анна",
        "Uniqueid": uid if leg == 1 else f"{uid};2",
        "Linkedid": uid,
    }


def newstate_up(uid: str, leg: int = 1) -> Event:
    return {
        "Event": "Newstate",
        "Channel": _channel(uid, leg),
        "ChannelState": "6",
        "ChannelStateDesc": "Up",
        "Uniqueid": uid if leg == 1 else f"{uid};2",
        "Linkedid": uid,
    }


def originate_response(uid: str, response: str, reason: int | str, *, elsewhere: bool = False) -> Event:
    """`elsewhere`: as the link passes on the answer to an Originate another process sent (one that died)."""
    return {
        "Event": ORIGINATE_RESPONSE_ELSEWHERE if elsewhere else "OriginateResponse",
        "ActionID": f"originate-{uid}",
        "Response": response,
        "Channel": _channel(uid, 1),
        "Context": "dialer-reminder",
        "Exten": "s",
        "Reason": str(reason),
        "Uniqueid": uid,
    }


def digit(uid: str, value: str) -> Event:
    return {
        "Event": "UserEvent",
        "Channel": _channel(uid, 2),
        "Uniqueid": f"{uid};2",
        "UserEvent": "DialerDigit",
        "AttemptId": uid,
        "Digit": value,
    }


def hangup(uid: str, cause: int | str, leg: int = 1) -> Event:
    return {
        "Event": "Hangup",
        "Channel": _channel(uid, leg),
        "Uniqueid": uid if leg == 1 else f"{uid};2",
        "Linkedid": uid,
        "Cause": str(cause),
        "Cause-txt": "whatever",
    }


def placed(attempt_id: str) -> CallTracker:
    """A tracker whose Originate for `attempt_id` has made its channel."""
    t = tracker(attempt_id)
    t.feed(newchannel(attempt_id), T0)
    return t


def run(t: CallTracker, events: list[Event], start: datetime = T0) -> list[Fact]:
    facts: list[Fact] = []
    for i, event in enumerate(events):
        facts.extend(t.feed(event, start + timedelta(seconds=i)))
    return facts


def ended(facts: list[Fact]) -> list[CallEnded]:
    return [f for f in facts if isinstance(f, CallEnded)]


# Real sequences ----------------------------------------------------------------------------------------


def answered_with_digit(uid: str) -> list[Event]:
    return [
        newchannel(uid, 1),
        newchannel(uid, 2),
        newstate_up(uid, 1),
        originate_response(uid, "Success", 4),
        digit(uid, "1"),
        hangup(uid, 16, 1),
        hangup(uid, 16, 2),
    ]


def test_answered_call_with_a_digit() -> None:
    t = tracker(A)
    facts = run(t, answered_with_digit(A))
    assert [type(f) for f in facts] == [CallStarted, CallAnswered, DigitPressed, CallEnded]
    started, answered, pressed, end = facts
    assert isinstance(started, CallStarted) and started.attempt_id == A
    assert started.channel.endswith(";1")
    assert answered.at == T0 + timedelta(seconds=2)
    assert isinstance(pressed, DigitPressed) and pressed.digit == "1" and pressed.attempt_id == A
    assert isinstance(end, CallEnded)
    assert end.attempt_id == A
    assert end.result is CallResult.ANSWERED
    assert end.answered
    assert end.cause == 16
    assert end.reason == 4
    assert end.linkedid == A
    assert end.at == T0 + timedelta(seconds=5)
    assert t.open_attempts() == []
    assert t.stats.malformed == 0


def test_answered_is_reported_once_even_when_only_the_originate_response_says_so() -> None:
    t = tracker(A)
    facts = run(t, [newchannel(A), originate_response(A, "Success", 4), newstate_up(A), hangup(A, 16)])
    assert sum(isinstance(f, CallAnswered) for f in facts) == 1
    assert ended(facts)[0].result is CallResult.ANSWERED


def test_busy_on_a_local_channel_second_leg_hangs_up_after() -> None:
    t = tracker(A)
    facts = run(
        t,
        [
            newchannel(A, 1),
            newchannel(A, 2),
            originate_response(A, "Failure", 5),
            hangup(A, 0, 1),
            hangup(A, 17, 2),
        ],
    )
    (end,) = ended(facts)
    assert end.result is CallResult.BUSY
    assert not end.answered
    assert end.reason == 5
    assert not any(isinstance(f, CallAnswered) for f in facts)


def test_busy_on_a_local_channel_second_leg_hangs_up_first() -> None:
    t = tracker(A)
    facts = run(
        t,
        [
            newchannel(A, 1),
            newchannel(A, 2),
            hangup(A, 17, 2),
            originate_response(A, "Failure", 5),
            hangup(A, 0, 1),
        ],
    )
    (end,) = ended(facts)
    assert end.result is CallResult.BUSY
    assert end.cause == 17  # the ;2 leg knew the real cause, the ;1 leg said 0


def test_no_answer() -> None:
    facts = run(tracker(A), [newchannel(A), originate_response(A, "Failure", 3), hangup(A, 19)])
    (end,) = ended(facts)
    assert end.result is CallResult.NO_ANSWER
    assert end.cause == 19


def test_unallocated_number() -> None:
    facts = run(tracker(A), [newchannel(A), originate_response(A, "Failure", 0), hangup(A, 1)])
    (end,) = ended(facts)
    assert end.result is CallResult.INVALID_NUMBER
    assert end.cause == 1


def test_congestion() -> None:
    facts = run(tracker(A), [newchannel(A), originate_response(A, "Failure", 8), hangup(A, 34)])
    (end,) = ended(facts)
    assert end.result is CallResult.CONGESTION


def test_originate_failure_with_no_channel_ends_at_once() -> None:
    t = tracker(A)
    facts = t.feed(originate_response(A, "Failure", 5), T0)
    (end,) = ended(list(facts))
    assert end.result is CallResult.BUSY
    assert end.at == T0
    assert t.open_attempts() == []


def test_originate_success_alone_does_not_end_the_call() -> None:
    t = tracker(A)
    facts = run(t, [newchannel(A), originate_response(A, "Success", 4)])
    assert ended(facts) == []
    assert t.open_attempts() == [A]


# Reordering and lost frames ------------------------------------------------------------------------------


def test_hangup_before_the_originate_response_ends_when_the_response_arrives() -> None:
    t = tracker(A)
    facts = run(t, [newchannel(A), newstate_up(A), hangup(A, 16)])
    assert ended(facts) == []
    late = t.feed(originate_response(A, "Success", 4), T0 + timedelta(seconds=10))
    (end,) = ended(list(late))
    assert end.result is CallResult.ANSWERED
    assert end.at == T0 + timedelta(seconds=2)  # the hangup's time, not the response's


def test_a_lost_originate_response_is_closed_by_expire_after_the_grace() -> None:
    t = tracker(A)
    facts = run(t, [newchannel(A), hangup(A, 19)])
    hung_up = T0 + timedelta(seconds=1)
    assert ended(facts) == []
    assert t.expire(hung_up + ORIGINATE_RESPONSE_GRACE - timedelta(milliseconds=1)) == ()
    (end,) = ended(list(t.expire(hung_up + ORIGINATE_RESPONSE_GRACE)))
    assert end.result is CallResult.NO_ANSWER
    assert end.at == hung_up
    assert t.open_attempts() == []
    assert t.expire(hung_up + timedelta(hours=1)) == ()


def test_expire_leaves_calls_that_have_not_hung_up() -> None:
    t = tracker(A, "reminders:18:1")
    run(t, [newchannel(A), newstate_up(A)])
    assert t.expire(T0 + timedelta(hours=2)) == ()
    assert sorted(t.open_attempts()) == [A, "reminders:18:1"]


def test_a_late_originate_response_after_expire_makes_no_second_end() -> None:
    # Hangup, then the grace passes and expire() closes the attempt; then the lost response turns up.
    t = tracker(A)
    run(t, [newchannel(A), hangup(A, 17)])
    closed = t.expire(T0 + timedelta(seconds=30))
    assert len(ended(list(closed))) == 1
    late = t.feed(originate_response(A, "Failure", 5), T0 + timedelta(seconds=31))
    assert late == ()
    assert t.open_attempts() == []


def test_a_late_hangup_after_an_immediate_originate_failure_makes_no_second_end() -> None:
    # The response can overtake the channel's events (or the Newchannel is lost): the attempt ends at the
    # Failure, and the Hangup that follows must not bring it back to life and end it again.
    t = tracker(A)
    first = t.feed(originate_response(A, "Failure", 3), T0)
    assert len(ended(list(first))) == 1
    again = t.feed(hangup(A, 19), T0 + timedelta(seconds=1))
    assert ended(list(again)) == []
    assert t.open_attempts() == []


# Other people's channels, garbage --------------------------------------------------------------------------


def test_channels_that_are_not_ours_produce_no_facts() -> None:
    t = tracker(A)
    events = [
        newchannel(FOREIGN),
        newstate_up(FOREIGN),
        originate_response(FOREIGN, "Success", 4),
        {"Event": "QueueCallerJoin", "Uniqueid": FOREIGN, "Queue": "reception"},
        hangup(FOREIGN, 16),
        hangup(FOREIGN, 16, leg=2),
        hangup("recalls:3:1", 16),  # a well-formed id of a campaign this tracker does not follow
    ]
    assert run(t, events) == []
    assert t.open_attempts() == [A]


GARBAGE: list[Event] = [
    {},
    {"Event": ""},
    {"Event": "Hangup"},
    {"Event": "Hangup", "Uniqueid": ""},
    {"Event": "OriginateResponse"},
    {"Event": "OriginateResponse", "Uniqueid": "", "Response": "Failure"},
    {"Event": "Newstate", "ChannelStateDesc": "Up"},
    {"Event": "Newchannel"},
    {"Event": "UserEvent"},
    {"Event": "QueueCallerJoin"},
    {"Event": "Hangup", "Uniqueid": ";2", "Cause": "16"},
    {"Event": "Newexten", "Uniqueid": A, "Application": "Read"},
    {"Uniqueid": A, "Cause": "16"},
]


def test_garbage_never_raises_and_never_creates_facts() -> None:
    t = tracker(A)
    assert run(t, GARBAGE) == []
    assert t.open_attempts() == [A]
    assert t.stats.events == len(GARBAGE)


def test_a_non_numeric_cause_is_taken_as_unknown() -> None:
    t = tracker(A)
    facts = run(t, [newchannel(A), originate_response(A, "Failure", 5), hangup(A, "abc")])
    (end,) = ended(facts)
    assert end.cause is None
    assert end.result is CallResult.BUSY


def test_a_non_numeric_reason_is_taken_as_unknown() -> None:
    facts = run(tracker(A), [newchannel(A), originate_response(A, "Failure", "x4"), hangup(A, 19)])
    (end,) = ended(facts)
    assert end.reason is None
    assert end.result is CallResult.NO_ANSWER


def test_a_unicode_digit_that_int_refuses_does_not_crash_the_tracker() -> None:
    # "²".isdigit() is True but int("²") raises: outcomes.to_int lets that ValueError escape.
    t = tracker(A)
    events = [newchannel(A), originate_response(A, "Failure", "²"), hangup(A, "²", leg=2), hangup(A, "²")]
    facts = run(t, events)
    (end,) = ended(facts)
    assert end.cause is None and end.reason is None


def test_a_bad_timestamp_falls_back_to_the_arrival_time() -> None:
    for stamp in ("not-a-number", "", "nan", "inf", "-inf", "1e400", "-1e300", "1e20"):
        t = tracker(A)
        event = originate_response(A, "Failure", 5) | {"Timestamp": stamp}
        (end,) = ended(list(t.feed(event, T0)))
        assert end.at == T0, stamp


def test_the_event_timestamp_is_the_fact_time() -> None:
    t = tracker(A)
    stamp = T0 - timedelta(seconds=2, microseconds=250000)

    def at(seconds: int) -> dict[str, str]:
        return {"Timestamp": f"{(stamp + timedelta(seconds=seconds)).timestamp():.6f}"}

    events = [
        newchannel(A) | at(0),
        newstate_up(A) | at(1),
        digit(A, "2") | at(5),
        hangup(A, 16) | at(9),
        originate_response(A, "Success", 4) | at(9),
    ]
    facts = run(t, events, start=T0 + timedelta(hours=1))
    assert [f.at for f in facts] == [
        stamp,
        stamp + timedelta(seconds=1),
        stamp + timedelta(seconds=5),
        stamp + timedelta(seconds=9),
    ]
    assert all(f.at.tzinfo is not None for f in facts)


# The DialerDigit user event --------------------------------------------------------------------------------


def test_a_digit_for_an_unknown_attempt_or_with_two_characters_is_dropped_and_counted() -> None:
    t = tracker(A)
    bad = [
        digit(FOREIGN, "1"),
        digit("", "1"),
        digit("bogus", "1"),
        digit(A, "12"),
        digit(A, ""),
        {"Event": "UserEvent", "UserEvent": "DialerDigit"},
    ]
    assert run(t, bad) == []
    assert t.stats.malformed == len(bad)


def test_a_second_key_pressed_in_one_go_is_a_fact_of_its_own_not_a_digit() -> None:
    t = placed(A)
    ignored = {**digit(A, "2"), "UserEvent": "DialerDigitIgnored", "Taken": "1"}
    facts = run(t, [digit(A, "1"), ignored])
    assert [type(f) for f in facts] == [DigitPressed, DigitIgnored]
    (fact,) = [f for f in facts if isinstance(f, DigitIgnored)]
    assert (fact.attempt_id, fact.digit, fact.taken) == (A, "2", "1")
    assert run(t, [{**ignored, "AttemptId": FOREIGN}, {**ignored, "Digit": "23"}]) == []
    assert t.stats.malformed == 2


def test_other_user_events_are_not_malformed() -> None:
    t = tracker(A)
    assert t.feed({"Event": "UserEvent", "UserEvent": "SomethingElse", "AttemptId": A}, T0) == ()
    assert t.stats.malformed == 0


def test_digits_star_and_hash_pass_as_pressed() -> None:
    t = placed(A)
    facts = run(t, [digit(A, "#"), digit(A, "*"), digit(A, "3")])
    assert [f.digit for f in facts if isinstance(f, DigitPressed)] == ["#", "*", "3"]


def test_joining_a_queue_is_reported() -> None:
    t = placed(A)
    facts = t.feed({"Event": "QueueCallerJoin", "Uniqueid": A, "Queue": "reception", "Position": "1"}, T0)
    assert facts == (JoinedQueue(A, "reception", T0),)


# A restart: calls of ours this process did not start ----------------------------------------------------


def test_after_a_restart_a_hangup_of_ours_still_ends_with_a_fact() -> None:
    t = tracker()  # nothing expected: the process restarted mid-call
    assert not ended(run(t, [hangup(A, 16, 2), hangup(A, 16)]))  # its OriginateResponse may still come
    (end,) = ended(list(t.expire(T0 + timedelta(seconds=1) + ORIGINATE_RESPONSE_GRACE)))
    assert end.attempt_id == A
    assert end.cause == 16
    assert t.open_attempts() == []


def test_after_a_restart_a_call_that_rang_out_is_no_answer_not_switched_off() -> None:
    # Still ringing when the process came back: the clinic's ring timeout ends it. Asterisk puts a 480 of its
    # own on the Hangup and only then sends the OriginateResponse whose Reason 3 says what happened.
    # The dead process sent the Originate, so the link passes its answer on as sent elsewhere.
    t = tracker()
    timed_out = {**hangup(A, 19), "TechCause": "480"}
    facts = run(t, [timed_out, originate_response(A, "Failure", 3, elsewhere=True)])
    (end,) = ended(facts)
    assert end.result is CallResult.NO_ANSWER
    assert t.open_attempts() == []


def test_a_call_adopted_ringing_at_reconcile_that_rings_out_is_no_answer() -> None:
    t = tracker()
    t.adopt(A, answered=False, originate_done=False)
    timed_out = {**hangup(A, 19), "TechCause": "480"}
    assert not ended(run(t, [timed_out]))  # its Reason is still to come
    (end,) = ended(run(t, [originate_response(A, "Failure", 3, elsewhere=True)]))
    assert end.result is CallResult.NO_ANSWER


def test_a_switched_off_phone_adopted_at_reconcile_stays_unavailable() -> None:
    t = tracker()
    t.adopt(A, answered=False, originate_done=False)
    refused = {**hangup(A, 19), "TechCause": "480"}
    (end,) = ended(run(t, [refused, originate_response(A, "Failure", 0, elsewhere=True)]))
    assert end.result is CallResult.UNAVAILABLE


def test_an_answer_sent_elsewhere_never_ends_a_call_this_process_placed() -> None:
    # A second installation with a copy of this database dials the same id: Asterisk refuses one of the two,
    # and that refusal, told to every session, is not the end of the call this process placed and follows.
    t = placed(A)
    assert run(t, [originate_response(A, "Failure", 0, elsewhere=True)]) == []
    assert t.open_attempts() == [A]
    (end,) = ended(run(t, [newstate_up(A), hangup(A, 16), originate_response(A, "Success", 4)]))
    assert end.result is CallResult.ANSWERED


def test_after_a_restart_an_originate_failure_of_ours_ends_with_a_fact() -> None:
    t = tracker()
    (end,) = ended(list(t.feed(originate_response("reminders:5:1", "Failure", 5, elsewhere=True), T0)))
    assert end.attempt_id == "reminders:5:1"
    assert end.result is CallResult.BUSY


def test_after_a_restart_a_busy_call_ends_once() -> None:
    # The Newchannel went by before the restart. Asterisk's own busy order then follows: the Failure ends
    # the attempt at once (no channel seen), and the ;1 Hangup must not start and end it a second time.
    t = tracker()
    facts = run(t, [originate_response(A, "Failure", 5, elsewhere=True), hangup(A, 0), hangup(A, 17, 2)])
    assert [(e.attempt_id, e.result) for e in ended(facts)] == [(A, CallResult.BUSY)]
    assert t.open_attempts() == []


def test_after_a_restart_the_patients_digit_is_still_followed() -> None:
    # Between reconnecting and reconcile() adopting the live call, the patient presses 1. The tracker
    # follows Hangup/OriginateResponse of unexpected ids of ours, but drops their DialerDigit as malformed.
    t = tracker()
    facts = run(t, [digit(A, "1"), hangup(A, 16)])
    assert [f.digit for f in facts if isinstance(f, DigitPressed)] == ["1"]
    assert t.stats.malformed == 0


def test_after_a_restart_an_answered_call_ends_as_answered() -> None:
    # The channel goes Up and then hangs up with cause 16 before reconcile() runs. Newstate is not
    # followed for unexpected ids, so the call is classified FAILED and a patient who answered is
    # dialled again.
    t = tracker()
    facts = run(t, [newstate_up(A), hangup(A, 16)])
    facts += t.expire(T0 + timedelta(seconds=1) + ORIGINATE_RESPONSE_GRACE)
    (end,) = ended(facts)
    assert end.answered
    assert end.result is CallResult.ANSWERED


def test_adopt_after_reconnect_keeps_the_answer() -> None:
    t = tracker()
    t.adopt(A, answered=True, originate_done=True)
    (end,) = ended(run(t, [hangup(A, 16)]))
    assert end.result is CallResult.ANSWERED


def test_forget_drops_an_attempt() -> None:
    other = "recalls:3:1"  # expected by hand; the predicate does not cover it
    t = tracker(other)
    assert ended(run(t, [newchannel(other), hangup(other, 19), originate_response(other, "Failure", 3)]))
    t.expect(other)
    t.forget(other)
    t.forget(other)
    assert t.open_attempts() == []
    assert run(t, [newchannel(other), newstate_up(other), hangup(other, 16)]) == []


# Property: permutations, subsets and junk ------------------------------------------------------------

Scenario = Callable[[str], list[Event]]
SCENARIOS: list[Scenario] = [
    answered_with_digit,
    lambda u: [
        newchannel(u),
        newchannel(u, 2),
        originate_response(u, "Failure", 5),
        hangup(u, 0),
        hangup(u, 17, 2),
    ],
    lambda u: [newchannel(u), newchannel(u, 2), originate_response(u, "Failure", 3), hangup(u, 19)],
    lambda u: [newchannel(u), originate_response(u, "Failure", 0), hangup(u, 1)],
    lambda u: [newchannel(u), originate_response(u, "Failure", 8), hangup(u, 34)],
    lambda u: [originate_response(u, "Failure", 0)],
    lambda u: [newchannel(u), newstate_up(u), hangup(u, 16), originate_response(u, "Success", 4)],
    lambda u: [
        newchannel(u),
        newstate_up(u),
        originate_response(u, "Success", 4),
        {"Event": "QueueCallerJoin", "Uniqueid": u, "Queue": "reception"},
        hangup(u, 16),
    ],
]

FOREIGN_IDS = st.sampled_from(
    [FOREIGN, f"{FOREIGN};2", "", ";2", "recalls:1:1", "reminders:17", "reminders:x:1", "1732512345.18;1"]
)
JUNK_TEXT = st.one_of(
    st.text(max_size=8), st.sampled_from(["16", "abc", "", "-1", " 4 ", "nan", "1e999", "²"])
)
JUNK_EVENTS = st.sampled_from(
    ["Hangup", "OriginateResponse", "Newchannel", "Newstate", "UserEvent", "QueueCallerJoin", "VarSet", ""]
)
JUNK = st.one_of(
    st.fixed_dictionaries(
        {"Event": JUNK_EVENTS, "Uniqueid": FOREIGN_IDS},
        optional={
            "Cause": JUNK_TEXT,
            "Reason": JUNK_TEXT,
            "Response": st.sampled_from(["Success", "Failure", ""]),
            "Timestamp": JUNK_TEXT,
            "ChannelStateDesc": st.sampled_from(["Up", "Ring", ""]),
            "UserEvent": st.sampled_from(["DialerDigit", "Other"]),
            "AttemptId": FOREIGN_IDS,
            "Digit": JUNK_TEXT,
        },
    ),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=4),
)


@st.composite
def event_streams(draw: st.DrawFn) -> tuple[list[str], list[Event]]:
    count = draw(st.integers(min_value=1, max_value=3))
    expected: list[str] = []
    events: list[Event] = []
    for i in range(count):
        uid = f"reminders:{17 + i}:{draw(st.integers(min_value=1, max_value=3))}"
        if draw(st.booleans()):
            expected.append(uid)
        scenario = draw(st.sampled_from(SCENARIOS))(uid)
        keep = draw(st.lists(st.booleans(), min_size=len(scenario), max_size=len(scenario)))
        for event, kept in zip(scenario, keep, strict=True):
            if not kept:
                continue
            if draw(st.integers(min_value=0, max_value=4)) == 0:
                events.append(event | {"Timestamp": draw(JUNK_TEXT)})
            else:
                events.append(event)
    events = draw(st.permutations(events))
    for junk in draw(st.lists(JUNK, max_size=10)):
        events.insert(draw(st.integers(min_value=0, max_value=len(events))), junk)
    return expected, events


@given(stream=event_streams(), expire_after=st.one_of(st.none(), st.integers(min_value=0, max_value=600)))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_reordering_subset_and_junk_never_raises_nor_doubles_an_end(
    stream: tuple[list[str], list[Event]], expire_after: int | None
) -> None:
    expected, events = stream
    t = tracker(*expected)
    facts: list[Fact] = []
    now = T0
    for event in events:
        now += timedelta(milliseconds=100)
        facts.extend(t.feed(event, now))
    if expire_after is not None:
        facts.extend(t.expire(now + timedelta(seconds=expire_after)))

    assert t.stats.events == len(events)
    ends = Counter(f.attempt_id for f in facts if isinstance(f, CallEnded))
    assert all(n == 1 for n in ends.values()), ends
    for fact in facts:
        assert fact.attempt_id in expected or is_ours(fact.attempt_id), fact
        assert not fact.attempt_id.endswith(";2")


# Machines: TALK_DETECT on our channel and the dialplan's machine branch -----------------------------------


def test_talk_on_our_channel_becomes_facts_with_the_stretch_length_and_others_are_ignored() -> None:
    t = placed(A)
    start = {"Event": "ChannelTalkingStart", "Uniqueid": A, "Timestamp": str(T0.timestamp() + 0.6)}
    stop = {
        "Event": "ChannelTalkingStop",
        "Uniqueid": A,
        "Duration": "870",
        "Timestamp": str(T0.timestamp() + 1.7),
    }
    foreign = {"Event": "ChannelTalkingStart", "Uniqueid": FOREIGN}
    (started,) = t.feed(start, T0)
    (stopped,) = t.feed(stop, T0)
    assert isinstance(started, FarEndTalk) and started.talking and started.attempt_id == A
    assert started.at == T0 + timedelta(seconds=0.6)
    assert isinstance(stopped, FarEndTalk) and not stopped.talking and stopped.duration_ms == 870
    assert t.feed(foreign, T0) == ()


def test_the_machine_branch_reports_a_machine_for_our_attempt_only() -> None:
    t = placed(A)
    (fact,) = t.feed({"Event": "UserEvent", "UserEvent": "DialerMachine", "AttemptId": A}, T0)
    assert fact == MachineAnswered(A, T0)
    assert t.feed({"Event": "UserEvent", "UserEvent": "DialerMachine", "AttemptId": FOREIGN}, T0) == ()
