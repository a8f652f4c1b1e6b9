"""The post-visit IVR calls: the follow-up N days after a visit ("press 1 if all is well, 2 to talk to us") and
the 1-5 survey. Configurations of the same planner as reminders; an answer that needs people becomes work for
them: a diary call for "talk to us", an alert to the senior administrator for a low rating."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from dialer.campaigns.kinds import POST_VISIT, CampaignKind
from dialer.campaigns.plan import resolve_day_windows
from dialer.campaigns.planner import Dial, Step, Stop, Target, next_step
from dialer.campaigns.post_visit import (
    DIALPLAN_CONTEXTS,
    TALK_TO_US_COMMENT,
    asks_to_talk,
    is_answer,
    is_low_rating,
    low_rating_detail,
)
from dialer.core.ids import AttemptId
from dialer.core.records import AttemptRow, DueTask, Settled, TargetState, TaskKind
from dialer.core.worklists import TargetRow
from dialer.engine.alerts import text_supervisor
from dialer.engine.loops import consume
from dialer.engine.runner import CampaignFlow, FlowBasics, placed_records
from dialer.engine.sms import SmsRetryLater, SmsSender
from dialer.engine.worker import DueRunners
from dialer.settings import IvrCampaignSettings

log = logging.getLogger("dialer.ivr")


class IvrStore(Protocol):
    async def target(self, target_id: int) -> TargetRow | None: ...

    async def close_target(self, target_id: int, reason: str, now: datetime) -> None: ...

    async def visits_of(self, clinic_id: str, campaign: str, day: date, now: datetime) -> list[int]: ...

    async def feedback(
        self, clinic_id: str, appointment_id: str, kind: str, digit: str, attempt_id: str, at: datetime
    ) -> bool: ...

    async def add_diary(
        self, clinic_id: str, phone: str, patient_id: str | None, day: date, comment: str, now: datetime
    ) -> None: ...


class AlertSink(Protocol):
    async def raise_(self, clinic_id: str, kind: str, at: datetime, detail: str) -> int: ...


@dataclass(frozen=True)
class _Answer:
    attempt: AttemptRow
    digit: str
    at: datetime


class IvrFlow(CampaignFlow):
    campaigns = tuple(DIALPLAN_CONTEXTS)  # whose call facts the desk sends here

    @property
    def due_runners(self) -> DueRunners:
        return tuple((TaskKind.DIAL, campaign, self.run_dial) for campaign in POST_VISIT)

    def __init__(
        self,
        *,
        basics: FlowBasics,
        store: IvrStore,
        alerts: AlertSink,
        sms: SmsSender,
    ) -> None:
        super().__init__(basics, sms)
        self.store = store
        self.alerts = alerts
        self.sms = sms
        self._work: asyncio.Queue[_Answer | tuple[str, int]] = asyncio.Queue()

    def _campaign(self, campaign: str) -> IvrCampaignSettings:
        return self.settings.followup if campaign == CampaignKind.FOLLOWUP else self.settings.survey

    async def prepare_day(self) -> int:
        now = self.clock.now()
        count = 0
        for campaign in DIALPLAN_CONTEXTS:
            config = self._campaign(campaign)
            if not config.enabled:
                continue
            for clinic in self.settings.clinics.values():
                visit_day = now.astimezone(clinic.timezone).date() - timedelta(days=config.days_after)
                for target_id in await self.store.visits_of(clinic.id, campaign, visit_day, now):
                    await self.plan(campaign, target_id)
                    count += 1
        return count

    async def _step(self, campaign: str, target_id: int, target: TargetRow) -> tuple[Step, list[AttemptRow]]:
        clinic = self.settings.clinic(target.clinic_id)
        day = target.created_at.astimezone(clinic.timezone).date()
        windows = tuple(resolve_day_windows(self._campaign(campaign).plan.windows, day, clinic.timezone))
        rows = await self.attempts.history(target_id)
        records = placed_records(rows)
        view = Target(
            windows=windows,
            may_call=True,
            may_sms=False,
            sms_done=True,
            retry_when_no_digit=False,
            zone=clinic.timezone,
            calling_hours=clinic.calling_hours,
        )
        return next_step(view, records, self.clock.now()), rows

    async def plan(self, campaign: str, target_id: int) -> None:
        target = await self.store.target(target_id)
        if target is None or target.state is not TargetState.ACTIVE:
            return
        clinic = self.settings.clinic(target.clinic_id)
        step, rows = await self._step(campaign, target_id, target)
        if isinstance(step, Dial):
            await self.runner.schedule_dial(campaign, target_id, clinic.id, step.at, rows)
            self.wake()
        elif isinstance(step, Stop):
            await self.store.close_target(target_id, step.reason.value, self.clock.now())

    async def run_dial(self, task: DueTask) -> None:
        target = await self.store.target(task.target_id)
        attempt_id = await self.runner.claim(task, target is not None and target.state is TargetState.ACTIVE)
        if target is None or attempt_id is None:
            return
        async with self.runner.slot(target.clinic_id) as slot:
            if await self._not_now(task, target):
                return
            context = DIALPLAN_CONTEXTS[CampaignKind(task.campaign)]
            machines = self.runner.machine_variables(target.clinic_id, self._campaign(task.campaign).machines)
            call = self.runner.patient_call(attempt_id, target.clinic_id, target.phone, context, machines)
            await self.runner.place(task, attempt_id, call, slot)

    async def _not_now(self, task: DueTask, target: TargetRow) -> bool:
        """Outside the clinic's calling hours (a task due while the service was down, a long wait for the
        trunk): no call now; the plan's next allowed time instead, or the plan's end."""
        clinic = self.settings.clinic(target.clinic_id)
        if clinic.calling_hours.allows(self.clock.now(), clinic.timezone):
            return False
        step, _ = await self._step(task.campaign, task.target_id, target)
        if isinstance(step, Dial):
            # The same attempt, later: a cancelled task id could not be scheduled again.
            await self.due.retry_later(task.task_id, step.at)
        else:
            await self.due.finish(task.task_id, cancelled=True)
            await self.plan(task.campaign, task.target_id)
        return True

    # -- call facts ------------------------------------------------------------------------------------

    def digit_pressed(self, attempt: AttemptRow, digit: str, at: datetime) -> Settled:
        campaign = AttemptId.parse(attempt.attempt_id).campaign
        if not is_answer(campaign, digit):
            return Settled.OPEN
        self._work.put_nowait(_Answer(attempt, digit, at))
        return Settled.FINAL

    def finished(self, attempt: AttemptRow) -> None:
        self._work.put_nowait((AttemptId.parse(attempt.attempt_id).campaign, attempt.target_id))

    async def run(self) -> None:
        await consume("post-visit", self._work, self._follow_up, self.clock)

    async def _follow_up(self, work: _Answer | tuple[str, int]) -> None:
        if isinstance(work, _Answer):
            await self._answered(work)
        else:
            await self.plan(*work)

    async def _answered(self, answer: _Answer) -> None:
        campaign = AttemptId.parse(answer.attempt.attempt_id).campaign
        target = await self.store.target(answer.attempt.target_id)
        if target is None:
            return
        clinic = self.settings.clinic(target.clinic_id)
        fresh = await self.store.feedback(
            clinic.id, target.subject_id, campaign, answer.digit, answer.attempt.attempt_id, answer.at
        )
        if not fresh:
            return
        now = self.clock.now()
        if asks_to_talk(campaign, answer.digit):
            await self.store.add_diary(
                clinic.id,
                target.phone,
                target.patient_id or None,
                now.astimezone(clinic.timezone).date(),
                TALK_TO_US_COMMENT,
                now,
            )
            log.info("follow-up of %s: the patient asks to talk; a diary call for today", target.subject_id)
        elif is_low_rating(campaign, answer.digit, self.settings.survey.low_rating):
            detail = low_rating_detail(answer.digit, target.subject_id)
            alert_id = await self.alerts.raise_(clinic.id, "low_rating", now, detail)
            try:
                await text_supervisor(
                    self.sms, clinic, alert_id, f"{clinic.name}: низкая оценка визита. {detail}"
                )
            except SmsRetryLater as err:
                log.warning("low-rating SMS not sent: %s", err)
