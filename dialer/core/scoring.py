"""Scoring calls by the clinic's scorecard: checking a supervisor's sheet, and each administrator's score per
week with its trend against the goal.

Weeks run Monday to Sunday in the clinic's own zone, as the checklist's weekly listening does (§12): a call
scored late on Sunday evening in Vladivostok belongs to that week, whatever UTC says.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from dialer.core.errors import FieldError
from dialer.core.quality import Criterion

MAX_COMMENT = 2000  # a comment per criterion, or on the whole call
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class ItemScore:
    points: int
    comment: str = ""


@dataclass(frozen=True)
class ScoreSheet:
    """A supervisor's scorecard of one call: points and a comment per criterion, and a comment on the whole."""

    items: Mapping[str, ItemScore]
    comment: str = ""

    @property
    def total(self) -> int:
        return sum(item.points for item in self.items.values())


def read_sheet(card: Sequence[Criterion], form: Mapping[str, str]) -> ScoreSheet:
    """The sheet from a form with `points_<criterion>`, `comment_<criterion>` and `comment`. Every criterion of
    the card must have its points, a whole number between 0 and the criterion's own; a wrong one is refused
    naming its field."""
    items: dict[str, ItemScore] = {}
    for criterion in card:
        field = f"points_{criterion.key}"
        raw = form.get(field, "").strip()
        if not raw:
            raise FieldError(field, f"поставьте баллы за «{criterion.label}»")
        if not raw.isascii() or not raw.isdigit() or len(raw) > 3:
            raise FieldError(field, f"баллы — целое число от 0 до {criterion.points}")
        points = int(raw)
        if points > criterion.points:
            raise FieldError(field, f"за «{criterion.label}» не больше {criterion.points} баллов")
        items[criterion.key] = ItemScore(points, _comment(form, f"comment_{criterion.key}"))
    return ScoreSheet(items, _comment(form, "comment"))


def _comment(form: Mapping[str, str], field: str) -> str:
    text = form.get(field, "").strip()
    if len(text) > MAX_COMMENT:
        raise FieldError(field, f"комментарий длиннее {MAX_COMMENT} символов")
    return text


def week_of(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The week's first and first-after instants, midnight to midnight in the clinic's zone."""
    start = datetime.combine(monday, time(0), zone)
    return start, datetime.combine(monday + WEEK, time(0), zone)


def recent_weeks(today: date, count: int) -> list[date]:
    """The Mondays of the last `count` weeks, the oldest first, this week last."""
    this = week_of(today)
    return [this - WEEK * n for n in range(count - 1, -1, -1)]


@dataclass(frozen=True)
class ScoredCall:
    """A scored call: whose it was, its total, and when it was made (not when it was scored)."""

    user_id: int | None
    total: int
    called_at: datetime


@dataclass(frozen=True)
class WeekScore:
    average: float
    calls: int


def weekly_scores(scored: Iterable[ScoredCall], zone: tzinfo) -> dict[int | None, dict[date, WeekScore]]:
    """Each administrator's average total per week: the week the call was made, in the clinic's zone, so that a
    call of Friday scored on Monday counts in Friday's week."""
    totals: dict[int | None, dict[date, list[int]]] = defaultdict(lambda: defaultdict(list))
    for call in scored:
        totals[call.user_id][week_of(call.called_at.astimezone(zone).date())].append(call.total)
    return {
        user: {week: WeekScore(round(sum(t) / len(t), 1), len(t)) for week, t in weeks.items()}
        for user, weeks in totals.items()
    }


class Trend(StrEnum):
    UP = "up"
    DOWN = "down"
    SAME = "same"
    NONE = "none"  # fewer than two scored weeks: nothing to compare

    @property
    def arrow(self) -> str:
        return {"up": "↑", "down": "↓", "same": "→", "none": ""}[self.value]


def trend(averages: Sequence[float | None]) -> Trend:
    """Where the last scored week went against the scored week before it; unscored weeks are skipped."""
    known = [a for a in averages if a is not None]
    if len(known) < 2:
        return Trend.NONE
    if known[-1] > known[-2]:
        return Trend.UP
    if known[-1] < known[-2]:
        return Trend.DOWN
    return Trend.SAME


def below_goal(average: float | None, goal: int) -> bool:
    return average is not None and average < goal
