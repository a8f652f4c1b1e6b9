"""The aiohttp application factory."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from dialer.core.errors import DialerError
from dialer.core.health import HealthView
from dialer.core.privacy import describe_error, scrub_phones
from dialer.core.staff import Role
from dialer.web import (
    api,
    audit,
    auth,
    calls,
    calls_csv,
    listening,
    noshow,
    operator,
    own_recordings,
    quality,
    recordings,
    sms_receipts,
    supervisor,
)
from dialer.web.access import (
    Handler,
    Scope,
    add_route,
    add_static,
    allow,
    public,
)
from dialer.web.api import API, ApiContext
from dialer.web.auth import AUTH, AuthContext, auth_middleware
from dialer.web.errors import error_response, http_status
from dialer.web.listening import LISTENING, ListeningContext
from dialer.web.live import LiveHub
from dialer.web.noshow import NOSHOWS, NoShowContext
from dialer.web.openapi import add_routes as add_openapi
from dialer.web.operator import OPERATORS, OperatorContext
from dialer.web.quality import QUALITY, QualityContext
from dialer.web.sms_receipts import SMS_RECEIPTS, SmsReceiptContext
from dialer.web.supervisor import SUPERVISION, SupervisorContext

log = logging.getLogger("dialer.web")

STATIC = Path(__file__).parent / "static"

Health = Callable[[], Awaitable[HealthView]]
HEALTH: web.AppKey[Health] = web.AppKey("health")


async def get_health(request: web.Request) -> web.Response:
    return web.json_response(await request.app[HEALTH]())


async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
    )
    if request.app[AUTH].secure_cookies:  # served as https://: browsers must never come back over plain HTTP
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


@web.middleware
async def private_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A product error answers with its kind's HTTP status (dialer.web.errors). An unexpected failure is logged
    by its type and place, never its text: a database error's text carries the values it was given (a patient's
    name, a phone). aiohttp's own handler would log the full text."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except DialerError as exc:
        status = http_status(exc)
        if status < 500:
            # Written for the person who sent the request, and carries no patient's data (core/errors.py).
            return error_response(exc, getattr(exc, "field", ""))
        # A peer's failure (an SMS gateway's answer, the database's) may quote what it was given: logged as
        # the others are, and not shown.
        log.error("%s %s failed: %s", request.method, scrub_phones(request.path), describe_error(exc))
        return web.Response(status=status)
    except Exception as exc:
        log.error("%s %s failed: %s", request.method, scrub_phones(request.path), describe_error(exc))
        raise web.HTTPInternalServerError() from None


@dataclass
class WebParts:
    api: ApiContext
    sms_receipts: SmsReceiptContext
    auth: AuthContext
    operators: OperatorContext
    supervision: SupervisorContext
    live: LiveHub
    health: Health
    quality: QualityContext
    listening: ListeningContext
    noshows: NoShowContext


async def _warm(ctx: AuthContext) -> None:
    await ctx.dummy.get()  # the stand-in hash for unknown names, made before the first login needs it


def create_app(parts: WebParts) -> web.Application:
    app = web.Application(
        client_max_size=8 * 1024 * 1024, middlewares=[private_errors, security_headers, auth_middleware]
    )
    app[API] = parts.api
    app[SMS_RECEIPTS] = parts.sms_receipts
    app[AUTH] = parts.auth
    app[OPERATORS] = parts.operators
    app[SUPERVISION] = parts.supervision
    app[HEALTH] = parts.health
    app[QUALITY] = parts.quality
    app[LISTENING] = parts.listening
    app[NOSHOWS] = parts.noshows
    parts.auth.on_ended = parts.live.end
    app.cleanup_ctx.append(parts.live.running)
    app.on_startup.append(lambda _: _warm(parts.auth))
    add_route(app, "GET", "/api/health", get_health, public("link and queue counts only, for the monitoring"))
    add_route(app, "GET", "/favicon.ico", favicon, public("an empty answer"))
    # Pop-ups for operators, the live board for supervisors: each message filtered by the user's clinics.
    live = allow(Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC, tokens=False)
    add_route(app, "GET", "/ws", parts.live.handler, live)
    add_static(app, "/static/", STATIC, public("the pages' scripts and styles, the same for everyone"))
    auth.add_routes(app)
    api.add_routes(app)
    operator.add_routes(app)
    supervisor.add_routes(app)
    listening.add_routes(app)
    noshow.add_routes(app)
    audit.add_routes(app)
    calls.add_routes(app)
    calls_csv.add_routes(app)
    quality.add_routes(app)
    recordings.add_routes(app)
    own_recordings.add_routes(app)
    add_openapi(app)
    sms_receipts.add_routes(app, list(parts.sms_receipts.verifiers.values()))
    return app
