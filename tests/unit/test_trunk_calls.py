"""Calls on the trunk that the service did not place, and FreePBX-style call flows, fed to the trackers as the
real Asterisk 22 sent them (tests/unit/trunk_capture.py): a leg dialled out over the trunk is created in the
trunk's inbound context, and must not become a missed call; a queue member's or ring group's phone dialled
from a Local/ channel's own context must still pop up, and the misses there are told apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialer.core.inbound import (
    InboundAnswered,
    InboundEnded,
    InboundFact,
    InboundStarted,
    MissReason,
    StaffCallAnswered,
)
from dialer.core.inbound_tracker import InboundTracker, arrives
from dialer.core.ringing import CallGone, PhoneAnswered, PhoneRinging, PhoneStopped, RingFact, RingTracker
from dialer.core.tracker import Event
from tests.unit import trunk_capture as cap

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
# The contexts an installation lists: the trunk's (the shipped clinic-inbound) and its own extensions'.
INBOUND = ("clinic-inbound",)
STAFF = ("from-internal",)
ADMIN7, ADMIN8 = "Local/admin7@sandbox-agents", "Local/admin8@sandbox-agents"


def inbound(events: list[Event], contexts: tuple[str, ...] = INBOUND) -> list[InboundFact]:
    tracker = InboundTracker(contexts, STAFF)
    facts = [fact for event in events for fact in tracker.feed(dict(event), NOW)]
    assert tracker.live_calls == 0 and not tracker.channels()  # nothing left behind once the calls ended
    return facts


def rings(events: list[Event]) -> list[RingFact]:
    tracker = RingTracker(INBOUND)
    return [fact for event in events for fact in tracker.feed(dict(event), NOW)]


def newchannels(events: list[Event]) -> list[Event]:
    return [e for e in events if e["Event"] == "Newchannel"]


# The rule, on the Newchannels as they came ---------------------------------------------------------------


def test_a_call_from_the_carrier_arrives_ringing_with_its_did_and_its_own_linkedid() -> None:
    first = newchannels(cap.CARRIER_CALLER_HUNG_UP_IN_IVR)[0]
    assert (first["ChannelState"], first["Exten"], first["Context"]) == ("4", "4950000000", "clinic-inbound")
    assert first["Uniqueid"] == first["Linkedid"]
    assert arrives(first)


@pytest.mark.parametrize("events", [cap.STAFF_ANSWERED, cap.STAFF_RANG_OUT], ids=["answered", "rang-out"])
def test_a_leg_dialled_out_over_the_trunk_is_created_down_in_the_inbound_context_and_does_not_arrive(
    events: list[Event],
) -> None:
    (leg,) = [e for e in newchannels(events) if e["Channel"].startswith("PJSIP/trunk-")]
    assert (leg["Context"], leg["Exten"], leg["ChannelState"]) == ("clinic-inbound", "s", "0")
    dial = next(e for e in events if e["Event"] == "DialBegin" and e.get("DestUniqueid") == leg["Uniqueid"])
    assert leg["Linkedid"] == dial["Linkedid"] != leg["Uniqueid"]
    assert not arrives(leg)


def test_an_originate_onto_the_trunk_starts_its_own_group_but_is_created_down() -> None:
    (leg,) = newchannels(cap.ORIGINATE_ONTO_TRUNK)
    assert leg["Uniqueid"] == leg["Linkedid"] and (leg["Exten"], leg["ChannelState"]) == ("s", "0")
    assert not arrives(leg)
    assert inbound(cap.ORIGINATE_ONTO_TRUNK) == []


def test_a_local_channel_put_into_an_inbound_context_by_hand_still_arrives() -> None:
    """How the sandbox's simulated callers (and a PBX's own bridging) place a call into the inbound context."""
    first_half = {
        "Event": "Newchannel",
        "Channel": "Local/100@clinic-inbound-00000001;1",
        "ChannelState": "0",
        "Uniqueid": "1796301385.40",
        "Linkedid": "1796301385.40",
        "Context": "clinic-inbound",
        "Exten": "100",
    }
    second_half = {
        **first_half,
        "Channel": "Local/100@clinic-inbound-00000001;2",
        "Uniqueid": "1796301385.41",
    }
    assert arrives(first_half) and not arrives(second_half)


# Phantom missed calls ------------------------------------------------------------------------------------


def test_an_administrators_answered_call_out_over_the_trunk_is_a_staff_call_not_a_missed_call() -> None:
    (fact,) = inbound(cap.STAFF_ANSWERED)
    assert isinstance(fact, StaffCallAnswered) and fact.number == "79990000011"


@pytest.mark.parametrize("dialling_context", ["macro-dialout-trunk", "sub-dialout-trunk"])
def test_a_call_out_over_the_trunk_is_a_staff_call_whichever_context_dials_it(dialling_context: str) -> None:
    """FreePBX dials its trunks from its dial-out subroutine: the leg is still created in the trunk's context."""
    moved = [
        {**e, "Context": dialling_context} if e.get("Context") == "from-internal" else e
        for e in cap.STAFF_ANSWERED
    ]
    tracker = InboundTracker(INBOUND, staff_contexts=())
    facts = [fact for event in moved for fact in tracker.feed(dict(event), NOW)]
    assert [(type(f), getattr(f, "number", "")) for f in facts] == [(StaffCallAnswered, "79990000011")]


def test_an_administrators_call_out_that_rang_out_leaves_nothing() -> None:
    assert inbound(cap.STAFF_RANG_OUT) == []


def test_whatever_context_the_trunk_has_the_leg_dialled_out_is_not_inbound() -> None:
    """FreePBX's trunks deliver to from-pstn or from-trunk: the leg dialled out is created there instead."""
    for trunk_context in ("clinic-inbound", "from-pstn", "from-trunk"):
        for events in (cap.STAFF_ANSWERED, cap.STAFF_RANG_OUT, cap.ORIGINATE_ONTO_TRUNK):
            moved = [
                {**e, "Context": trunk_context} if e.get("Context") == "clinic-inbound" else e for e in events
            ]
            facts = inbound(moved, (trunk_context,))
            assert not [f for f in facts if isinstance(f, InboundStarted | InboundEnded)], trunk_context


def test_a_carrier_caller_who_hangs_up_in_the_greeting_is_still_a_missed_call() -> None:
    facts = inbound(cap.CARRIER_CALLER_HUNG_UP_IN_IVR)
    started, ended = facts
    assert isinstance(started, InboundStarted) and started.did == "4950000000"
    assert isinstance(ended, InboundEnded)
    assert (ended.caller, ended.miss, ended.did) == ("79161230003", MissReason.IVR_HANGUP, "4950000000")


# FreePBX-style flows: how the misses are told apart ------------------------------------------------------


def ended(events: list[Event]) -> InboundEnded:
    (end,) = [f for f in inbound(events) if isinstance(f, InboundEnded)]
    return end


def test_a_queue_call_answered_by_a_local_member_is_answered_by_that_member() -> None:
    end = ended(cap.QUEUE_ANSWERED)
    assert end.miss is None and end.answered_by == "Local/admin7@from-queue/n"
    assert (end.queue, end.did, end.caller) == ("freepbx-7001", "4957300001", "79161230004")
    answered = [f for f in inbound(cap.QUEUE_ANSWERED) if isinstance(f, InboundAnswered)]
    assert len(answered) == 1


@pytest.mark.parametrize(
    ("events", "miss", "queue"),
    [
        (cap.QUEUE_ABANDONED, MissReason.ABANDONED, "freepbx-7001"),
        (cap.QUEUE_TIMED_OUT, MissReason.QUEUE_TIMEOUT, "freepbx-7001"),
        (cap.RING_GROUP_NO_ANSWER, MissReason.NOT_ANSWERED, ""),
    ],
    ids=["abandoned-in-queue", "queue-gave-up", "ring-group-rang-out"],
)
def test_freepbx_style_misses_are_told_apart(events: list[Event], miss: MissReason, queue: str) -> None:
    end = ended(events)
    assert (end.miss, end.queue) == (miss, queue)


def test_a_ring_group_answered_by_a_member_is_no_miss() -> None:
    end = ended(cap.RING_GROUP_ANSWERED)
    assert end.miss is None and end.answered_by.startswith("Local/admin7@from-internal-")


# FreePBX-style flows: whose phone rings ------------------------------------------------------------------


def ringing(facts: list[RingFact]) -> dict[str, PhoneRinging]:
    return {f.interface: f for f in facts if isinstance(f, PhoneRinging)}


def test_a_queue_with_local_members_rings_the_members_phones_as_the_queues_call() -> None:
    facts = rings(cap.QUEUE_ANSWERED)
    rung = ringing(facts)
    assert {ADMIN7, ADMIN8} <= set(rung)
    for phone in (ADMIN7, ADMIN8):
        fact = rung[phone]
        assert (fact.kind, fact.queue, fact.did, fact.caller) == (
            "inbound",
            "freepbx-7001",
            "4957300001",
            "79161230004",
        )
    answered = [(f.interface, f.call_key) for f in facts if isinstance(f, PhoneAnswered)]
    assert (ADMIN7, rung[ADMIN7].call_key) in answered and ADMIN8 not in dict(answered)
    stopped = [f.interface for f in facts if isinstance(f, PhoneStopped)]
    assert ADMIN8 in stopped and ADMIN7 not in stopped


def test_a_ring_group_rings_each_members_phone_and_the_one_who_answers_keeps_it() -> None:
    facts = rings(cap.RING_GROUP_ANSWERED)
    rung = ringing(facts)
    assert rung[ADMIN7].did == rung[ADMIN8].did == "4957300002"
    assert rung[ADMIN7].kind == "direct" and rung[ADMIN7].caller == "79161230005"
    assert [f.interface for f in facts if isinstance(f, PhoneAnswered)] == [ADMIN7]
    assert ADMIN8 in [f.interface for f in facts if isinstance(f, PhoneStopped)]


def test_a_ring_group_that_rings_out_stops_each_phone() -> None:
    facts = rings(cap.RING_GROUP_NO_ANSWER)
    assert {ADMIN7, ADMIN8} <= set(ringing(facts))
    assert {ADMIN7, ADMIN8} <= {f.interface for f in facts if isinstance(f, PhoneStopped)}
    assert not [f for f in facts if isinstance(f, PhoneAnswered)]


def test_an_abandoned_queue_call_closes_every_card() -> None:
    facts = rings(cap.QUEUE_ABANDONED)
    assert {ADMIN7, ADMIN8} <= set(ringing(facts))
    assert isinstance(facts[-1], CallGone) and facts[-1].call_key == rings_key(facts)


def rings_key(facts: list[RingFact]) -> str:
    (key,) = {f.call_key for f in facts if isinstance(f, PhoneRinging)}
    return key


@pytest.mark.parametrize(
    "events",
    [cap.STAFF_ANSWERED, cap.STAFF_RANG_OUT, cap.ORIGINATE_ONTO_TRUNK],
    ids=["staff", "rang", "orig"],
)
def test_a_call_out_over_the_trunk_pops_nothing_up(events: list[Event]) -> None:
    assert rings(events) == []


def test_a_caller_already_in_a_freepbx_queue_is_followed_when_ext_queues_is_listed() -> None:
    """The service started while the caller waited: it never saw the call come in, only the queue's events."""
    joined_at = next(n for n, e in enumerate(cap.QUEUE_ABANDONED) if e["Event"] == "QueueCallerJoin")
    later = cap.QUEUE_ABANDONED[joined_at + 1 :]
    assert not inbound(later)  # the trunk's context alone: nothing to go by
    end = ended_in(later, ("clinic-inbound", "ext-queues"))
    assert (end.miss, end.queue, end.caller) == (MissReason.ABANDONED, "freepbx-7001", "79161230006")


def ended_in(events: list[Event], contexts: tuple[str, ...]) -> InboundEnded:
    (end,) = [f for f in inbound(events, contexts) if isinstance(f, InboundEnded)]
    return end
