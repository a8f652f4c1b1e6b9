"""Scoring a call by the clinic's scorecard, and each administrator's weekly score and trend."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from dialer.core.errors import FieldError
from dialer.core.quality import CRITERIA, scorecard
from dialer.core.scoring import (
    ScoredCall,
    Trend,
    below_goal,
    read_sheet,
    recent_weeks,
    trend,
    week_bounds,
    week_of,
    weekly_scores,
)

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")  # UTC+10: Monday starts on Sunday 14:00 UTC


def full_marks() -> dict[str, str]:
    return {f"points_{c.key}": str(c.points) for c in CRITERIA}


def test_a_sheet_with_every_criterion_adds_up_to_its_points() -> None:
    form = full_marks() | {"points_slots": "5", "comment_slots": " один слот ", "comment": "в целом хорошо"}
    sheet = read_sheet(CRITERIA, form)
    assert sheet.total == 90
    assert sheet.items["slots"].points == 5 and sheet.items["slots"].comment == "один слот"
    assert sheet.comment == "в целом хорошо"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("points_need", ""),  # missing
        ("points_need", "16"),  # over the criterion's 15
        ("points_need", "-1"),
        ("points_need", "7.5"),
        ("points_need", "١٠"),  # Arabic-Indic digits: int() would take them
        ("points_crm", "1e3"),
    ],
)
def test_a_wrong_points_value_is_refused_naming_its_field(field: str, value: str) -> None:
    with pytest.raises(FieldError) as err:
        read_sheet(CRITERIA, full_marks() | {field: value})
    assert err.value.field == field


def test_a_too_long_comment_is_refused_naming_its_field() -> None:
    with pytest.raises(FieldError) as err:
        read_sheet(CRITERIA, full_marks() | {"comment_greeting": "x" * 2001})
    assert err.value.field == "comment_greeting"


def test_the_clinics_own_points_bound_each_criterion() -> None:
    card = scorecard({"greeting": 5, "slots": 20})
    form = full_marks() | {"points_greeting": "5", "points_slots": "20"}
    assert read_sheet(card, form).total == 100
    with pytest.raises(FieldError) as err:
        read_sheet(card, form | {"points_greeting": "10"})
    assert err.value.field == "points_greeting"


def test_weeks_start_on_monday_in_the_clinics_zone() -> None:
    assert week_of(date(2026, 12, 3)) == date(2026, 11, 30)  # a Thursday
    assert week_of(date(2026, 11, 30)) == date(2026, 11, 30)
    assert week_of(date(2026, 12, 6)) == date(2026, 11, 30)  # Sunday ends it
    start, end = week_bounds(date(2026, 11, 30), VLADIVOSTOK)
    assert start.astimezone(UTC) == datetime(2026, 11, 29, 14, tzinfo=UTC)
    assert (end - start).days == 7
    assert recent_weeks(date(2026, 12, 3), 3) == [date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30)]


def test_a_call_made_on_monday_morning_in_vladivostok_counts_in_that_week_not_utcs() -> None:
    sunday_utc = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Monday 09:00 in Vladivostok
    scores = weekly_scores([ScoredCall(7, 80, sunday_utc), ScoredCall(7, 91, sunday_utc)], VLADIVOSTOK)
    assert list(scores[7]) == [date(2026, 11, 30)]
    assert scores[7][date(2026, 11, 30)].average == 85.5
    assert scores[7][date(2026, 11, 30)].calls == 2


def test_weekly_scores_keep_administrators_and_weeks_apart() -> None:
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    week_before = datetime(2026, 11, 24, 9, tzinfo=UTC)
    scores = weekly_scores(
        [
            ScoredCall(1, 70, at),
            ScoredCall(2, 100, at),
            ScoredCall(1, 90, week_before),
            ScoredCall(None, 50, at),
        ],
        UTC,
    )
    assert scores[1][date(2026, 11, 30)].average == 70
    assert scores[1][date(2026, 11, 23)].average == 90
    assert scores[2][date(2026, 11, 30)].average == 100
    assert scores[None][date(2026, 11, 30)].calls == 1


def test_the_trend_compares_the_last_two_scored_weeks() -> None:
    assert trend([80, None, 90]) is Trend.UP
    assert trend([90, 85.5, None]) is Trend.DOWN
    assert trend([None, 88, 88]) is Trend.SAME
    assert trend([None, None, 88]) is Trend.NONE
    assert trend([]) is Trend.NONE


def test_below_goal_is_strictly_under_it_and_an_unscored_week_is_not_below() -> None:
    assert below_goal(84.9, 85)
    assert not below_goal(85, 85)
    assert not below_goal(None, 85)
