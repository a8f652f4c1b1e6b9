"""The SMS about a class A complaint to the senior administrator: sent once (its key is the alert's); while the
gateway cannot take it, tried again with a growing wait as a due task, and the board's alert says so."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from dialer.core.clock import Clock
from dialer.core.ids import sms_key
from dialer.core.records import DueTask, SmsRow, TaskKind
from dialer.core.retry import RetryBackoff
from dialer.core.sms import SmsStatus
from dialer.core.stores import DueStore
from dialer.engine.sms import SmsRetryLater, SmsSender
from dialer.settings import ClinicSettings, Settings

log = logging.getLogger("dialer.complaints")

COMPLAINT_SMS = "complaint"  # the due task's campaign
BACKOFF = RetryBackoff(first=timedelta(seconds=30), longest=timedelta(minutes=10), max_doublings=5)
# About four and a half hours of tries: by then the senior administrator has seen the board.
MOST_TRIES = 30


class AlertNotes(Protocol):
    """The alert's line on the board, rewritten to say what became of its SMS."""

    async def note(self, alert_id: int, detail: str) -> None: ...


def task_id_of(alert_id: int) -> str:
    return f"complaint-sms:{alert_id}"


def alert_of(task: DueTask) -> int:
    return int(task.task_id.rsplit(":", 1)[1])


class SupervisorSms:
    def __init__(
        self, *, settings: Settings, alerts: AlertNotes, sms: SmsSender, due: DueStore, clock: Clock
    ) -> None:
        self.settings = settings
        self.alerts = alerts
        self.sms = sms
        self.due = due
        self.clock = clock

    async def first_try(self, clinic: ClinicSettings, alert_id: int, text: str) -> None:
        if clinic.supervisor_phone:
            await self._try(clinic, alert_id, clinic.supervisor_phone, text, None)

    async def retry(self, task: DueTask) -> None:
        """The due task's run: the message as it was first written, unless it went out meanwhile."""
        alert_id = alert_of(task)
        clinic = self.settings.clinics.get(task.clinic_id)
        row = await self.sms.store.get(sms_key("alert", alert_id, "raised"))
        if clinic is None or row is None or row.status is not SmsStatus.PENDING:
            await self.due.finish(task.task_id)
            return
        await self._try(clinic, alert_id, row.phone, row.body, task)

    async def _try(
        self, clinic: ClinicSettings, alert_id: int, phone: str, text: str, task: DueTask | None
    ) -> None:
        key = sms_key("alert", alert_id, "raised")
        try:
            row = await self.sms.send(key=key, clinic_id=clinic.id, target_id=None, phone=phone, body=text)
        except SmsRetryLater as err:
            await self._later(clinic, alert_id, text, task, str(err))
            return
        if task is not None:
            await self.due.finish(task.task_id)
        await self._settled(clinic, alert_id, text, row, retried=task is not None)

    async def _later(
        self, clinic: ClinicSettings, alert_id: int, text: str, task: DueTask | None, why: str
    ) -> None:
        tries = 0 if task is None else task.tries + 1
        if tries >= MOST_TRIES:
            log.error("complaint alert %s: SMS given up after %d tries: %s", alert_id, tries, why)
            await self.alerts.note(
                alert_id, f"{text} · SMS старшему администратору не отправлено: шлюз недоступен"
            )
            if task is not None:
                await self.due.finish(task.task_id)
            return
        due_at = self.clock.now() + BACKOFF.after(tries)
        log.warning(
            "complaint alert %s: SMS not sent (%s); next try at %s", alert_id, why, due_at.isoformat()
        )
        when = _local(due_at, clinic)
        await self.alerts.note(
            alert_id, f"{text} · SMS старшему администратору не отправлено (шлюз недоступен), повтор в {when}"
        )
        if task is None:
            # Target 0: the task is no patient's, so erasing a patient's work never takes it away.
            task = DueTask(task_id_of(alert_id), clinic.id, TaskKind.SMS, COMPLAINT_SMS, 0, due_at)
            await self.due.schedule(task)
        else:
            await self.due.retry_later(task.task_id, due_at)

    async def _settled(
        self, clinic: ClinicSettings, alert_id: int, text: str, row: SmsRow, *, retried: bool
    ) -> None:
        if row.status in (SmsStatus.FAILED, SmsStatus.UNDELIVERED, SmsStatus.SKIPPED):
            await self.alerts.note(
                alert_id, f"{text} · SMS старшему администратору не отправлено: {row.status.label}"
            )
        elif retried:
            sent = _local(self.clock.now(), clinic)
            await self.alerts.note(alert_id, f"{text} · SMS старшему администратору отправлено в {sent}")


def _local(at: datetime, clinic: ClinicSettings) -> str:
    return at.astimezone(clinic.timezone).strftime("%H:%M")
