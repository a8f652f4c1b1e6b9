"""Who may hear a recording, and which file a recording row may name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialer.core.quality_ports import Recording
from dialer.core.staff import Role, UserRow
from dialer.web.recordings import file_of, may_hear


def user(user_id: int, role: Role, clinics: frozenset[str] = frozenset({"c1"})) -> UserRow:
    return UserRow(user_id, f"u{user_id}", "Сотрудник", role, "", (), clinics, False)


def recording(file_name: str = "c1/L-1.ogg", user_id: int | None = 7, clinic: str = "c1") -> Recording:
    return Recording(
        1, clinic, "L-1", "inbound", user_id, file_name, 4.0, 100, True, datetime(2026, 12, 3, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("who", "hear_own", "allowed"),
    [
        (user(1, Role.SUPERVISOR), False, True),
        (user(2, Role.ADMIN, frozenset({"*"})), False, True),
        (user(3, Role.SUPERVISOR, frozenset({"c2"})), False, False),  # another clinic's
        (user(7, Role.OPERATOR), False, False),  # their own, but the clinic does not allow it
        (user(7, Role.OPERATOR), True, True),
        (user(8, Role.OPERATOR), True, False),  # another administrator's call
        (user(7, Role.OPERATOR, frozenset({"c2"})), True, False),
    ],
)
def test_who_may_hear_a_recording(who: UserRow, hear_own: bool, allowed: bool) -> None:
    assert may_hear(who, recording(), hear_own) is allowed


def test_an_operator_never_hears_a_recording_of_nobodys_call() -> None:
    assert not may_hear(user(7, Role.OPERATOR), recording(user_id=None), True)


def test_a_recording_names_only_a_file_inside_the_recordings_folder(tmp_path: Path) -> None:
    folder, outside = tmp_path / "recordings", tmp_path / "dialer.db"
    (folder / "c1").mkdir(parents=True)
    (folder / "c1" / "L-1.ogg").write_bytes(b"OggS")
    outside.write_bytes(b"SQLite format 3")
    (folder / "c1" / "link.ogg").symlink_to(outside)
    assert file_of(folder, recording()) == (folder / "c1" / "L-1.ogg").resolve()
    for name in ("../dialer.db", str(outside), "c1/link.ogg", "c1", "", "c1/missing.ogg"):
        assert file_of(folder, recording(name)) is None, name
