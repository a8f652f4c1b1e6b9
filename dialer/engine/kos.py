"""КОС at work: the senior administrator's daily plan, rounds of calls, dates moved a week for every round that
does not reach the patient, Отказ «не дозвонились» after the last one, and the statuses the administrators
give in the wrap-up. Every status change goes to the clinic's own system by webhook."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from dialer.campaigns.plan import resolve_day_windows
from dialer.campaigns.planner import StopReason
from dialer.core.clock import Clock
from dialer.core.recalls import NOT_REACHED, RecallRecord, RecallStatus, after_unreached
from dialer.core.wrapup import WrapupForm
from dialer.engine.progressive import ProgressiveTarget
from dialer.settings import Settings

log = logging.getLogger("dialer.kos")

CAMPAIGN = "kos"
NO_ANSWER_REASON = "не берёт трубку"


class RecallStore(Protocol):
    async def plan_day(
        self, clinic_id: str, day: date, limit: int, day_start: datetime, now: datetime
    ) -> list[int]: ...

    async def by_target(self, target_id: int) -> tuple[RecallRecord, bool, datetime] | None: ...

    async def close_round(self, target_id: int, reason: str, now: datetime) -> None: ...

    async def change(
        self,
        recall_id: int,
        *,
        status: RecallStatus,
        now: datetime,
        reason: str = "",
        comment: str = "",
        target_day: date | None = None,
        booked_day: date | None = None,
        moves: int | None = None,
        close_target: int | None = None,
        event: dict[str, Any],
    ) -> None: ...


class KosSource:
    campaign = CAMPAIGN

    def __init__(self, *, settings: Settings, recalls: RecallStore, clock: Clock) -> None:
        self.settings = settings
        self.recalls = recalls
        self.clock = clock

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
        # A round not finished on its day (the service was down, the window closed early) goes on today.
        day = max(recall.target_day, self._today(recall.clinic_id))
        windows = resolve_day_windows((self.settings.kos.round_window,), day, clinic.timezone)
        return ProgressiveTarget(target_id, recall.clinic_id, recall.phone, tuple(windows), current)

    async def stopped(self, target_id: int, reason: StopReason, contacted: bool) -> None:
        found = await self.recalls.by_target(target_id)
        if found is None or not found[1]:
            return
        recall = found[0]
        now = self.clock.now()
        if contacted:
            await self.recalls.close_round(target_id, "contacted", now)  # the administrator's wrap-up decides
            return
        kos = self.settings.kos
        start = max(recall.target_day, self._today(recall.clinic_id))
        moved = after_unreached(recall.moves, start, kos.moves, kos.gap.days or 1)
        if moved.refused:
            await self.recalls.change(
                recall.recall_id,
                status=RecallStatus.REFUSED,
                now=now,
                reason=NOT_REACHED,
                moves=moved.moves,
                close_target=target_id,
                event={"source": "dialer"},
            )
            log.info("recall %s: Отказ «%s» after %d rounds", recall.recall_id, NOT_REACHED, moved.moves)
        else:
            await self.recalls.change(
                recall.recall_id,
                status=RecallStatus.CALL,
                now=now,
                reason=NO_ANSWER_REASON,
                target_day=moved.target_day,
                moves=moved.moves,
                close_target=target_id,
                event={"source": "dialer"},
            )
            log.info("recall %s: not reached, moved to %s", recall.recall_id, moved.target_day)

    async def wrapped_up(self, target_id: int, form: WrapupForm, operator: str) -> None:
        """The administrator's result becomes the recall's status in the journal's words."""
        found = await self.recalls.by_target(target_id)
        if found is None:
            return
        recall = found[0]
        now = self.clock.now()
        event = {"source": "operator", "operator": operator}
        if form.result == "booked":
            await self.recalls.change(
                recall.recall_id,
                status=RecallStatus.BOOKED,
                now=now,
                comment=form.comment,
                booked_day=form.visit_day,
                close_target=target_id,
                event=event,
            )
        elif form.result == "refused":
            await self.recalls.change(
                recall.recall_id,
                status=RecallStatus.REFUSED,
                now=now,
                reason=form.reason,
                comment=form.comment,
                close_target=target_id,
                event=event,
            )
        else:
            # Звать: the patient was reached, so this is not one of the unanswered rounds; the date is theirs.
            day = form.call_again_day or self._today(recall.clinic_id) + timedelta(
                days=self.settings.kos.gap.days
            )
            await self.recalls.change(
                recall.recall_id,
                status=RecallStatus.CALL,
                now=now,
                reason=form.reason or "просто позвонил без результата",
                comment=form.comment,
                target_day=day,
                close_target=target_id,
                event=event,
            )
