"""Reading a TOML table strictly: every key must be consumed, and each value must have the right type."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any, TypeVar

from dialer.core.errors import ConfigError, FieldError
from dialer.core.timeutil import parse_duration, parse_time_of_day

T = TypeVar("T")


class Table:
    """A TOML table read strictly: every key must be consumed, and each value has the right type."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, dict):
            raise ConfigError(f"[{where}] должен быть таблицей")
        self._raw: dict[str, Any] = raw
        self._where = where
        self._used: set[str] = set()

    def _get(self, key: str) -> Any:
        self._used.add(key)
        return self._raw.get(key)

    def has(self, key: str) -> bool:
        return key in self._raw

    def text(self, key: str, default: str) -> str:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError(f"{self._where}.{key}: нужна строка")
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"{self._where}.{key}: нужно целое число ≥ {minimum}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{self._where}.{key}: нужно положительное число")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self._where}.{key}: нужно true или false")
        return value

    def duration(self, key: str, default: timedelta) -> timedelta:
        value = self._get(key)
        if value is None:
            return default
        try:
            return parse_duration(value, f"{self._where}.{key}")
        except FieldError as err:
            raise ConfigError(str(err)) from None

    def time_of_day(self, key: str, default: time) -> time:
        value = self._get(key)
        if value is None:
            return default
        try:
            return parse_time_of_day(str(value), f"{self._where}.{key}")
        except FieldError as err:
            raise ConfigError(str(err)) from None

    def instant(self, key: str) -> datetime | None:
        """An ISO 8601 date and time with its UTC offset, e.g. "2026-12-03T11:00:00+03:00"."""
        value = self._get(key)
        if value is None:
            return None
        parsed: object = value
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
        if not isinstance(parsed, datetime) or parsed.tzinfo is None:
            raise ConfigError(
                f'{self._where}.{key}: нужны дата и время со смещением, например "2026-12-03T11:00:00+03:00"'
            )
        return parsed

    def table(self, key: str) -> Table:
        value = self._get(key)
        return Table(value if value is not None else {}, f"{self._where}.{key}")

    def items(self, key: str) -> list[Any]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{self._where}.{key}: нужен список")
        return value

    def done(self) -> None:
        unknown = set(self._raw) - self._used
        if unknown:
            raise ConfigError(f"[{self._where}]: неизвестные ключи {sorted(unknown)}")

    def close(self, value: T) -> T:
        """`done()`, then hand back the value built from this table: `return t.close(Section(a=t.text(...)))`."""
        self.done()
        return value
