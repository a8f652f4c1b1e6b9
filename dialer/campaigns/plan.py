"""Attempt plans as frozen data, and their windows resolved to concrete instants for one target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.core.calendar import LocalSpan, WorkCalendar
from dialer.core.errors import ConfigError, FieldError
from dialer.core.timeutil import parse_duration, parse_time_of_day


@dataclass(frozen=True)
class WindowRule:
    """Up to `attempts` calls between `span.start` and `span.end` local time, at least `min_gap` apart."""

    span: LocalSpan
    attempts: int
    min_gap: timedelta = timedelta(0)
    # Whether this window calls again a patient who already confirmed (the same-day confirmation).
    reconfirm: bool = False


@dataclass(frozen=True)
class AttemptPlan:
    windows: tuple[WindowRule, ...]
    retry_when_no_digit: bool = True
    sms_when_not_reached: bool = True

    @property
    def max_attempts(self) -> int:
        return sum(w.attempts for w in self.windows)


@dataclass(frozen=True)
class Window:
    """A window resolved for one target: absolute instants."""

    start: datetime
    end: datetime
    attempts: int
    min_gap: timedelta
    reconfirm: bool = False

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def window_rule(raw: Mapping[str, object], where: str) -> WindowRule:
    """Build a window from its TOML table: {start="11:00", end="16:00", attempts=2, min_gap="2h"}."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f'{where}: окно задаётся таблицей, например {{start="11:00", end="16:00", attempts=2}}'
        )
    unknown = set(raw) - {"start", "end", "attempts", "min_gap"}
    if unknown:
        raise ConfigError(f"{where}: неизвестные ключи {sorted(unknown)}")
    try:
        start = parse_time_of_day(str(raw["start"]), f"{where}.start")
        end = parse_time_of_day(str(raw["end"]), f"{where}.end")
        attempts = raw.get("attempts", 1)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            raise ConfigError(f"{where}.attempts: нужно целое число ≥ 0")
        gap_raw = raw.get("min_gap", "0s")
        if not isinstance(gap_raw, (str, int, float)):
            raise ConfigError(f'{where}.min_gap: нужна длительность, например "2h"')
        gap = parse_duration(gap_raw, f"{where}.min_gap")
    except KeyError as missing:
        raise ConfigError(f"{where}: не задан ключ {missing}") from None
    except FieldError as err:
        raise ConfigError(str(err)) from None
    if end <= start:
        raise ConfigError(f"{where}: окно заканчивается раньше, чем начинается")
    return WindowRule(LocalSpan(start, end), attempts, gap)


def resolve_day_windows(rules: tuple[WindowRule, ...], day: date, tz: ZoneInfo) -> list[Window]:
    windows = []
    for rule in rules:
        start, end = rule.span.on(day, tz)
        windows.append(Window(start, end, rule.attempts, rule.min_gap, rule.reconfirm))
    return windows


def reminder_call_day(visit_day: date, calendar: WorkCalendar, days_before: int = 1) -> date | None:
    """The local day the reminder calls happen: `days_before` days ahead, moved earlier past days off."""
    day = visit_day - timedelta(days=days_before)
    if calendar.is_open(day):
        return day
    return calendar.previous_open_day(day)
