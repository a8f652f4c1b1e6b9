"""How the web answers a product error: one HTTP status for each kind in dialer.core.errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NotRequired, TypedDict, TypeVar

from aiohttp import web

from dialer.core.errors import (
    BadInput,
    ConfigError,
    Conflict,
    DialerError,
    NotFound,
    PeerFailed,
    Refused,
    ServiceStop,
)

# Looked up along the error's classes, so a kind's subclasses answer as the kind does.
HTTP_STATUS: dict[type[DialerError], int] = {
    BadInput: 400,
    Refused: 403,
    NotFound: 404,
    Conflict: 409,
    PeerFailed: 503,
    ServiceStop: 503,
    ConfigError: 500,
    DialerError: 500,
}


class ErrorLine(TypedDict):
    """One line of an answer's error list: which field (or thing) is wrong, and the message for a person; an
    imported row's line also names its row."""

    row: NotRequired[int]
    field: str
    message: str


Refusal = TypeVar("Refusal", bound=web.HTTPException)


def errors_response(errors: Sequence[ErrorLine], status: int = 400) -> web.Response:
    """The JSON answer with an error list, as the pages and the API read it."""
    return web.json_response({"errors": errors}, status=status)


def json_refusal(kind: type[Refusal], field: str, message: str) -> Refusal:
    """An HTTP error whose body is the JSON error list of one field."""
    line: ErrorLine = {"field": field, "message": message}
    return kind(text=json.dumps({"errors": [line]}, ensure_ascii=False), content_type="application/json")


def http_status(error: DialerError) -> int:
    return next(HTTP_STATUS[kind] for kind in type(error).__mro__ if kind in HTTP_STATUS)


def error_response(error: DialerError, field: str) -> web.Response:
    """The answer the pages and the API read: which field (or thing) is wrong, and the message for a person."""
    return errors_response([{"field": field, "message": str(error)}], http_status(error))
