"""Delivery reports from SMS gateways: verified, then applied forward-only."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from dialer.core.ports import SmsCallbackRejected, StatusCallbackVerifier
from dialer.engine.sms import SmsSender
from dialer.web.access import add_route, public
from dialer.web.errors import http_status

log = logging.getLogger("dialer.web")


@dataclass
class SmsReceiptContext:
    verifiers: dict[str, StatusCallbackVerifier]
    sender: SmsSender
    public_url: str


SMS_RECEIPTS = web.AppKey("sms_receipts", SmsReceiptContext)


async def sms_status(request: web.Request) -> web.Response:
    ctx = request.app[SMS_RECEIPTS]
    provider = request.match_info["provider"]
    verifier = ctx.verifiers.get(provider)
    if verifier is None:
        raise web.HTTPNotFound()
    form = {k: str(v) for k, v in (await request.post()).items()}
    # The gateway signed the URL it called, which is our public URL, not what the proxy forwarded to us.
    url = ctx.public_url + request.rel_url.path_qs if ctx.public_url else str(request.url)
    try:
        update = verifier.parse(url, dict(request.headers), form)
        row = await ctx.sender.apply(provider, update)
    except SmsCallbackRejected as err:
        log.warning("rejected %s delivery report: %s", provider, err)
        return web.Response(text="signature check failed", status=http_status(err))
    if row is None:
        log.info("delivery report for unknown %s message %s", provider, update.provider_id)
    return web.Response(text="", status=204 if row else 200)


def add_routes(app: web.Application, verifiers: Sequence[StatusCallbackVerifier]) -> None:
    if verifiers:
        rule = public("the gateway's delivery reports: each is checked against the gateway's signature")
        add_route(app, "POST", "/sms/{provider}/status", sms_status, rule)
