"""Outcomes of calls over the PJSIP trunk, from the AMI event sequences the sandbox's carrier really gave.

Captured on Asterisk 22 (the clinic's side of `PJSIP/<number>@trunk`, Originate with a 6 s ring timeout for the
ringing number), trimmed to the headers the tracker reads. Over the trunk every refusal reaches the Originate as
Reason 0: only the Hangup's TechCause (the SIP response) and the early media tell them apart, and the clinic's own
ring timeout ends with a TechCause 480 that must not read as "switched off".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.core.facts import CallEnded, PatientLeg
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult, classify
from dialer.core.tracker import CallTracker, Event

A = "reminders:17:2"
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _ev(event: str, **headers: str) -> Event:
    return {"Event": event, **headers}


def _newchannel() -> Event:
    return _ev("Newchannel", Uniqueid=A, Linkedid=A, Channel="PJSIP/trunk-00000001", ChannelStateDesc="Down")


def _hangup(cause: str, sip: str, state: str = "Down") -> Event:
    return _ev("Hangup", Uniqueid=A, Linkedid=A, Cause=cause, TechCause=sip, ChannelStateDesc=state)


def _dial(status: str) -> Event:
    return _ev("DialState", DestUniqueid=A, DialStatus=status)


def _originate(response: str, reason: str) -> Event:
    return _ev("OriginateResponse", Uniqueid=A, Response=response, Reason=reason)


def _up() -> Event:
    return _ev("Newstate", Uniqueid=A, ChannelStateDesc="Up")


# The order each arrived in.
CAPTURED: dict[str, list[Event]] = {
    "404": [
        _newchannel(),
        _ev("DialBegin", DestUniqueid=A),
        _ev("HangupRequest", Uniqueid=A, Cause="1", TechCause="404"),
        _ev("DialEnd", DestUniqueid=A, DialStatus="NOANSWER"),
        _originate("Failure", "0"),
        _hangup("1", "404"),
    ],
    "486": [
        _newchannel(),
        _ev("DialBegin", DestUniqueid=A),
        _originate("Failure", "0"),
        _ev("HangupRequest", Uniqueid=A, Cause="17", TechCause="486"),
        _ev("DialEnd", DestUniqueid=A, DialStatus="BUSY"),
        _hangup("17", "486"),
    ],
    "503": [
        _newchannel(),
        _ev("DialBegin", DestUniqueid=A),
        _ev("HangupRequest", Uniqueid=A, Cause="34", TechCause="503"),
        _ev("DialEnd", DestUniqueid=A, DialStatus="CONGESTION"),
        _originate("Failure", "0"),
        _hangup("34", "503"),
    ],
    "480 after the announcement": [
        _newchannel(),
        _ev("DialBegin", DestUniqueid=A),
        _dial("PROGRESS"),
        _ev("HangupRequest", Uniqueid=A, Cause="19", TechCause="480"),
        _ev("DialEnd", DestUniqueid=A, DialStatus="NOANSWER"),
        _hangup("19", "480"),
        _originate("Failure", "0"),
    ],
    "ringing given up": [
        _newchannel(),
        _ev("DialBegin", DestUniqueid=A),
        _ev("Newstate", Uniqueid=A, ChannelStateDesc="Ringing"),
        _dial("RINGING"),
        _originate("Failure", "3"),
        _hangup("19", "480", state="Ringing"),
    ],
    "answered": [
        _newchannel(),
        _ev("DialBegin", DestUniqueid=A),
        _ev("Newstate", Uniqueid=A, ChannelStateDesc="Ringing"),
        _dial("RINGING"),
        _up(),
        _ev("DialEnd", DestUniqueid=A, DialStatus="ANSWER"),
        _originate("Success", "4"),
        _hangup("0", "", state="Up"),
    ],
}
EXPECTED = {
    "404": (CallResult.INVALID_NUMBER, 404),
    "486": (CallResult.BUSY, 486),
    "503": (CallResult.CONGESTION, 503),
    "480 after the announcement": (CallResult.UNAVAILABLE, 480),
    "ringing given up": (CallResult.NO_ANSWER, 480),
    "answered": (CallResult.ANSWERED, None),
}


def _ended(events: list[Event]) -> CallEnded:
    tracker = CallTracker(is_attempt_id=lambda uid: AttemptId.try_parse(uid) is not None)
    tracker.expect(A)
    facts = [
        fact for n, event in enumerate(events) for fact in tracker.feed(event, T0 + timedelta(seconds=n))
    ]
    ended = [fact for fact in facts if isinstance(fact, CallEnded)]
    assert len(ended) == 1, facts
    return ended[0]


@pytest.mark.parametrize("name", list(CAPTURED))
def test_each_sip_outcome_is_classified_from_what_the_carrier_sent(name: str) -> None:
    ended = _ended(CAPTURED[name])
    assert (ended.result, ended.sip) == EXPECTED[name]


def test_the_order_of_the_originate_response_and_the_hangup_does_not_matter() -> None:
    for name, events in CAPTURED.items():
        responses = [e for e in events if e["Event"] == "OriginateResponse"]
        others = [e for e in events if e["Event"] != "OriginateResponse"]
        assert _ended(others + responses).result is EXPECTED[name][0], name


def test_an_announcement_then_a_refusal_without_a_sip_code_is_unavailable() -> None:
    # A carrier (or a Local channel) that plays "switched off" as early media and ends with a bare cause.
    events = [_newchannel(), _dial("PROGRESS"), _hangup("18", ""), _originate("Failure", "0")]
    assert _ended(events).result is CallResult.UNAVAILABLE


def test_early_media_before_a_busy_or_a_wrong_number_keeps_the_sip_answer() -> None:
    busy = [_newchannel(), _dial("PROGRESS"), _hangup("17", "486"), _originate("Failure", "0")]
    assert _ended(busy).result is CallResult.BUSY
    wrong = [_newchannel(), _dial("PROGRESS"), _hangup("1", "404"), _originate("Failure", "0")]
    assert _ended(wrong).result is CallResult.INVALID_NUMBER


def test_a_ringback_played_as_early_media_then_our_timeout_is_no_answer() -> None:
    events = [_newchannel(), _dial("PROGRESS"), _originate("Failure", "3"), _hangup("19", "480")]
    assert _ended(events).result is CallResult.NO_ANSWER


@pytest.mark.parametrize(
    ("cause", "result"),
    [
        (17, CallResult.BUSY),
        (1, CallResult.INVALID_NUMBER),
        (3, CallResult.INVALID_NUMBER),
        (28, CallResult.INVALID_NUMBER),
        (20, CallResult.UNAVAILABLE),
        (34, CallResult.CONGESTION),
        (38, CallResult.CONGESTION),
        (41, CallResult.CONGESTION),
        (42, CallResult.CONGESTION),
        (19, CallResult.NO_ANSWER),
    ],
)
def test_q850_causes_alone_still_classify(cause: int, result: CallResult) -> None:
    # A trunk that sends no SIP code (ISDN behind a gateway, a recovered call's AstDB record).
    assert classify(answered=False, reason=0, cause=cause) is result


def test_the_unavailable_label_is_russian() -> None:
    assert CallResult.UNAVAILABLE.label == "абонент недоступен"


# A callback's patient leg: the dialplan's Dial() over the trunk, reported by UserEvent DialerCallback. What Dial
# said of each carrier number (DIALSTATUS, HANGUPCAUSE), as captured: a wrong number reads CHANUNAVAIL, like a
# network failure, until its cause says otherwise.
@pytest.mark.parametrize(
    ("dial_status", "cause", "status"),
    [
        ("CHANUNAVAIL", "1", "UNALLOCATED"),  # 404
        ("BUSY", "17", "BUSY"),  # 486
        ("CONGESTION", "34", "CONGESTION"),  # 503
        ("NOANSWER", "19", "NOANSWER"),  # 480 after the announcement
        ("NOANSWER", "0", "NOANSWER"),  # rang until Dial's timeout
        ("CHANUNAVAIL", "", "CHANUNAVAIL"),  # a dialplan of before, without the cause
    ],
)
def test_a_callbacks_patient_leg_says_when_the_number_does_not_exist(
    dial_status: str, cause: str, status: str
) -> None:
    tracker = CallTracker(is_attempt_id=lambda uid: AttemptId.try_parse(uid) is not None)
    tracker.expect(A)
    tracker.feed(_newchannel(), T0)
    event = _ev("UserEvent", UserEvent="DialerCallback", AttemptId=A, DialStatus=dial_status, Cause=cause)
    (leg,) = tracker.feed(event, T0)
    assert isinstance(leg, PatientLeg) and leg.status == status
