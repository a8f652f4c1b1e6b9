"""The intake passes over the events no tracker reads, and still gives every tracker each event it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.core.queues import NOT_INUSE
from dialer.engine.intake import Intake, installation_intake
from dialer.settings import InboundSettings

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
STAMP = str((NOW - timedelta(seconds=2)).timestamp())
ADMIN = "Local/admin1@sandbox-agents"


def intake() -> Intake:
    inbound = InboundSettings(contexts=("from-trunk",), staff_contexts=("from-internal",))
    return installation_intake(inbound, "3f9a0c1d", lambda: NOW)


@pytest.mark.parametrize(
    "name", ["NewCallerid", "NewConnectedLine", "SoftHangupRequest", "HangupRequest", "LocalBridge", "VarSet"]
)
def test_an_event_no_tracker_reads_is_counted_as_ignored_and_not_timed(name: str) -> None:
    i = intake()
    i.feed({"Event": name, "Channel": "PJSIP/trunk-00000001", "Uniqueid": "1764748800.1", "Timestamp": STAMP})
    assert i.tracker.stats.events == 1
    assert i.tracker.stats.ignored == 1
    assert i.facts.empty()
    assert not i.timebase.known  # its stamp did not bound Asterisk's clock


def test_every_name_a_tracker_reads_is_timed() -> None:
    i = intake()
    assert {
        "Newchannel",
        "Hangup",
        "UserEvent",
        "DialBegin",
        "DialEnd",
        "AgentCalled",
        "OriginateResponse",
    } <= i.read
    i.feed(
        {
            "Event": "Newstate",
            "Channel": "PJSIP/trunk-00000001",
            "Uniqueid": "1764748800.1",
            "Timestamp": STAMP,
        }
    )
    assert i.tracker.stats.ignored == 0
    assert i.timebase.known


def test_a_queue_event_no_tracker_names_still_reaches_the_queue_state() -> None:
    """The queue state reads any event with a Queue header (QueueMemberStatus, QueueMemberPause ...)."""
    i = intake()
    assert "QueueMemberStatus" not in i.read
    i.feed(
        {
            "Event": "QueueMemberStatus",
            "Queue": "reception",
            "Interface": ADMIN,
            "Status": str(NOT_INUSE),
            "Paused": "0",
            "Timestamp": STAMP,
        }
    )
    assert i.queues_changed.is_set()
    assert ("reception", ADMIN) in i.queues.members
