"""The file that keeps the calls the database refused: every field comes back as it was, and an empty hold
leaves no file (no callers' numbers lying about once the database took them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from dialer.core.inbound import InboundEnded, MissReason
from dialer.storage.held_calls import HeldCallsFile

START = datetime(2026, 12, 2, 9, 30, 5, 123456, tzinfo=timezone(timedelta(hours=6)))


def test_held_calls_come_back_field_for_field_and_an_empty_hold_leaves_no_file(tmp_path: Path) -> None:
    missed = InboundEnded(
        "1795600800.12", "clinic-inbound", "100", "reception", "+79161234599", START,
        START + timedelta(seconds=40), None, "", 38.5, MissReason.ENDED_UNSEEN, "1795600800.13",
        unseen=True, channels=("PJSIP/carrier-0001", "Local/100@clinic-inbound-0001;1"),
    )  # fmt: skip
    answered = InboundEnded(
        "1795600900.1", "clinic-inbound", "100", "reception", "", START.astimezone(UTC),
        START + timedelta(minutes=3), START + timedelta(seconds=9), "PJSIP/101", 9.0, None,
    )  # fmt: skip
    spool = HeldCallsFile(tmp_path / "var" / "held-calls.json")
    assert spool.load() == []
    spool.save([missed, answered])
    assert spool.path.stat().st_mode & 0o777 == 0o600
    assert HeldCallsFile(spool.path).load() == [missed, answered]
    spool.save([answered])
    assert spool.load() == [answered]
    spool.save([])
    assert not spool.path.exists() and spool.load() == []
