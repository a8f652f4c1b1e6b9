"""The shipped dialplan states the version its content makes, and any change to a line outside the version
context changes that version."""

from __future__ import annotations

from pathlib import Path

from dialer.core.dialplan_version import VERSION_CONTEXT, dialplan_version, stated_version

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "asterisk" / "extensions_dialer.conf"


def test_the_shipped_dialplan_states_the_version_its_content_makes() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    made = dialplan_version(text)
    assert stated_version(text) == made, (
        f"extensions_dialer.conf changed: its [{VERSION_CONTEXT}] context must say NoOp({made})"
    )


def test_a_changed_line_changes_the_version_and_the_stated_one_does_not() -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    changed = text.replace("DialStatus: ANSWER", "DialStatus: ANSWERED", 1)
    assert changed != text
    assert dialplan_version(changed) != dialplan_version(text)
    assert stated_version(changed) == stated_version(text)  # stale now: what check-config finds on the PBX


def test_a_file_without_the_context_states_none() -> None:
    assert stated_version("[dialer-reminder]\nexten => s,1,NoOp(abc)\n") is None
    assert stated_version(f"[{VERSION_CONTEXT}]\nexten => s,1,NoOp(0123456789ab)\n") == "0123456789ab"
