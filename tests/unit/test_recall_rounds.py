"""КОС: which rounds of calls join the day's plan, and what a recall's status change sets."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from dialer.core.recalls import RecallChange, RecallStatus, rounds_for_today, status_change


def test_new_rounds_fill_the_day_oldest_first_up_to_the_limit() -> None:
    assert rounds_for_today(["a", "b", "c"], today=[], earlier_active={}, limit=2) == ["a", "b"]


def test_rounds_opened_earlier_today_count_and_are_not_taken_again() -> None:
    assert rounds_for_today(["a", "b", "c"], today=["a"], earlier_active={"a": True}, limit=2) == ["b"]
    assert rounds_for_today(["a", "b"], today=["x", "y"], earlier_active={}, limit=2) == []


def test_a_round_left_active_on_an_earlier_day_goes_on_and_a_finished_one_adds_nothing() -> None:
    earlier = {"old-active": True, "old-done": False}
    assert rounds_for_today(["old-done", "old-active", "new"], [], earlier, limit=5) == ["old-active", "new"]
    assert rounds_for_today(["old-done", "old-active", "new"], [], earlier, limit=1) == ["old-active"]


@given(
    due=st.lists(st.integers(0, 30), unique=True),
    today=st.sets(st.integers(0, 30)),
    earlier=st.dictionaries(st.integers(0, 30), st.booleans()),
    limit=st.integers(0, 10),
)
def test_the_plan_never_passes_the_limit_and_keeps_the_due_order(
    due: list[int], today: set[int], earlier: dict[int, bool], limit: int
) -> None:
    joining = rounds_for_today(due, today, earlier, limit)
    assert len(today) + len(joining) <= max(limit, len(today))
    assert joining == [key for key in due if key in joining]
    assert not set(joining) & today
    assert all(earlier.get(key, True) for key in joining)


def test_a_status_change_sets_what_it_brings_and_leaves_the_rest() -> None:
    assert status_change(RecallChange(RecallStatus.REFUSED, reason="не дозвонились")) == {
        "status": RecallStatus.REFUSED,
        "reason": "не дозвонились",
        "status_comment": "",
    }
    moved = status_change(
        RecallChange(RecallStatus.CALL, comment="в отпуске", target_day=date(2026, 12, 7), moves=2)
    )
    assert moved == {
        "status": RecallStatus.CALL,
        "reason": "",
        "status_comment": "в отпуске",
        "target_day": date(2026, 12, 7),
        "moves": 2,
    }
    booked = status_change(RecallChange(RecallStatus.BOOKED, booked_day=date(2026, 12, 10), moves=0))
    assert booked["booked_day"] == date(2026, 12, 10) and booked["moves"] == 0  # a zero is still brought
