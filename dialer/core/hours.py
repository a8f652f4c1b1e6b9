"""A clinic's opening hours, as its staff write them: "пн-пт 08:00-20:00", "сб 09:00-15:00"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialer.core.errors import FieldError
from dialer.core.timeutil import parse_time_of_day

_DAYS = {
    "mon": 1,
    "tue": 2,
    "wed": 3,
    "thu": 4,
    "fri": 5,
    "sat": 6,
    "sun": 7,
    "пн": 1,
    "вт": 2,
    "ср": 3,
    "чт": 4,
    "пт": 5,
    "сб": 6,
    "вс": 7,
}
# How far ahead to look for the next opening: past the longest run of Russian days off.
_SEARCH_DAYS = 16


@dataclass(frozen=True)
class OpeningHours:
    """Spans of local time per ISO weekday (1 = Monday). Empty means always open."""

    spans: tuple[tuple[int, time, time], ...] = ()

    @classmethod
    def parse(cls, lines: Sequence[str], field: str = "hours") -> OpeningHours:
        spans: list[tuple[int, time, time]] = []
        for line in lines:
            days_part, _, times_part = line.strip().partition(" ")
            start_text, _, end_text = times_part.strip().partition("-")
            start, end = parse_time_of_day(start_text, field), parse_time_of_day(end_text, field)
            if end <= start:
                raise FieldError(field, f"{line!r}: конец раньше начала")
            for day in _day_range(days_part, field):
                spans.append((day, start, end))
        return cls(tuple(spans))

    def is_open(self, instant: datetime, tz: ZoneInfo) -> bool:
        if not self.spans:
            return True
        local = instant.astimezone(tz)
        return any(
            day == local.isoweekday() and start <= local.time() < end for day, start, end in self.spans
        )

    def next_opening(self, instant: datetime, tz: ZoneInfo) -> datetime:
        """The next moment the clinic opens (or `instant` itself when open)."""
        if self.is_open(instant, tz):
            return instant
        local = instant.astimezone(tz)
        for offset in range(_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            starts = sorted(s for d, s, _ in self.spans if d == day.isoweekday())
            for start in starts:
                candidate = datetime.combine(day, start, tz)
                if candidate > instant:
                    return candidate
        return instant

    def closing(self, instant: datetime, tz: ZoneInfo) -> datetime | None:
        """When the span `instant` falls in ends; None when closed (or always open)."""
        local = instant.astimezone(tz)
        for day, start, end in self.spans:
            if day == local.isoweekday() and start <= local.time() < end:
                return datetime.combine(local.date(), end, tz)
        return None


def _day_range(text: str, field: str) -> list[int]:
    days: list[int] = []
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise FieldError(field, f"не день недели: {part!r} (пн, вт … вс или mon … sun)")
        a, b = _DAYS[first], _DAYS[last or first]
        days.extend(range(a, b + 1) if a <= b else [*range(a, 8), *range(1, b + 1)])
    return days
