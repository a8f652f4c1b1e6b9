"""A complaint marked in the wrap-up: kept with its contact, and a class A one (quality or safety) told to the
senior administrator at once, on the board and by SMS, once (tried again while the gateway cannot take it)."""

from __future__ import annotations

import logging
from datetime import datetime

from dialer.core.alerts import AlertKind
from dialer.core.complaints import ComplaintStore, alert_text
from dialer.core.quality import ComplaintClass
from dialer.core.records import WrapupRow
from dialer.core.staff import UserRow
from dialer.core.wrapup import MarkedComplaint
from dialer.engine.alerts import AlertStore, text_supervisor
from dialer.engine.complaint_sms import SupervisorSms
from dialer.engine.sms import SmsRetryLater, SmsSender
from dialer.settings import Settings

log = logging.getLogger("dialer.complaints")


class ComplaintDesk:
    def __init__(
        self,
        *,
        settings: Settings,
        store: ComplaintStore,
        alerts: AlertStore,
        sms: SmsSender,
        texts: SupervisorSms | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.alerts = alerts
        self.sms = sms
        self.texts = texts  # with it, an SMS the gateway could not take is tried again

    async def record(self, row: WrapupRow, complaint: MarkedComplaint, user: UserRow, now: datetime) -> int:
        complaint_id = await self.store.add(
            clinic_id=row.clinic_id,
            call_ref=row.call_ref,
            user_id=user.user_id,
            complaint_class=complaint.complaint_class,
            comment=complaint.comment,
            at=now,
        )
        log.info("complaint %s of class %s on call %s", complaint_id, complaint.complaint_class, row.call_ref)
        if complaint.complaint_class is ComplaintClass.A:
            await self.escalate(row.clinic_id, complaint_id, user, now)
        return complaint_id

    async def escalate(self, clinic_id: str, complaint_id: int, user: UserRow, now: datetime) -> None:
        """The board's alert and the SMS; a complaint already told is not told again."""
        clinic = self.settings.clinics.get(clinic_id)
        if clinic is None or not await self.store.claim_alert(complaint_id, now):
            return
        text = alert_text(clinic.name, complaint_id, user.display_name)
        alert_id = await self.alerts.raise_(clinic.id, AlertKind.COMPLAINT.value, now, text)
        if self.texts is not None:
            await self.texts.first_try(clinic, alert_id, text)
            return
        try:
            await text_supervisor(self.sms, clinic, alert_id, text)
        except SmsRetryLater as err:
            log.warning("complaint %s: SMS to the senior administrator not sent: %s", complaint_id, err)
