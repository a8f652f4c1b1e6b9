"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from dialer.web import api, sms_callbacks
from dialer.web.api import API, ApiContext
from dialer.web.sms_callbacks import CALLBACKS, CallbackContext

Health = Callable[[], Awaitable[dict[str, object]]]
HEALTH: web.AppKey[Health] = web.AppKey("health")


async def get_health(request: web.Request) -> web.Response:
    return web.json_response(await request.app[HEALTH]())


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text="<!doctype html><html lang=ru><meta charset=utf-8><title>dialer</title>"
        "<h1>dialer</h1><p>Сервис работает. Выгрузка результатов: "
        "<code>GET /api/appointments?date=ГГГГ-ММ-ДД</code>.</p></html>",
        content_type="text/html",
    )


def create_app(api_ctx: ApiContext, callbacks: CallbackContext, *, health: Health) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[API] = api_ctx
    app[CALLBACKS] = callbacks
    app[HEALTH] = health
    app.router.add_get("/", index)
    app.router.add_get("/api/health", get_health)
    api.add_routes(app)
    sms_callbacks.add_routes(app, list(callbacks.verifiers.values()))
    return app
