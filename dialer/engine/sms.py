"""Sending SMS exactly once per key, and following delivery reports."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from dialer.campaigns.messages import SmsTemplate
from dialer.core.clock import Clock
from dialer.core.errors import PeerFailed
from dialer.core.phones import display_phone
from dialer.core.ports import OutgoingSms, SmsCallbackRejected, SmsError, SmsGateway, SmsStatusUpdate
from dialer.core.privacy import mask_phone
from dialer.core.records import SmsRow
from dialer.core.sms import SmsStatus
from dialer.core.stores import SmsStore
from dialer.engine.loops import forever
from dialer.settings import ClinicSettings

CALLBACK_SAFETY_POLL = timedelta(minutes=5)

log = logging.getLogger("dialer.sms")

# A crash between "about to send" and "gateway answered" is looked up this far back at the gateway.
LOOKUP_MARGIN = timedelta(minutes=2)


class SmsRetryLater(PeerFailed):
    """The gateway is unavailable for now; the due task is retried with backoff."""


def clinic_sms(template: SmsTemplate, clinic: ClinicSettings, at: datetime) -> str:
    """A campaign's text to a patient: the clinic's name and phone, and `at` in the clinic's time zone."""
    return template.render(
        clinic=clinic.name,
        at=at,
        tz=clinic.timezone,
        phone=display_phone(clinic.phone) if clinic.phone else "",
    )


class SmsSender:
    def __init__(
        self,
        *,
        gateway: SmsGateway | None,
        store: SmsStore,
        clock: Clock,
        callback_url: Callable[[str], str | None],
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.clock = clock
        self.callback_url = callback_url
        self.changed = asyncio.Event()

    @property
    def provider(self) -> str:
        return self.gateway.name if self.gateway is not None else "none"

    async def send(self, *, key: str, clinic_id: str, target_id: int | None, phone: str, body: str) -> SmsRow:
        """Send the message for this key unless it was already sent. Raises SmsRetryLater."""
        now = self.clock.now()
        row = await self.store.create(
            SmsRow(key, clinic_id, target_id, phone, body, self.provider, SmsStatus.PENDING, now)
        )
        if row.status is not SmsStatus.PENDING:
            return row  # sent (or given up) before: the idempotency guarantee
        if self.gateway is None:
            await self.store.failed(
                key, "SMS-шлюз не настроен ([sms] provider)", now, status=SmsStatus.SKIPPED
            )
            return await self._reread(key)
        message = OutgoingSms(key=key, to=row.phone, body=row.body, status_callback=self.callback_url(key))
        if row.created_at < now:
            # This key was written by an earlier run that may have died mid-send: ask before sending again.
            found = await self.gateway.find_sent(message, self.clock.outside(row.created_at) - LOOKUP_MARGIN)
            if found is not None:
                log.info("sms %s was already accepted as %s; not sending again", key, found.provider_id)
                await self.store.accepted(key, found.provider_id, found.status, self.clock.now())
                self.changed.set()
                return await self._reread(key)
        try:
            receipt = await self.gateway.send(message)
        except SmsError as err:
            if err.retryable:
                raise SmsRetryLater(str(err)) from err
            log.warning("sms %s to %s refused: %s", key, mask_phone(row.phone), err)
            await self.store.failed(key, str(err), self.clock.now())
            self.changed.set()
            return await self._reread(key)
        log.info("sms %s to %s accepted as %s", key, mask_phone(row.phone), receipt.provider_id)
        await self.store.accepted(key, receipt.provider_id, receipt.status, self.clock.now())
        self.changed.set()
        return await self._reread(key)

    async def _reread(self, key: str) -> SmsRow:
        row = await self.store.get(key)
        if row is None:
            raise LookupError(f"sms {key} vanished from storage")
        return row

    async def apply(self, provider: str, update: SmsStatusUpdate) -> SmsRow | None:
        """A status only moves forward. A report bound to one message (`update.key`) counts for that message
        only, and only if it names that message's gateway id: SmsCallbackRejected otherwise."""
        row = await self.store.apply_status(
            provider, update.provider_id, update.status, update.error, self.clock.now(), key=update.key
        )
        if row is None and update.key:
            known = await self.store.get(update.key)
            if known is not None and known.provider == provider:
                raise SmsCallbackRejected(f"report for {update.key} names another message")
        if row is not None:
            self.changed.set()
        return row

    async def poll_once(self) -> int:
        """Ask the gateway about every message still in flight; returns how many are left."""
        if self.gateway is None:
            return 0
        left = 0
        for row in await self.store.unsettled():
            if row.provider_id is None or row.provider != self.gateway.name:
                continue
            try:
                status = await self.gateway.fetch_status(row.provider_id)
            except SmsError as err:
                log.debug("status of %s: %s", row.sms_key, err)
                left += 1
                continue
            updated = await self.apply(row.provider, SmsStatusUpdate(row.provider_id, status))
            if updated is not None and not updated.status.is_final:
                left += 1
        return left

    async def poll_forever(self, interval: timedelta, *, reports_by_callback: bool) -> None:
        """Ask about unsettled messages every `interval`; when the gateway reports by callback, polling is a
        safety net, at most every five minutes."""
        if reports_by_callback:
            interval = max(interval, CALLBACK_SAFETY_POLL)

        async def turn() -> None:
            await self.clock.sleep(interval.total_seconds())
            await self.poll_once()

        await forever("sms-status", turn, self.clock)
