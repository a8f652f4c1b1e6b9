"""Watching for overload and telling the senior administrator: stored, sent by SMS, pushed to the screen."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from dialer.core.alerts import AlertBook, AlertRow, Change, Limits, Observation
from dialer.core.clock import Clock
from dialer.core.ids import sms_key
from dialer.core.privacy import describe_error
from dialer.core.queues import QueueState
from dialer.core.stores import CallbackStore
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.loops import forever
from dialer.engine.sms import SmsRetryLater, SmsSender
from dialer.settings import ClinicSettings, Settings

log = logging.getLogger("dialer.alerts")


EVERY_SECONDS = 2.0
RECENT = timedelta(minutes=15)


class AlertStore(Protocol):
    async def raise_(self, clinic_id: str, kind: str, at: datetime, detail: str) -> int: ...

    async def clear(self, clinic_id: str, kind: str, at: datetime) -> None: ...

    async def active(self, clinic_id: str | None = None) -> list[AlertRow]: ...


class RecentCalls(Protocol):
    async def recent(self, clinic_id: str, since: datetime) -> tuple[int, int]: ...


AlertListener = Callable[[str, Change], None]


class AlertWatch:
    def __init__(
        self,
        *,
        settings: Settings,
        queues: QueueState,
        tasks: CallbackStore,
        callbacks: CallbackFlow,
        recent: RecentCalls,
        store: AlertStore,
        sms: SmsSender,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.queues = queues
        self.tasks = tasks
        self.callbacks = callbacks
        self.recent = recent
        self.store = store
        self.sms = sms
        self.clock = clock
        a = settings.alerts
        limits = Limits(a.waiting_callers, a.longest_wait, a.missed_percent, a.min_calls, a.clear_after)
        self.books = {clinic_id: AlertBook(limits) for clinic_id in settings.clinics}
        self.listeners: list[AlertListener] = []

    async def run(self) -> None:
        resumed = False

        async def turn() -> None:
            nonlocal resumed
            if not resumed:
                await self._resume()
                resumed = True
            for clinic in self.settings.clinics.values():
                try:  # one clinic's trouble does not hold up the others' alerts
                    await self.check(clinic)
                except Exception as exc:
                    log.error("overload check for %s failed: %s", clinic.id, describe_error(exc))
            await self.clock.sleep(EVERY_SECONDS)

        await forever("alerts", turn, self.clock)

    async def _resume(self) -> None:
        """After a restart, an alert already up is not raised again."""
        for row in await self.store.active():
            book = self.books.get(row.clinic_id)
            if book is not None:
                book.active[row.kind] = row.raised_at

    async def observe(self, clinic: ClinicSettings) -> Observation:
        now = self.clock.now()
        queues = clinic.live_queues
        calls, missed = await self.recent.recent(clinic.id, now - RECENT)
        soon = now + self.settings.alerts.callback_due
        nobody_free = not self.callbacks.dispatcher.free(queues)
        at_risk = 0
        if nobody_free:
            at_risk = sum(
                1
                for t in await self.tasks.open_tasks(clinic.id)
                if t.first_attempt_at is None and t.starts_at <= now and t.deadline_at <= soon
            )
        return Observation(
            waiting=self.queues.waiting_count(queues),
            longest_wait=self.queues.longest_wait(queues, now),
            calls_15m=calls,
            missed_15m=missed,
            callback_at_risk=at_risk,
        )

    async def check(self, clinic: ClinicSettings) -> list[Change]:
        now = self.clock.now()
        changes = self.books[clinic.id].update(await self.observe(clinic), now)
        for change in changes:
            if change.raised:
                alert_id = await self.store.raise_(clinic.id, change.kind.value, now, change.detail)
                log.warning("alert for %s: %s (%s)", clinic.id, change.kind.label, change.detail)
                await self._notify(clinic, alert_id, change)
            else:
                await self.store.clear(clinic.id, change.kind.value, now)
                log.info("alert for %s cleared: %s", clinic.id, change.kind.label)
            for listener in self.listeners:
                listener(clinic.id, change)
        return changes

    async def _notify(self, clinic: ClinicSettings, alert_id: int, change: Change) -> None:
        body = f"{clinic.name}: {change.kind.label}. {change.detail}"
        try:
            await text_supervisor(self.sms, clinic, alert_id, body)
        except SmsRetryLater as err:
            log.warning("alert SMS to the senior administrator not sent: %s", err)


async def text_supervisor(sms: SmsSender, clinic: ClinicSettings, alert_id: int, body: str) -> None:
    """The SMS about a raised alert to the clinic's senior administrator, when the clinic has a phone for one.
    Raises SmsRetryLater when the gateway cannot take it now."""
    if not clinic.supervisor_phone:
        return
    await sms.send(
        key=sms_key("alert", alert_id, "raised"),
        clinic_id=clinic.id,
        target_id=None,
        phone=clinic.supervisor_phone,
        body=body,
    )
