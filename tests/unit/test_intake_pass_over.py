"""The intake passes over the events no tracker reads, and still gives every tracker each event it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.ami.connection import AmiConnection
from dialer.ami.factory import build_several
from dialer.ami.several import ChannelPlaces
from dialer.app.process import ami_pbx
from dialer.core.clock import FakeClock
from dialer.core.queues import NOT_INUSE
from dialer.engine.intake import Intake, installation_intake
from dialer.settings import AmiSettings, InboundSettings, Settings

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


def test_the_ami_link_parses_whole_only_what_the_intake_reads() -> None:
    i = intake()
    link, _ = ami_pbx(Settings(), FakeClock(NOW))(i)
    assert isinstance(link, AmiConnection) and link.reads == i.read
    links, _ = build_several(
        {"main": AmiSettings(host="10.0.0.1"), "east": AmiSettings(host="10.0.0.2")},
        pbx_of=lambda clinic: "main",
        sink=i.sink_of,
        on_pbx_time=i.pbx_time_of,
        clock=FakeClock(NOW),
        reads=i.read,
    )
    for each in links.by_name.values():
        # what the links' own channel places read (where a Redirect goes), besides the intake's
        assert each.reads is not None and each.reads >= i.read | ChannelPlaces.READS
