"""GET /metrics: the service's series in Prometheus' text format. Counts and states only, yet not for the
internet: an administrator, an administrator's API token, or a scraper on this host (Prometheus beside the
service) without a login."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dialer.core.metrics import Series, render
from dialer.core.staff import Role
from dialer.web.access import add_route, allow

Gather = Callable[[], Awaitable[list[Series]]]
METRICS: web.AppKey[Gather] = web.AppKey("metrics")

CONTENT_TYPE = "text/plain"  # with version=0.0.4, as Prometheus asks for the text format


async def get_metrics(request: web.Request) -> web.Response:
    body = render(await request.app[METRICS]())
    return web.Response(
        body=body.encode(), headers={"Content-Type": f"{CONTENT_TYPE}; version=0.0.4; charset=utf-8"}
    )


def add_routes(app: web.Application) -> None:
    add_route(app, "GET", "/metrics", get_metrics, allow(Role.ADMIN, loopback=True))
