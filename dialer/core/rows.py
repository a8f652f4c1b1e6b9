"""Field parsers shared by every import (CSV and JSON): each raises FieldError naming its field."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Generic, TypeVar

from dialer.core.errors import FieldError, RowError
from dialer.core.timeutil import parse_time_of_day

T = TypeVar("T")

Row = Mapping[str, object]

_TRUE = {"1", "true", "yes", "y", "да", "д", "+", "x", "✓"}
_FALSE = {"0", "false", "no", "n", "нет", "н", "-", ""}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_RU_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
# The dates the service takes from outside (files, forms, query strings): real visits, calls and reports.
# Far ones are refused at the door: year 1 or 9999 overflows as soon as it meets a time zone.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def text(row: Row, field: str, *, required: bool = True, max_len: int = 200) -> str:
    value = row.get(field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise FieldError(field, "ожидалась строка")
    value = " ".join(value.split())
    if required and not value:
        raise FieldError(field, "не заполнено")
    if len(value) > max_len:
        raise FieldError(field, f"слишком длинно (больше {max_len} символов)")
    return value


def flag(row: Row, field: str, default: bool) -> bool:
    value = row.get(field)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if not isinstance(value, str):
        raise FieldError(field, "ожидалось да/нет")
    lowered = value.strip().lower()
    if lowered == "":
        return default
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FieldError(field, f"ожидалось да/нет, получено {value!r}")


def day(row: Row, field: str) -> date:
    """A date as ``2026-11-26`` or ``26.11.2026``, between FIRST_DAY and LAST_DAY."""
    raw = text(row, field)
    iso, ru = _ISO_DATE.match(raw), _RU_DATE.match(raw)
    if iso:
        year, month, day_of_month = iso.groups()
    elif ru:
        day_of_month, month, year = ru.groups()
    else:
        raise FieldError(field, f"не дата: {raw!r} (формат ГГГГ-ММ-ДД или ДД.ММ.ГГГГ)")
    try:
        value = date(int(year), int(month), int(day_of_month))
    except ValueError:
        raise FieldError(field, f"нет такой даты: {raw!r}") from None
    if not FIRST_DAY <= value <= LAST_DAY:
        raise FieldError(field, f"дата вне {FIRST_DAY.year}–{LAST_DAY.year} годов: {raw!r}")
    return value


def time_of_day(row: Row, field: str) -> time:
    return parse_time_of_day(text(row, field), field)


def normalize_header(name: str, aliases: Mapping[str, str]) -> str:
    key = " ".join(name.strip().lstrip("\ufeff").lower().replace("_", " ").split())
    return aliases.get(key, key.replace(" ", "_"))


@dataclass
class RowReport(Generic[T]):
    """The outcome of checking a file's rows: the good records, and each bad row's number, field and reason."""

    accepted: list[T] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_seen: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def check_rows(
    records: Iterable[tuple[int, Row]],
    validate: Callable[[Row], T],
    key: Callable[[T], tuple[str, str]],
    id_field: str,
) -> RowReport[T]:
    """Validate numbered rows; a bad row is reported and the rest still go in. An id repeated within one file
    keeps its first row and reports the others."""
    report: RowReport[T] = RowReport()
    seen: dict[tuple[str, str], int] = {}
    for number, row in records:
        report.rows_seen += 1
        try:
            record = validate(row)
        except FieldError as err:
            report.errors.append(RowError(number, err.field, err.message))
            continue
        if key(record) in seen:
            repeated = key(record)[1]
            message = f"повтор id {repeated!r} (уже в строке {seen[key(record)]})"
            report.errors.append(RowError(number, id_field, message))
            continue
        seen[key(record)] = number
        report.accepted.append(record)
    return report


def missing(header: Iterable[str], required: Iterable[str]) -> list[str]:
    """The required columns a file's header lacks, in the documented order."""
    present = set(header)
    return [name for name in required if name not in present]
