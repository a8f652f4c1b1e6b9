"""Asterisk's timestamps on the service's time line (core/pbxtime.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.core.inbound import InboundStarted
from dialer.core.pbx_links import MAIN
from dialer.core.pbxtime import PbxTimebase
from dialer.core.queuelog import QueueLogReader
from dialer.engine.intake import installation_intake
from dialer.settings import InboundSettings

# The service's clock is set to a clinic morning; Asterisk's host says the evening before.
SERVICE_NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # 11:00 in Moscow
PBX_NOW = datetime(2026, 12, 2, 19, 30, tzinfo=UTC).timestamp()
SHIFT = SERVICE_NOW.timestamp() - PBX_NOW


def test_a_ping_sets_the_offset_between_the_two_clocks() -> None:
    base = PbxTimebase()
    assert not base.known and base.offset == timedelta(0)
    base.pinged(PBX_NOW, latency=0.002, now=SERVICE_NOW)
    assert abs(base.offset.total_seconds() - (SHIFT - 0.002)) < 1e-6
    stamped = base.event_time(f"{PBX_NOW + 5:.6f}", SERVICE_NOW + timedelta(seconds=5.01))
    assert abs((stamped - (SERVICE_NOW + timedelta(seconds=5))).total_seconds()) < 0.01


def test_without_a_ping_events_bound_the_offset_from_above() -> None:
    base = PbxTimebase()
    # Two events: the second came over a faster path, so it bounds the offset more tightly.
    first = base.event_time(f"{PBX_NOW:.6f}", SERVICE_NOW + timedelta(seconds=0.5))
    assert first == SERVICE_NOW + timedelta(seconds=0.5)
    base.event_time(f"{PBX_NOW + 10:.6f}", SERVICE_NOW + timedelta(seconds=10.01))
    later = base.event_time(f"{PBX_NOW + 20:.6f}", SERVICE_NOW + timedelta(seconds=21))
    assert abs((later - (SERVICE_NOW + timedelta(seconds=20.01))).total_seconds()) < 1e-3


def test_a_stamp_far_from_the_estimate_is_not_believed() -> None:
    base = PbxTimebase()
    base.pinged(PBX_NOW, latency=0.0, now=SERVICE_NOW)
    arrival = SERVICE_NOW + timedelta(seconds=3)
    assert base.event_time(f"{PBX_NOW + 86_400:.6f}", arrival) == arrival  # a replayed or garbage frame
    assert base.event_time("not a number", arrival) == arrival
    assert base.event_time(None, arrival) == arrival
    assert abs(base.offset.total_seconds() - SHIFT) < 1e-6  # and it did not move the estimate


def test_queue_log_lines_are_read_on_the_service_clock() -> None:
    base = PbxTimebase()
    base.pinged(PBX_NOW, latency=0.0, now=SERVICE_NOW)
    entered = int(PBX_NOW) - 60
    lines = [
        f"{entered}|{entered}.1|reception|NONE|ENTERQUEUE||79161110002|1",
        f"{entered + 6}|{entered}.1|reception|NONE|ABANDON|1|1|6",
    ]
    since = SERVICE_NOW - timedelta(minutes=5)  # a service-clock instant
    reader = QueueLogReader(since, to_service=base.to_service)
    reader.feed(lines)
    (call,) = reader.calls()
    assert abs((call.started_at - (SERVICE_NOW - timedelta(seconds=60))).total_seconds()) < 1
    # Read on Asterisk's own clock, the same line is hours before `since` and is lost.
    plain = QueueLogReader(since)
    plain.feed(lines)
    assert plain.calls() == []


def test_each_asterisk_has_its_own_clock_and_its_events_are_timed_by_it() -> None:
    """Main's host runs on the service's clock; east's is two hours and a half behind. Each one's pings and
    events move only its own offset, and a call on east starts on the service's time line."""
    intake = installation_intake(InboundSettings(), "inst0001", lambda: SERVICE_NOW)
    intake.pbx_time_of(MAIN)(SERVICE_NOW.timestamp(), 0.0)
    east_now = SERVICE_NOW.timestamp() - 9000
    intake.pbx_time_of("east")(east_now, 0.0)
    assert intake.timebase is intake.timebase_of(MAIN)
    assert intake.timebase.offset == timedelta(0)
    assert intake.timebase_of("east").offset == timedelta(seconds=9000)
    intake.sink_of("east")(
        {"Event": "Newchannel", "Channel": "Local/100@clinic-inbound-00000001;2", "Context": "clinic-inbound",
         "Exten": "100", "ChannelState": "4", "Uniqueid": "east/1.2", "Linkedid": "east/1.2",
         "Timestamp": f"{east_now - 3:.6f}"}
    )  # fmt: skip
    started = intake.inbound_facts.get_nowait()
    assert isinstance(started, InboundStarted)
    assert started.at == SERVICE_NOW - timedelta(seconds=3)
    assert intake.timebase.offset == timedelta(0)  # main's clock untouched by east's event
