"""The diary (ежедневник) and waiting-list offers as progressive calls the administrators take."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.plan import Window, resolve_day_windows
from dialer.campaigns.planner import StopReason
from dialer.core.clock import Clock
from dialer.core.ids import sms_key
from dialer.core.records import TargetState
from dialer.core.worklist_states import DiaryState, OfferState, WaitingState
from dialer.core.worklists import DiaryEntry, Offer, OfferMade
from dialer.core.wrapup import WrapupForm
from dialer.engine.progressive import ProgressiveTarget
from dialer.engine.sms import SmsRetryLater, SmsSender, clinic_sms
from dialer.settings import Settings

log = logging.getLogger("dialer.worklists")

OFFER_CALL_BEFORE_SLOT = timedelta(minutes=30)


class WorklistStore(Protocol):
    async def close_target(self, target_id: int, reason: str, now: datetime) -> None: ...

    async def diary_day(self, clinic_id: str, day: date, now: datetime) -> list[int]: ...

    async def diary_entry(self, target_id: int) -> DiaryEntry | None: ...

    async def diary_move(self, entry_id: int, day: date) -> None: ...

    async def diary_done(self, entry_id: int) -> None: ...

    async def next_offer(self, clinic_id: str, appointment_id: str, now: datetime) -> OfferMade | None: ...

    async def next_offers(
        self, freed: Sequence[tuple[str, str]], now: datetime
    ) -> list[tuple[str, OfferMade]]: ...

    async def offer(self, target_id: int) -> Offer | None: ...

    async def offer_state(
        self, offer_id: int, state: OfferState, now: datetime, entry_state: WaitingState | None = None
    ) -> None: ...


class DiarySource:
    """The day's diary is worked like KOS; an entry not reached moves to the next day."""

    campaign = CampaignKind.DIARY

    def __init__(self, *, settings: Settings, store: WorklistStore, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock

    async def day_targets(self, clinic_id: str, now: datetime) -> list[int]:
        return await self.store.diary_day(
            clinic_id, now.astimezone(self.settings.clinic(clinic_id).timezone).date(), now
        )

    async def target(self, target_id: int) -> ProgressiveTarget | None:
        entry = await self.store.diary_entry(target_id)
        if entry is None:
            return None
        clinic = self.settings.clinic(entry.clinic_id)
        windows = resolve_day_windows((self.settings.kos.round_window,), entry.target_day, clinic.timezone)
        active = entry.target_state is TargetState.ACTIVE and entry.state is DiaryState.OPEN
        return ProgressiveTarget(target_id, entry.clinic_id, entry.phone, tuple(windows), active)

    async def stopped(
        self, target_id: int, reason: StopReason, contacted: bool, calls: int, *, picked_up: bool
    ) -> None:
        entry = await self.store.diary_entry(target_id)
        if entry is None:
            return
        await self.store.close_target(target_id, "contacted" if contacted else reason.value, self.clock.now())
        if not contacted:
            await self.store.diary_move(entry.entry_id, entry.target_day + timedelta(days=1))

    async def wrapped_up(self, target_id: int, form: WrapupForm, operator: str) -> None:
        entry = await self.store.diary_entry(target_id)
        if entry is not None:
            await self.store.diary_done(entry.entry_id)  # a new date, if any, is a new entry of the wrap-up


class OfferSource:
    """A freed slot goes to the waiting list in priority order: an SMS first, then after the reply window a call."""

    campaign = CampaignKind.OFFER

    def __init__(self, *, settings: Settings, store: WorklistStore, sms: SmsSender, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.sms = sms
        self.clock = clock

    async def day_targets(self, clinic_id: str, now: datetime) -> list[int]:
        return []  # offers start from a cancellation, not from a daily list

    async def slot_freed(self, clinic_id: str, appointment_id: str) -> int | None:
        """Offer the slot to the next patient on the waiting list by SMS; the target whose call the
        progressive flow plans next, if anyone waits."""
        made = await self.store.next_offers([(clinic_id, appointment_id)], self.clock.now())
        if not made:
            log.info("slot of %s freed; nobody on the waiting list for it", appointment_id)
            return None
        await self._text(*made[0])
        return made[0][1].target_id

    async def slots_freed(self, freed: Sequence[tuple[str, str]]) -> list[int]:
        """Offer several freed (clinic, appointment) slots at once, each to its own waiting patient, written
        together; the SMS of each offer once they are stored. The targets whose calls follow."""
        made = await self.store.next_offers(freed, self.clock.now())
        if len(made) < len(freed):
            log.info(
                "%d slots freed; %d offered, the rest has nobody suitable waiting", len(freed), len(made)
            )
        for clinic_id, offer in made:
            await self._text(clinic_id, offer)
        return [offer.target_id for _, offer in made if offer.target_id is not None]

    async def _text(self, clinic_id: str, offer: OfferMade) -> None:
        body = clinic_sms(self.settings.waiting_list.sms, self.settings.clinic(clinic_id), offer.slot_at)
        try:
            await self.sms.send(
                key=sms_key(CampaignKind.OFFER, offer.offer_id, "offer"),
                clinic_id=clinic_id,
                target_id=offer.target_id,
                phone=offer.phone,
                body=body,
            )
        except SmsRetryLater as err:
            log.warning("offer SMS not sent now (%s); the call still follows", err)

    async def target(self, target_id: int) -> ProgressiveTarget | None:
        offer = await self.store.offer(target_id)
        if offer is None:
            return None
        start = offer.sms_at + self.settings.waiting_list.reply_window
        end = offer.slot_at - OFFER_CALL_BEFORE_SLOT
        windows = (Window(start, end, 2, timedelta(minutes=5)),) if end > start else ()
        active = offer.target_state is TargetState.ACTIVE and offer.state is OfferState.OFFERED
        return ProgressiveTarget(target_id, offer.clinic_id, offer.phone, windows, active)

    async def stopped(
        self, target_id: int, reason: StopReason, contacted: bool, calls: int, *, picked_up: bool
    ) -> int | None:
        offer = await self.store.offer(target_id)
        if offer is None:
            return None
        await self.store.close_target(target_id, "contacted" if contacted else reason.value, self.clock.now())
        if contacted:
            return None
        await self.store.offer_state(offer.offer_id, OfferState.EXPIRED, self.clock.now())
        return await self.slot_freed(offer.clinic_id, offer.appointment_id)

    async def wrapped_up(self, target_id: int, form: WrapupForm, operator: str) -> int | None:
        offer = await self.store.offer(target_id)
        if offer is None:
            return None
        if form.result == "booked":
            await self.store.offer_state(
                offer.offer_id, OfferState.BOOKED, self.clock.now(), entry_state=WaitingState.BOOKED
            )
            return None
        await self.store.offer_state(offer.offer_id, OfferState.DECLINED, self.clock.now())
        return await self.slot_freed(offer.clinic_id, offer.appointment_id)
