"""The load balancer's probes. /health: the process answers (nothing else is touched, so a slow database
never gets a live process restarted). /ready: send it traffic, only while the database answers and the AMI
link is up and reconciled. Neither says anything about patients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dialer.web.access import add_route, public

# None when ready, else a short reason with no data in it ("ami: disconnected").
Readiness = Callable[[], Awaitable[str | None]]
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")


async def get_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def get_ready(request: web.Request) -> web.Response:
    reason = await request.app[READINESS]()
    if reason is None:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready", "reason": reason}, status=503)


def add_routes(app: web.Application) -> None:
    add_route(app, "GET", "/health", get_health, public("liveness only: the process answers"))
    add_route(
        app, "GET", "/ready", get_ready, public("readiness only: the database and the AMI link, no data")
    )
