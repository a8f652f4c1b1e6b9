"""The load balancer's probes. /health: the process answers (nothing else is touched, so a slow database
never gets a live process restarted). /ready: send it traffic, only while the database answers and the AMI
link is up and reconciled; with several Asterisks, while one of them is, the others named as degraded.
Neither says anything about patients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dialer.engine.metrics import ReadyState
from dialer.web.access import add_route, public

Readiness = Callable[[], Awaitable[ReadyState]]
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")


async def get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def get_ready(request: web.Request) -> web.Response:
    state = await request.app[READINESS]()
    body: dict[str, object] = (
        {"status": "ready"} if state.reason is None else {"status": "not ready", "reason": state.reason}
    )
    if state.degraded:
        body["degraded"] = state.degraded
    return web.json_response(body, status=200 if state.reason is None else 503)


def add_routes(app: web.Application) -> None:
    add_route(app, "GET", "/health", get_health, public("liveness only: the process answers"))
    add_route(
        app, "GET", "/ready", get_ready, public("readiness only: the database and the AMI link, no data")
    )
