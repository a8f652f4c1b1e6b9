"""Writing outcomes back to the clinic's own system: each status change is POSTed as JSON, signed with HMAC,
with an idempotency key, and retried with backoff until it is taken (at least once)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp

from dialer.core.clock import Clock
from dialer.core.records import OutboxEvent
from dialer.core.retry import RetryBackoff
from dialer.engine.loops import forever
from dialer.settings import WebhookSettings

log = logging.getLogger("dialer.webhook")

POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 10.0
# Until the clinic's system takes the event: at least once, however long it is down.
DELIVERY_BACKOFF = RetryBackoff(first=timedelta(seconds=5), longest=timedelta(hours=1), max_doublings=12)


class Outbox(Protocol):
    async def due(self, now: datetime, limit: int = 20) -> list[OutboxEvent]: ...

    async def delivered(self, event_id: int, at: datetime) -> None: ...

    async def failed(self, event_id: int, error: str, next_at: datetime) -> None: ...


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` of the body: the receiver recomputes it with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(self, settings: WebhookSettings, outbox: Outbox, clock: Clock) -> None:
        self.settings = settings
        self.outbox = outbox
        self.clock = clock

    async def run(self) -> None:
        if not self.settings.url:
            return
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as http:

            async def turn() -> None:
                for event in await self.outbox.due(self.clock.now()):
                    await self._deliver(http, event)
                await self.clock.sleep(POLL_SECONDS)

            await forever("webhook", turn, self.clock)

    async def _deliver(self, http: aiohttp.ClientSession, event: OutboxEvent) -> None:
        body = json.dumps(
            {"event": event.kind, "id": event.event_key, "data": json.loads(event.payload)},
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": event.event_key,
            "X-Dialer-Event": event.kind,
            "X-Dialer-Signature": signature(self.settings.secret.value, body),
        }
        try:
            async with http.post(self.settings.url, data=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    await self.outbox.delivered(event.event_id, self.clock.now())
                    return
                error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as err:
            error = f"{type(err).__name__}: {err}"
        retry = DELIVERY_BACKOFF.after(event.attempts)
        log.warning("webhook %s not taken (%s); retry in %s", event.event_key, error, retry)
        await self.outbox.failed(event.event_id, error, self.clock.now() + retry)
