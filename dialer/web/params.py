"""What a request names, checked at the edge, before it reaches a store.

Ids, dates and clinics that come in a path or a query string are bounded to what the service holds: an id is
a positive 64-bit signed integer (SQLite's INTEGER), a clinic is one of the settings', a date is a real one
between FIRST_DAY and LAST_DAY. A value of the wrong shape is refused with 400; a well-formed path id that
cannot name anything (zero, or past the store's range) with 404. Deeper code never meets a value that
overflows a column or a datetime, so bad input is a clear 4xx and never a 500.
"""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web

from dialer.core.rows import FIRST_DAY, LAST_DAY
from dialer.settings import ClinicSettings, Settings
from dialer.web.errors import json_refusal

# Row ids are SQL INTEGER: 64 bits on SQLite but 32 on PostgreSQL, where a larger number fails the query itself.
# Past the smaller range no row can have the id on either.
MAX_ID = 2**31 - 1
# ASCII digits only: int() would also take "٣", "1_000" and " +5 ".
_ID = re.compile(r"[0-9]{1,19}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_REFUSALS: dict[int, type[web.HTTPException]] = {400: web.HTTPBadRequest, 404: web.HTTPNotFound}


def refusal(request: web.Request, field: str, message: str, status: int = 400) -> web.HTTPException:
    """The answer to a bad value: the API's JSON error list, or a line of text for a page."""
    kind = _REFUSALS[status]
    if request.path.startswith("/api/"):
        return json_refusal(kind, field, message)
    return kind(text=message)


def _id(raw: str) -> int | None:
    return int(raw) if _ID.fullmatch(raw) else None


def path_id(request: web.Request, name: str, what: str = "такой записи") -> int:
    """A row id in the path: 400 when it is not a number, 404 when no row can have it."""
    number = _id(request.match_info[name])
    if number is None:
        raise refusal(request, name, "ожидался номер (цифры)")
    if not 1 <= number <= MAX_ID:
        raise refusal(request, name, f"нет {what}", 404)
    return number


def query_id(request: web.Request, name: str) -> int | None:
    """An optional row id in the query string (a filter): None when absent, 400 when it cannot be one."""
    raw = request.query.get(name, "")
    if not raw:
        return None
    number = _id(raw)
    if number is None or not 1 <= number <= MAX_ID:
        raise refusal(request, name, "ожидался номер (цифры)")
    return number


def query_day(request: web.Request, name: str = "date", default: date | None = None) -> date:
    """A date in the query string as ГГГГ-ММ-ДД, a real one in the service's range; `default` when absent."""
    raw = request.query.get(name, "")
    if not raw and default is not None:
        return default
    try:
        day = date.fromisoformat(raw) if _DAY.fullmatch(raw) else None
    except ValueError:
        day = None
    if day is None:
        raise refusal(request, name, "нужна дата ГГГГ-ММ-ДД")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise refusal(request, name, f"дата вне {FIRST_DAY.year}–{LAST_DAY.year} годов")
    return day


def query_clinic(request: web.Request, settings: Settings, name: str = "clinic") -> ClinicSettings | None:
    """An optional clinic filter: None when absent, 400 when the settings have no such clinic."""
    raw = request.query.get(name, "")
    return known_clinic(request, settings, raw, name) if raw else None


def clinic_or_first(request: web.Request, settings: Settings, name: str = "clinic") -> ClinicSettings:
    """The clinic the query names, or the first one of the settings when it names none."""
    clinic = query_clinic(request, settings, name)
    if clinic is not None:
        return clinic
    first = next(iter(settings.clinics.values()), None)
    if first is None:
        raise refusal(request, name, "в настройках нет ни одной клиники")
    return first


def known_clinic(
    request: web.Request, settings: Settings, value: object, name: str = "clinic"
) -> ClinicSettings:
    """A clinic id from the query or the body: 400 unless it is one of the settings' clinics."""
    clinic = settings.clinics.get(value) if isinstance(value, str) else None
    if clinic is None:
        raise refusal(request, name, f"неизвестная клиника {value!r}")
    return clinic
