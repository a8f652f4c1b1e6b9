"""How the web answers a product error: one HTTP status for each kind in dialer.core.errors."""

from __future__ import annotations

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


def http_status(error: DialerError) -> int:
    return next(HTTP_STATUS[kind] for kind in type(error).__mro__ if kind in HTTP_STATUS)


def error_response(error: DialerError, field: str) -> web.Response:
    """The answer the pages and the API read: which field (or thing) is wrong, and the message for a person."""
    return web.json_response({"errors": [{"field": field, "message": str(error)}]}, status=http_status(error))
