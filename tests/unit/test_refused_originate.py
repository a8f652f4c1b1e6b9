"""An Originate Asterisk refuses because its id is already a live channel's (another installation with a copy of
this database): the attempt ends failed, and nothing of the live channel becomes ours. The OriginateResponses
that answer other manager sessions' Originates never reach the tracker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.ami.connection import AmiConnection, AmiProtocol
from dialer.ami.parser import Frame
from dialer.ami.telephony import originate_fields
from dialer.core.facts import CallEnded, Fact
from dialer.core.ids import AttemptId
from dialer.core.ownership import OurAttempts
from dialer.core.ports import OriginateRequest
from dialer.core.tracker import ORIGINATE_RESPONSE_ELSEWHERE, CallTracker, Event
from dialer.engine.calls import refused

OURS = "3f9a0c1d"
LIVE = f"{OURS}:reminders:1:1"  # the id our Originate asks for, already a live channel of the copy's
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def tracker() -> CallTracker:
    return CallTracker(is_attempt_id=OurAttempts(OURS, ["reminders"]).is_ours)


def feed(t: CallTracker, events: list[Event]) -> list[Fact]:
    facts: list[Fact] = []
    for i, event in enumerate(events):
        facts.extend(t.feed(event, T0 + timedelta(seconds=i)))
    return facts


def the_live_calls_events() -> list[Event]:
    """What the other installation's call, already up, sends while our Originate is on its way."""
    return [
        {"Event": "Newstate", "Uniqueid": LIVE, "ChannelStateDesc": "Up"},
        {"Event": "UserEvent", "UserEvent": "DialerDigit", "AttemptId": LIVE, "Digit": "1"},
        {"Event": "Hangup", "Uniqueid": f"{LIVE};2", "Cause": "16"},
        {"Event": "Hangup", "Uniqueid": LIVE, "Cause": "16", "Linkedid": LIVE},
    ]


REFUSAL: Event = {"Event": "OriginateResponse", "Response": "Failure", "Reason": "0", "Uniqueid": LIVE}


def test_a_refused_originate_ends_failed_with_nothing_of_the_live_channel() -> None:
    t = tracker()
    t.expect(LIVE)
    facts = feed(t, [*the_live_calls_events(), REFUSAL])
    (end,) = facts
    assert isinstance(end, CallEnded)
    assert (end.attempt_id, end.answered, end.reason, end.cause, end.result.value) == (
        LIVE,
        False,
        0,
        None,
        "failed",
    )
    assert end.at == T0 + timedelta(seconds=4)  # when the refusal came, not when the other's call hung up
    assert refused(end)


def test_the_live_channels_events_before_our_originate_are_not_taken_for_ours() -> None:
    # The copy's call answered after our link came up and before our Originate went out: the tracker followed
    # it as a call of ours from before a restart; our Originate's attempt starts afresh all the same.
    t = tracker()
    feed(t, the_live_calls_events()[:1])
    t.expect(LIVE)
    (end,) = feed(t, [*the_live_calls_events()[1:], REFUSAL])
    assert isinstance(end, CallEnded)
    assert (end.answered, end.result.value) == (False, "failed")
    assert refused(end)


def test_our_own_channel_is_followed_from_its_newchannel_on() -> None:
    t = tracker()
    t.expect(LIVE)
    newchannel: Event = {
        "Event": "Newchannel",
        "Uniqueid": LIVE,
        "Linkedid": LIVE,
        "Channel": "PJSIP/trunk-1",
    }
    success: Event = {"Event": "OriginateResponse", "Response": "Success", "Reason": "4", "Uniqueid": LIVE}
    facts = feed(t, [newchannel, *the_live_calls_events()[:2], success, the_live_calls_events()[3]])
    (end,) = [f for f in facts if isinstance(f, CallEnded)]
    assert (end.answered, end.result.value, end.cause) == (True, "answered", 16)
    assert not refused(end)


def test_an_unplaced_or_ordinary_failure_is_not_a_refusal() -> None:
    t = tracker()
    t.expect(LIVE)
    # A Local channel into a missing extension: a channel was made, and hung up with cause 0.
    events: list[Event] = [
        {"Event": "Newchannel", "Uniqueid": LIVE, "Linkedid": LIVE, "Channel": "Local/x@nowhere-1;1"},
        {"Event": "Hangup", "Uniqueid": LIVE, "Cause": "0"},
        REFUSAL,
    ]
    (end,) = [f for f in feed(t, events) if isinstance(f, CallEnded)]
    assert end.cause == 0 and not refused(end)


class _Link(AmiConnection):
    def __init__(self) -> None:
        self.seen: list[Frame] = []
        super().__init__(host="127.0.0.1", port=1, username="u", secret="s", sink=self.seen.append)


def test_the_answers_to_other_processes_originates_reach_the_intake_marked_as_sent_elsewhere() -> None:
    link = _Link()
    protocol = AmiProtocol(link)
    request = OriginateRequest(
        attempt_id=LIVE,
        channel="PJSIP/79161234567@trunk",
        context="dialer-reminder",
        exten="s",
        timeout_ms=30000,
        caller_id="",
        variables={},
    )
    ours = originate_fields(request, "a1b2c3d4")["ActionID"]
    theirs = originate_fields(request, "e5f6a7b8")["ActionID"]
    assert ours != theirs and LIVE in ours  # the same attempt id, two processes: two ActionIDs
    link.originates_sent.add(ours)
    answer = {"Event": "OriginateResponse", "Response": "Failure", "Reason": "0", "Uniqueid": LIVE}
    protocol.route({**answer, "ActionID": theirs})
    protocol.route({"Event": "Hangup", "Uniqueid": LIVE, "Cause": "16"})
    protocol.route({**answer, "ActionID": ours})
    protocol.route({**answer, "ActionID": ours})  # answered once only: a repeat is another's
    assert [(f["Event"], f["ActionID"] == ours) for f in link.seen if f["Event"] != "Hangup"] == [
        (ORIGINATE_RESPONSE_ELSEWHERE, False),
        ("OriginateResponse", True),
        (ORIGINATE_RESPONSE_ELSEWHERE, True),
    ]
    assert link.foreign_originates == 2 and not link.originates_sent


def test_attempt_ids_of_two_installations_never_collide_or_prefix_each_other() -> None:
    # Asterisk also refuses a ChannelId that is a prefix of a live Uniqueid: fixed-width installation ids
    # followed by a separator keep one installation's ids from ever being a prefix of another's.
    mine = str(AttemptId("reminders", 1, 1, OURS))
    theirs = str(AttemptId("reminders", 1, 1, "3f9a0c1e"))
    assert mine != theirs and not theirs.startswith(mine) and not mine.startswith(theirs)
    assert OurAttempts(OURS, ["reminders"]).is_ours(mine)
    assert not OurAttempts(OURS, ["reminders"]).is_ours(theirs)
