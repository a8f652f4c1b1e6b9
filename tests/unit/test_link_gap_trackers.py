"""Calls that end while the AMI link is down: their Hangup never arrives. After the link is back, what the
trackers hold is compared with the channels Asterisk still has; the calls that are gone end (inbound calls
counted once, missed ones called back) and their pop-ups close. Pure parts here; the service on a FakeClock
in test_link_gap_service.py, the real Asterisk in tests/integration/test_link_gap.py."""

from __future__ import annotations

from datetime import timedelta

from dialer.core.inbound import InboundEnded, MissReason
from dialer.core.queuelog import QueueLogReader, settle_unseen
from dialer.core.ringing import CallGone, PhoneAnswered, PhoneRinging, PhoneStopped, RingTracker
from tests.unit.test_inbound import EPOCH, NOW, Call, at, ends, feed, tracker

LOST = at(5)  # the link was lost 5 s into the call


def rings() -> RingTracker:
    return RingTracker(("clinic-inbound",))


def test_a_queued_call_that_ended_in_the_gap_ends_unseen_and_counts_as_missed() -> None:
    c = Call()
    t = tracker()
    feed(t, [*c.arrive(), *c.join(4), *c.ring_agent(4)])
    followed = t.channels()
    assert {c.linkedid, c.uid2} <= followed
    (end,) = t.gone(followed, LOST)  # Asterisk has none of them any more
    assert (end.call_id, end.miss, end.unseen, end.ended_at) == (
        c.linkedid,
        MissReason.ENDED_UNSEEN,
        True,
        LOST,
    )
    assert (end.caller, end.did, end.queue, end.queue_channel, end.waited) == (
        "79161110001",
        "100",
        "reception",
        c.uid2,
        5.0,
    )
    assert set(end.channels) >= {c.linkedid, c.uid2}
    assert t.live_calls == 0 and not t.channels()


def test_what_was_seen_before_the_gap_still_classifies_the_call() -> None:
    answered, abandoned, gave_up = Call(seq=10), Call(seq=20), Call(seq=30)
    t = tracker()
    feed(t, answered.answered_in_queue()[:-4])  # answered; the hang-ups are lost
    callers = {abandoned.linkedid, abandoned.uid2}
    # QueueCallerAbandon seen, the caller's Hangups lost
    feed(t, [e for e in abandoned.abandoned() if not (e["Event"] == "Hangup" and e["Uniqueid"] in callers)])
    feed(t, [*gave_up.queue_timeout("TIMEOUT")[:-2]])  # the queue gave up, the caller's Hangup lost
    found = {e.call_id: e for e in t.gone(t.channels(), at(20))}
    assert found[answered.linkedid].miss is None and found[answered.linkedid].answered_at == at(5)
    assert found[abandoned.linkedid].miss is MissReason.ABANDONED
    assert found[gave_up.linkedid].miss is MissReason.QUEUE_TIMEOUT
    assert all(e.unseen for e in found.values()) and t.live_calls == 0


def test_a_call_that_lost_one_channel_in_the_gap_ends_when_its_last_one_hangs_up() -> None:
    """The bug: a channel whose Hangup was lost kept its call open for ever."""
    c = Call()
    t = tracker()
    feed(t, [*c.arrive(), *c.join(4)])
    assert t.gone({c.linkedid}, LOST) == ()  # ;1 went during the gap; ;2 is still in the queue
    assert t.live_calls == 1
    (end,) = ends(feed(t, [c.leg(2, 30, "Hangup", Cause="16")]))
    assert not end.unseen and end.miss is MissReason.ABANDONED and t.live_calls == 0


def test_a_channel_asterisk_still_has_or_never_followed_changes_nothing() -> None:
    c = Call()
    t = tracker()
    feed(t, [*c.arrive(), *c.join(4)])
    assert t.gone({"1795600000.1"}, LOST) == ()
    assert t.live_calls == 1 and {c.linkedid, c.uid2} <= t.channels()


def test_the_pop_up_of_a_call_that_is_gone_closes_and_a_phone_that_stopped_ringing_stops() -> None:
    gone, waiting = Call(seq=10), Call(seq=40, agent="admin2")
    r = rings()
    for event in [*gone.ring_agent(4), *waiting.ring_agent(4)]:
        r.feed(event, NOW)
    followed = r.channels()
    assert {gone.linkedid, gone.agent_uid(1), waiting.linkedid, waiting.agent_uid(1)} <= followed
    # The first caller hung up in the gap; the second still waits, but admin2's phone no longer rings.
    facts = r.gone({gone.linkedid, gone.agent_uid(1), waiting.agent_uid(1)}, LOST)
    assert CallGone(gone.linkedid, LOST) in facts
    assert PhoneStopped(waiting.interface, waiting.linkedid, LOST) in facts
    assert len(facts) == 2 and not r.channels() - {waiting.linkedid}


def test_an_answered_phone_whose_leg_is_gone_keeps_its_card_until_the_call_is_over() -> None:
    c = Call()
    r = rings()
    facts = [
        f for e in [*c.ring_agent(4), c.with_agent(5, "DialEnd", DialStatus="ANSWER")] for f in r.feed(e, NOW)
    ]
    assert [type(f) for f in facts] == [PhoneRinging, PhoneAnswered]
    assert r.gone({c.agent_uid(1)}, LOST) == ()
    assert r.gone({c.linkedid}, LOST) == (CallGone(c.linkedid, LOST),)


# queue_log tells how the unseen ones ended --------------------------------------------------------------


def queue_log(*lines: str) -> list[InboundEnded]:
    reader = QueueLogReader(at(-60))
    reader.feed(lines)
    return reader.calls()


def line(offset: float, callid: str, event: str, *data: str) -> str:
    return "|".join([str(int(EPOCH + offset)), callid, "reception", "NONE", event, *data])


def test_an_unseen_call_takes_its_ending_from_queue_log_and_is_counted_once() -> None:
    c, other = Call(), Call(seq=50, caller="79161110050")
    t = tracker()
    feed(t, [*c.arrive(), *c.join(4)])
    (unseen,) = t.gone(t.channels(), LOST)
    logged = queue_log(
        line(4, c.uid2, "ENTERQUEUE", "", "79161110001", "1"),
        line(12, c.uid2, "ABANDON", "1", "1", "8"),
        line(13, other.uid2, "ENTERQUEUE", "", "79161110050", "1"),
        line(20, other.uid2, "EXITWITHTIMEOUT", "1", "1", "7"),
    )
    gap = settle_unseen([unseen], logged)
    (told,) = gap.from_log
    assert (told.call_id, told.did, told.started_at) == (c.linkedid, "100", at(0))  # the live call's own
    assert (told.miss, told.ended_at, told.waited, told.unseen) == (MissReason.ABANDONED, at(12), 12.0, False)
    assert gap.unseen == []
    assert [e.call_id for e in gap.log_only] == [other.uid2]  # only queue_log knew that one


def test_a_caller_who_reached_the_queue_during_the_gap_is_found_by_any_of_its_channels() -> None:
    c = Call()
    t = tracker()
    feed(t, c.arrive())  # in the greeting when the link was lost
    (unseen,) = t.gone(t.channels(), LOST)
    assert unseen.queue_channel == "" and unseen.miss is MissReason.ENDED_UNSEEN
    logged = queue_log(
        line(6, c.uid2, "ENTERQUEUE", "", "79161110001", "1"), line(9, c.uid2, "CONNECT", "3", "x", "1")
    )
    gap = settle_unseen([unseen], logged)
    (told,) = gap.from_log
    assert told.miss is None and told.answered_at == at(9) and told.queue_channel == c.uid2
    assert told.ended_at >= told.answered_at and gap.log_only == []


def test_without_queue_log_an_unseen_call_stays_unseen() -> None:
    c = Call()
    t = tracker()
    feed(t, [*c.arrive(), *c.join(4)])
    unseen = t.gone(t.channels(), LOST)
    gap = settle_unseen(unseen, [])
    assert gap.from_log == [] and gap.unseen == list(unseen) and gap.log_only == []
    assert unseen[0].ended_at - unseen[0].started_at == timedelta(seconds=5)
