"""КОС at work: the senior administrator's daily plan, rounds of calls, dates moved a week for every round that
does not reach the patient, Отказ «не дозвонились» after the last one, and the statuses the administrators
give in the wrap-up. Every status change goes to the clinic's own system by webhook."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Protocol

from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.kos import after_round_nobody_free, after_round_unreached, after_wrapup, round_day
from dialer.campaigns.plan import resolve_day_windows
from dialer.campaigns.planner import StopReason
from dialer.core.clock import Clock
from dialer.core.recalls import RecallChange, RecallRecord, RecallStatus
from dialer.core.wrapup import WrapupForm
from dialer.engine.progressive import ProgressiveTarget
from dialer.settings import Settings

log = logging.getLogger("dialer.kos")


class RecallStore(Protocol):
    async def plan_day(
        self, clinic_id: str, day: date, limit: int, day_start: datetime, now: datetime
    ) -> list[int]: ...

    async def by_target(self, target_id: int) -> tuple[RecallRecord, bool, datetime] | None: ...

    async def close_round(self, target_id: int, reason: str, now: datetime) -> None: ...

    async def change(
        self, recall_id: int, change: RecallChange, *, now: datetime, close_target: int, event: dict[str, str]
    ) -> None: ...


class KosSource:
    campaign = CampaignKind.KOS

    def __init__(self, *, settings: Settings, recalls: RecallStore, clock: Clock) -> None:
        self.settings = settings
        self.recalls = recalls
        self.clock = clock
        # The recalls told "not called today", by the clinic's day they were told on: said once a day each.
        self._not_called: dict[int, date] = {}

    def _today(self, clinic_id: str) -> date:
        return self.clock.now().astimezone(self.settings.clinic(clinic_id).timezone).date()

    async def day_targets(self, clinic_id: str, now: datetime) -> list[int]:
        clinic = self.settings.clinic(clinic_id)
        limit = clinic.kos_per_day if clinic.kos_per_day is not None else self.settings.kos.per_day
        zone = self.settings.clinic(clinic_id).timezone
        day = self._today(clinic_id)
        day_start = datetime.combine(day, time(0), zone)
        return await self.recalls.plan_day(clinic_id, day, limit, day_start, now)

    async def target(self, target_id: int) -> ProgressiveTarget | None:
        found = await self.recalls.by_target(target_id)
        if found is None:
            return None
        recall, current, _ = found
        clinic = self.settings.clinic(recall.clinic_id)
        day = round_day(recall.target_day, self._today(recall.clinic_id))
        windows = resolve_day_windows((self.settings.kos.round_window,), day, clinic.timezone)
        return ProgressiveTarget(target_id, recall.clinic_id, recall.phone, tuple(windows), current)

    async def stopped(
        self, target_id: int, reason: StopReason, contacted: bool, calls: int, *, picked_up: bool
    ) -> None:
        found = await self.recalls.by_target(target_id)
        if found is None or not found[1]:
            return
        recall = found[0]
        now = self.clock.now()
        if contacted:
            await self.recalls.close_round(target_id, "contacted", now)  # the administrator's wrap-up decides
            return
        if reason is StopReason.NOT_REACHED and calls == 0:
            # No administrator was free all through the window: the patient was not tried, so the round is
            # neither counted nor moved a week; it stays open and goes on at the next day's plan. Every sweep
            # of the day comes back here; it is said once that day.
            today = self._today(recall.clinic_id)
            if self._not_called.get(target_id) != today:
                self._not_called = {t: d for t, d in self._not_called.items() if d >= today}
                self._not_called[target_id] = today
                log.info(
                    "recall %s: not called today, no administrator free; goes on tomorrow", recall.recall_id
                )
            return
        kos = self.settings.kos
        today = self._today(recall.clinic_id)
        if picked_up:
            change = after_round_nobody_free(recall.target_day, today, kos.gap.days)
            await self._change(recall, change, target_id, {"source": "dialer"})
            log.warning(
                "recall %s: answered, but no administrator was free; moved to %s, not counted as unreached",
                recall.recall_id,
                change.target_day,
            )
            return
        change = after_round_unreached(recall.moves, recall.target_day, today, kos.moves, kos.gap.days)
        await self._change(recall, change, target_id, {"source": "dialer"})
        if change.status is RecallStatus.REFUSED:
            log.info("recall %s: Отказ «%s» after %d rounds", recall.recall_id, change.reason, change.moves)
        else:
            log.info("recall %s: not reached, moved to %s", recall.recall_id, change.target_day)

    async def wrapped_up(self, target_id: int, form: WrapupForm, operator: str) -> None:
        """The administrator's result becomes the recall's status in the journal's words."""
        found = await self.recalls.by_target(target_id)
        if found is None:
            return
        recall = found[0]
        change = after_wrapup(form, self._today(recall.clinic_id), self.settings.kos.gap.days)
        await self._change(recall, change, target_id, {"source": "operator", "operator": operator})

    async def _change(
        self, recall: RecallRecord, change: RecallChange, target_id: int, event: dict[str, str]
    ) -> None:
        await self.recalls.change(
            recall.recall_id, change, now=self.clock.now(), close_target=target_id, event=event
        )
