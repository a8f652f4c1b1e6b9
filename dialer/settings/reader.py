"""Reading a TOML table strictly: every key must be consumed, and each value must have the right type."""

from __future__ import annotations

from collections.abc import Callable
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

    def _checked(self, key: str, default: T, fits: Callable[[Any], bool], wanted: str) -> T:
        """The key's value, or `default` when it is absent; a value that does not fit names what was wanted."""
        value = self._get(key)
        if value is None:
            return default
        if not fits(value):
            raise ConfigError(f"{self._where}.{key}: {wanted}")
        checked: T = value
        return checked

    def _parsed(self, key: str, default: T, parse: Callable[[Any, str], T]) -> T:
        """The key's value read by `parse` (which names the key in its FieldError), or `default` when absent."""
        value = self._get(key)
        if value is None:
            return default
        try:
            return parse(value, f"{self._where}.{key}")
        except FieldError as err:
            raise ConfigError(str(err)) from None

    def text(self, key: str, default: str) -> str:
        return self._checked(key, default, lambda v: isinstance(v, str), "нужна строка")

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        return self._checked(
            key,
            default,
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
            f"нужно целое число ≥ {minimum}",
        )

    def number(self, key: str, default: float) -> float:
        # `not v <= 0` rather than `v > 0`: nan is let through, as it always was.
        value = self._checked(
            key,
            default,
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and not v <= 0,
            "нужно положительное число",
        )
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        return self._checked(key, default, lambda v: isinstance(v, bool), "нужно true или false")

    def duration(self, key: str, default: timedelta) -> timedelta:
        return self._parsed(key, default, parse_duration)

    def time_of_day(self, key: str, default: time) -> time:
        return self._parsed(key, default, lambda value, where: parse_time_of_day(str(value), where))

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

    def names(self) -> list[str]:
        """The keys of this table, each taken as read: for a table of named tables (`[pbx.<name>]`)."""
        self._used.update(self._raw)
        return list(self._raw)

    def items(self, key: str) -> list[Any]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{self._where}.{key}: нужен список")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """A list whose items are taken as text (`str(item)`); empty when the key is absent."""
        return tuple(str(item) for item in self.items(key))

    def done(self) -> None:
        unknown = set(self._raw) - self._used
        if unknown:
            raise ConfigError(f"[{self._where}]: неизвестные ключи {sorted(unknown)}")

    def close(self, value: T) -> T:
        """`done()`, then hand back the value built from this table: `return t.close(Section(a=t.text(...)))`."""
        self.done()
        return value
