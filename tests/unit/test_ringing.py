"""The ring facts carry the number the patient dialled: it is how a pop-up knows which clinic a call is for
when one Asterisk answers several clinics' numbers through one queue."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.core.ringing import MAX_DIDS, CallerWaiting, CallGone, PhoneRinging, RingTracker
from dialer.core.tracker import Event

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PHONE = "PJSIP/101"


def newchannel(uniqueid: str, linkedid: str, context: str, exten: str) -> Event:
    return {
        "Event": "Newchannel",
        "Channel": f"Local/{exten}@{context}-00000001;1",
        "Uniqueid": uniqueid,
        "Linkedid": linkedid,
        "Context": context,
        "Exten": exten,
        "CallerIDNum": "79161234567",
    }


def agent_called(linkedid: str, queue: str = "reception", interface: str = PHONE) -> Event:
    return {
        "Event": "AgentCalled",
        "Queue": queue,
        "Interface": interface,
        "Linkedid": linkedid,
        "DestUniqueid": f"{linkedid}-agent",
        "CallerIDNum": "79161234567",
    }


def test_a_queue_call_rings_with_the_number_the_patient_dialled() -> None:
    rings = RingTracker(("clinic-inbound",))
    rings.feed(newchannel("1.1", "1.1", "clinic-inbound", "200"), T0)
    rings.feed(newchannel("1.2", "1.1", "clinic-inbound", "s"), T0)  # a later leg of the same call
    (fact,) = rings.feed(agent_called("1.1"), T0)
    assert isinstance(fact, PhoneRinging)
    assert (fact.did, fact.queue, fact.kind) == ("200", "reception", "inbound")


def test_a_call_not_from_an_inbound_context_has_no_number_and_the_call_end_forgets_it() -> None:
    rings = RingTracker(("clinic-inbound",))
    rings.feed(newchannel("2.1", "2.1", "from-internal", "101"), T0)
    (fact,) = rings.feed(agent_called("2.1"), T0)
    assert isinstance(fact, PhoneRinging) and fact.did == ""
    rings.feed(newchannel("3.1", "3.1", "clinic-inbound", "300"), T0)
    rings.feed(agent_called("3.1"), T0)
    (gone,) = rings.feed({"Event": "Hangup", "Uniqueid": "3.1", "Linkedid": "3.1"}, T0)
    assert isinstance(gone, CallGone)
    (again,) = rings.feed(agent_called("3.1", interface="PJSIP/102"), T0)
    assert isinstance(again, PhoneRinging) and again.did == ""


def test_numbers_of_calls_whose_end_was_never_seen_do_not_pile_up() -> None:
    rings = RingTracker(("clinic-inbound",))
    for n in range(MAX_DIDS + 5):
        rings.feed(newchannel(f"{n}.1", f"{n}.1", "clinic-inbound", "200"), T0)
    (latest,) = rings.feed(agent_called(f"{MAX_DIDS + 4}.1"), T0)
    (oldest,) = rings.feed(agent_called("0.1"), T0)
    assert isinstance(latest, PhoneRinging) and latest.did == "200"
    assert isinstance(oldest, PhoneRinging) and oldest.did == ""


def test_a_members_phone_dialled_before_the_queues_agent_called_still_rings_as_the_queues_call() -> None:
    """Asterisk may publish the member Local/ channel's DialBegin to the phone before the queue's AgentCalled."""
    rings = RingTracker(("clinic-inbound",))
    rings.feed(newchannel("4.1", "4.1", "clinic-inbound", "200"), T0)
    rings.feed({"Event": "QueueCallerJoin", "Queue": "reception", "Linkedid": "4.1", "Uniqueid": "4.1"}, T0)
    dial: Event = {
        "Event": "DialBegin",
        "Linkedid": "4.1",
        "Context": "from-queue",
        "DestChannel": "PJSIP/101-0000002a",
        "DestUniqueid": "4.9",
        "CallerIDNum": "79161234567",
    }
    (fact,) = rings.feed(dial, T0)
    assert isinstance(fact, PhoneRinging)
    assert (fact.interface, fact.kind, fact.queue, fact.did) == (PHONE, "inbound", "reception", "200")


def joins(linkedid: str, uniqueid: str) -> Event:
    return {
        "Event": "QueueCallerJoin",
        "Queue": "reception",
        "Linkedid": linkedid,
        "Uniqueid": uniqueid,
        "CallerIDNum": "79161234567",
    }


def test_a_caller_joining_a_queue_is_waiting_once_and_gone_when_they_hang_up_before_any_ring() -> None:
    rings = RingTracker(("clinic-inbound",))
    rings.feed(newchannel("5.1", "5.1", "clinic-inbound", "200"), T0)
    (waiting,) = rings.feed(joins("5.1", "5.2"), T0)
    assert waiting == CallerWaiting("5.1", "79161234567", "inbound", "reception", "", T0, "200")
    assert rings.feed(joins("5.1", "5.2"), T0) == ()  # joining again (another queue's turn) is no news
    assert "5.1" in rings.channels()
    assert rings.feed({"Event": "Hangup", "Uniqueid": "5.2", "Linkedid": "5.1"}, T0) == ()
    (gone,) = rings.feed({"Event": "Hangup", "Uniqueid": "5.1", "Linkedid": "5.1"}, T0)
    assert gone == CallGone("5.1", T0)
    assert rings.channels() == frozenset()


def test_a_waiting_caller_whose_channel_ended_while_the_link_was_down_is_gone() -> None:
    rings = RingTracker(("clinic-inbound",))
    rings.feed(joins("6.1", "6.2"), T0)
    rings.feed(joins("7.1", "7.2"), T0)
    assert rings.gone({"6.1"}, T0) == (CallGone("6.1", T0),)
    assert rings.channels() == frozenset({"7.1"})


def test_a_caller_arriving_from_outside_is_waiting_and_gone_at_their_hangup_even_if_nothing_rang() -> None:
    rings = RingTracker(("clinic-inbound",))
    (waiting,) = rings.feed(newchannel("8.1", "8.1", "clinic-inbound", "200"), T0)
    assert waiting == CallerWaiting("8.1", "79161234567", "inbound", "", "", T0, "200")
    assert rings.feed(newchannel("8.2", "8.1", "clinic-inbound", "s"), T0) == ()  # a later leg
    assert rings.feed(newchannel("9.1", "9.1", "from-internal", "101"), T0) == ()  # staff's own call
    (gone,) = rings.feed({"Event": "Hangup", "Uniqueid": "8.1", "Linkedid": "8.1"}, T0)
    assert gone == CallGone("8.1", T0)
