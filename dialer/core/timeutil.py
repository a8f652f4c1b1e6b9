"""Parsing the times of day and durations written in TOML and CSV files."""

from __future__ import annotations

import re
from datetime import time, timedelta

from dialer.core.errors import FieldError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | int | float, field: str = "duration") -> timedelta:
    """``"2h"``, ``"90s"``, ``"1h30m"``, ``"250ms"``, or a number of seconds."""
    if isinstance(text, bool):
        raise FieldError(field, "ожидалась длительность")
    if isinstance(text, (int, float)):
        if text < 0:
            raise FieldError(field, "длительность не может быть отрицательной")
        return timedelta(seconds=float(text))
    compact = text.replace(" ", "").lower()
    if not compact:
        raise FieldError(field, "пустая длительность")
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(compact):
        raise FieldError(field, f"не длительность: {text!r} (примеры: 2h, 90s, 1h30m)")
    return timedelta(seconds=total)


def parse_time_of_day(text: str, field: str = "time") -> time:
    """``"11:00"`` or ``"18:00:30"``; ``"24:00"`` means the end of the day."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise FieldError(field, f"не время суток: {text!r} (формат ЧЧ:ММ)")
    hour, minute = int(parts[0]), int(parts[1])
    second = int(parts[2]) if len(parts) == 3 else 0
    if (hour, minute, second) == (24, 0, 0):
        return time(23, 59, 59, 999999)
    if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60):
        raise FieldError(field, f"время вне суток: {text!r}")
    return time(hour, minute, second)


def format_time_of_day(value: time) -> str:
    """As a person writes it: ``"08:00"``, ``"18:00:30"``, and ``"24:00"`` for the end of the day."""
    if value == time(23, 59, 59, 999999):
        return "24:00"
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"
