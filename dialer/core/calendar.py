"""Calling windows in the clinic's own time zone, and the clinic's days off."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from dialer.core.errors import FieldError

# Russia spans UTC+2 (Kaliningrad) to UTC+12 (Kamchatka), with no daylight saving time since 2014.
RUSSIAN_ZONES: tuple[str, ...] = (
    "Europe/Kaliningrad",
    "Europe/Moscow",
    "Europe/Simferopol",
    "Europe/Kirov",
    "Europe/Volgograd",
    "Europe/Astrakhan",
    "Europe/Saratov",
    "Europe/Ulyanovsk",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Barnaul",
    "Asia/Tomsk",
    "Asia/Novokuznetsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Chita",
    "Asia/Yakutsk",
    "Asia/Khandyga",
    "Asia/Vladivostok",
    "Asia/Ust-Nera",
    "Asia/Magadan",
    "Asia/Sakhalin",
    "Asia/Srednekolymsk",
    "Asia/Kamchatka",
    "Asia/Anadyr",
)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError("timezone", f"неизвестный часовой пояс {name!r}") from None


@dataclass(frozen=True)
class LocalSpan:
    """A span of local wall-clock time on one day, e.g. 11:00-16:00."""

    start: time
    end: time

    def on(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The span as two aware instants on that local day."""
        return datetime.combine(day, self.start, tz), datetime.combine(day, self.end, tz)


@lru_cache(maxsize=64)
def _russian_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("RU", years=year).keys())


@dataclass(frozen=True)
class WorkCalendar:
    """Which local days a clinic calls on. Holidays are Russia's official days off, when the clinic skips them."""

    skip_holidays: bool = True
    closed_weekdays: frozenset[int] = field(default_factory=frozenset)  # ISO: Monday 1 .. Sunday 7
    extra_days_off: frozenset[date] = field(default_factory=frozenset)

    def is_open(self, day: date) -> bool:
        if day.isoweekday() in self.closed_weekdays or day in self.extra_days_off:
            return False
        return not (self.skip_holidays and day in _russian_holidays(day.year))

    def previous_open_day(self, before: date, max_back: int = 14) -> date | None:
        """The latest open day strictly before ``before``, looking back at most ``max_back`` days."""
        day = before
        for _ in range(max_back):
            day -= timedelta(days=1)
            if self.is_open(day):
                return day
        return None


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def open_days(cal: WorkCalendar, days: Iterable[date]) -> list[date]:
    return [d for d in days if cal.is_open(d)]


HolidayCheck = Callable[[date], bool]


def working_morning(
    host_now: datetime, tz: ZoneInfo, calendar: WorkCalendar, at: time = time(11, 0), max_ahead: int = 14
) -> datetime:
    """`at` o'clock in the clinic's zone on its first working day from the host's date there.

    The demonstration and the tests set the service's clock to this instant, so the clinic's day plays the
    same whatever the host's hour or zone: a working day whose next day has visits to remind of, with the
    whole calling day (11:00-16:00, then the evening window) ahead of it.
    """
    day = host_now.astimezone(tz).date()
    for _ in range(max_ahead):
        if calendar.is_open(day):
            return datetime.combine(day, at, tz)
        day += timedelta(days=1)
    raise ValueError(f"the clinic has no working day in the {max_ahead} days from {day.isoformat()}")
