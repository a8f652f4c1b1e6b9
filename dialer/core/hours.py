"""A clinic's opening hours, as its staff write them ("пн-пт 08:00-20:00", "сб 09:00-15:00"), and the hours
in which its patients may be called at all ("08:00-21:00")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from dialer.core.errors import FieldError
from dialer.core.timeutil import format_time_of_day, parse_time_of_day

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

    def within(self, allowed: CallingHours) -> OpeningHours:
        """These hours cut to the calling hours: when a callback may go out. No hours (always open), or none left
        once cut (refused at start, so only hours made at run time), mean the calling hours of every day."""
        cut = tuple(
            (day, max(start, allowed.start), min(end, allowed.end))
            for day, start, end in self.spans
            if start < allowed.end and allowed.start < end
        )
        return OpeningHours(cut or tuple((day, allowed.start, allowed.end) for day in range(1, 8)))

    def closing(self, instant: datetime, tz: ZoneInfo) -> datetime | None:
        """When the span `instant` falls in ends; None when closed (or always open)."""
        local = instant.astimezone(tz)
        for day, start, end in self.spans:
            if day == local.isoweekday() and start <= local.time() < end:
                return datetime.combine(local.date(), end, tz)
        return None


@dataclass(frozen=True)
class CallingHours:
    """The local hours, every day, in which a patient may be called at all: by law and custom, not at night.

    A call may start at `start` and must start before `end`; a calling window or opening hours reaching outside
    them are refused at start, and the planner never places a call outside them whatever its windows say.
    """

    start: time = time(8, 0)
    end: time = time(21, 0)

    @classmethod
    def parse(cls, text: str, field: str = "calling_hours") -> CallingHours:
        start_text, dash, end_text = text.strip().partition("-")
        if not dash:
            raise FieldError(
                field, f"не промежуток времени: {text!r} (формат ЧЧ:ММ-ЧЧ:ММ, например 08:00-21:00)"
            )
        start, end = parse_time_of_day(start_text, field), parse_time_of_day(end_text, field)
        if end <= start:
            raise FieldError(
                field,
                f"{text!r}: конец не позже начала; нужен непустой промежуток одного дня, например 08:00-21:00",
            )
        return cls(start, end)

    def __str__(self) -> str:
        return f"{format_time_of_day(self.start)}-{format_time_of_day(self.end)}"

    def covers(self, start: time, end: time) -> bool:
        """Whether a span of local time (a window, opening hours) lies within these hours."""
        return self.start <= start and end <= self.end

    def allows(self, instant: datetime, tz: tzinfo) -> bool:
        """Whether a call may start at this instant: by the wall clock of the clinic's zone."""
        return self.start <= instant.astimezone(tz).time() < self.end

    def first_allowed(self, earliest: datetime, before: datetime, tz: tzinfo) -> datetime | None:
        """The first instant from `earliest` and before `before` at which a call may start; None if there is none.

        Each candidate is checked by the wall clock, so a day whose clocks jump (daylight saving, in some zones
        at midnight) can only make the answer later, never outside the hours: when `start` falls in the hour
        the clocks skip, the call waits until that wall time has passed after the jump.
        """
        # In UTC: two instants of one zone compare by their wall clocks, wrong in the hour the clocks go back.
        earliest, before = earliest.astimezone(UTC), before.astimezone(UTC)
        if earliest >= before:
            return None
        if self.allows(earliest, tz):
            return earliest
        day = earliest.astimezone(tz).date()
        last = before.astimezone(tz).date()
        while day <= last:
            found = [c for c in self._starts_on(day, tz) if earliest < c < before and self.allows(c, tz)]
            if found:
                return min(found)
            day += timedelta(days=1)
        return None

    def _starts_on(self, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
        """`start` on that local day, as UTC instants: both readings where the clocks go back over it (fold),
        or skip it."""
        wall = datetime.combine(day, self.start, tz)
        return wall.astimezone(UTC), wall.replace(fold=1).astimezone(UTC)


# Russian law and practice: no calls to patients at night. A clinic may set its own (`calling_hours`).
DEFAULT_CALLING_HOURS = CallingHours()


def _day_range(text: str, field: str) -> list[int]:
    days: list[int] = []
    for part in text.lower().split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise FieldError(field, f"не день недели: {part!r} (пн, вт … вс или mon … sun)")
        a, b = _DAYS[first], _DAYS[last or first]
        days.extend(range(a, b + 1) if a <= b else [*range(a, 8), *range(1, b + 1)])
    return days
