"""Reading the CSV files clinics export: UTF-8 or Windows-1251, comma or semicolon."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from dialer.core.errors import BadInput
from dialer.core.rows import normalize_header

ENCODINGS = ("utf-8-sig", "cp1251")


@dataclass(frozen=True)
class CsvTable:
    header: list[str]
    encoding: str
    delimiter: str
    rows: list[tuple[int, dict[str, str]]]  # (row number as a spreadsheet shows it, values by field)


class CsvError(BadInput):
    """The file as a whole cannot be read as a table (its encoding, or nothing in it)."""


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) first; Excel in Russia saves Windows-1251, so that is the fallback."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise CsvError("файл не в кодировке UTF-8 и не в Windows-1251")


def read_csv(data: bytes, aliases: Mapping[str, str]) -> CsvTable:
    text, encoding = decode(data)
    if not text.strip():
        raise CsvError("файл пуст")
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    raw_header = next(reader)
    header = [normalize_header(h, aliases) for h in raw_header]
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in _numbered(reader):
        if not any(v.strip() for v in values):
            continue
        row = {name: (values[i] if i < len(values) else "") for i, name in enumerate(header)}
        rows.append((number, row))
    return CsvTable(header, encoding, delimiter, rows)


def _numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    # The header is row 1, so data starts at row 2, as in a spreadsheet.
    yield from enumerate(reader, start=2)


# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(...), =cmd|...): OWASP's list.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: object) -> object:
    """A cell Excel or LibreOffice shows as text and never runs: a leading apostrophe when the text starts with
    `= + - @`, a tab or a CR. Numbers stay numbers.

    A phone written "+79161234567" goes out as "'+79161234567": Excel hides the apostrophe (its "this is text"
    mark) and shows +79161234567, where without it the cell would be the number 79161234567 (7,92E+10).
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def formula_safe_row(values: Iterable[object]) -> list[object]:
    return [formula_safe(v) for v in values]
