"""The post-visit IVR calls: the follow-up N days after a visit ("press 1 if all is well, 2 to talk to us") and
the 1-5 survey. Configurations of the same planner as reminders; an answer that needs people becomes work for
them: a diary call for "talk to us", an alert to the senior administrator for a low rating."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from dialer.campaigns.plan import resolve_day_windows
from dialer.campaigns.planner import Dial, Step, Stop, Target, next_step
from dialer.core.clock import Clock
from dialer.core.facts import PatientLeg
from dialer.core.ids import AttemptId, sms_key
from dialer.core.phones import dial_forms
from dialer.core.ports import OriginateRequest
from dialer.core.records import AttemptRow, AttemptState, DueTask, Settled, TaskKind
from dialer.core.stores import AttemptStore, DueStore
from dialer.engine.calls import CallDesk, attempt_row
from dialer.engine.loops import consume
from dialer.engine.sms import SmsRetryLater, SmsSender
from dialer.settings import IvrCampaignSettings, Settings

log = logging.getLogger("dialer.ivr")

FOLLOWUP, SURVEY = "followup", "survey"
CONTEXTS = {FOLLOWUP: "dialer-followup", SURVEY: "dialer-survey"}
TALK_TO_US = "2"


class IvrStore(Protocol):
    async def target(self, target_id: int) -> dict[str, Any] | None: ...

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


class IvrFlow:
    def __init__(
        self,
        *,
        settings: Settings,
        store: IvrStore,
        attempts: AttemptStore,
        due: DueStore,
        desk: CallDesk,
        alerts: AlertSink,
        sms: SmsSender,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.attempts = attempts
        self.due = due
        self.desk = desk
        self.alerts = alerts
        self.sms = sms
        self.clock = clock
        self.wake: Callable[[], None] = lambda: None
        self._work: asyncio.Queue[_Answer | tuple[str, int]] = asyncio.Queue()
        for campaign in CONTEXTS:
            desk.handlers[campaign] = self

    def _campaign(self, campaign: str) -> IvrCampaignSettings:
        return self.settings.followup if campaign == FOLLOWUP else self.settings.survey

    async def prepare_day(self) -> int:
        now = self.clock.now()
        count = 0
        for campaign in CONTEXTS:
            config = self._campaign(campaign)
            if not config.enabled:
                continue
            for clinic in self.settings.clinics.values():
                visit_day = now.astimezone(clinic.timezone).date() - timedelta(days=config.days_after)
                for target_id in await self.store.visits_of(clinic.id, campaign, visit_day, now):
                    await self.plan(campaign, target_id)
                    count += 1
        return count

    async def _step(
        self, campaign: str, target_id: int, target: dict[str, Any]
    ) -> tuple[Step, list[AttemptRow]]:
        clinic = self.settings.clinic(target["clinic_id"])
        day = target["created_at"].astimezone(clinic.timezone).date()
        windows = tuple(resolve_day_windows(self._campaign(campaign).plan.windows, day, clinic.timezone))
        rows = await self.attempts.history(target_id)
        records = [r.as_record() for r in rows if r.state is not AttemptState.UNPLACED]
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
        if target is None or target["state"] != "active":
            return
        clinic = self.settings.clinic(target["clinic_id"])
        step, rows = await self._step(campaign, target_id, target)
        if isinstance(step, Dial):
            n = max((r.n for r in rows), default=0) + 1
            await self.due.schedule(
                DueTask(
                    f"dial:{self.desk.attempt_id(campaign, target_id, n)}",
                    clinic.id,
                    TaskKind.DIAL,
                    campaign,
                    target_id,
                    step.at,
                )
            )
            self.wake()
        elif isinstance(step, Stop):
            await self.store.close_target(target_id, step.reason.value, self.clock.now())

    async def run_dial(self, task: DueTask) -> None:
        attempt_id = AttemptId.parse(task.task_id.removeprefix("dial:"))
        target = await self.store.target(task.target_id)
        if (
            target is None
            or target["state"] != "active"
            or await self.attempts.get(str(attempt_id)) is not None
        ):
            await self.due.finish(task.task_id, cancelled=True)
            return
        trunk = self.settings.trunk_for(target["clinic_id"])
        pacer = self.desk.pacers[trunk.name]
        await pacer.acquire()
        try:
            if await self._not_now(task, target):
                pacer.release()
                return
            request = OriginateRequest(
                attempt_id=str(attempt_id),
                channel=trunk.dial.format(**dial_forms(target["phone"])),
                context=CONTEXTS[task.campaign],
                exten="s",
                timeout_ms=int(trunk.ring_timeout.total_seconds() * 1000),
                caller_id=trunk.caller_id,
                variables={"DIALER_ATTEMPT": str(attempt_id)},
            )
            row = attempt_row(
                attempt_id=attempt_id,
                clinic_id=target["clinic_id"],
                phone=target["phone"],
                trunk=trunk.name,
                now=self.clock.now(),
            )
        except BaseException:
            pacer.release()
            raise
        await self.desk.place(row, request)
        await self.due.finish(task.task_id)

    async def _not_now(self, task: DueTask, target: dict[str, Any]) -> bool:
        """Outside the clinic's calling hours (a task due while the service was down, a long wait for the
        trunk): no call now; the plan's next allowed time instead, or the plan's end."""
        clinic = self.settings.clinic(target["clinic_id"])
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
        valid = digit in ("1", "2") if campaign == FOLLOWUP else digit in "12345"
        if not valid:
            return Settled.OPEN
        self._work.put_nowait(_Answer(attempt, digit, at))
        return Settled.FINAL

    def patient_leg(self, attempt: AttemptRow, leg: PatientLeg) -> Settled:
        return Settled.OPEN

    def queued(self, attempt: AttemptRow, queue: str, at: datetime) -> None:
        return None

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
        clinic = self.settings.clinic(target["clinic_id"])
        fresh = await self.store.feedback(
            clinic.id, target["subject_id"], campaign, answer.digit, answer.attempt.attempt_id, answer.at
        )
        if not fresh:
            return
        now = self.clock.now()
        if campaign == FOLLOWUP and answer.digit == TALK_TO_US:
            await self.store.add_diary(
                clinic.id,
                target["phone"],
                target["patient_id"] or None,
                now.astimezone(clinic.timezone).date(),
                "После визита: пациент просит связаться (опрос самочувствия)",
                now,
            )
            log.info(
                "follow-up of %s: the patient asks to talk; a diary call for today", target["subject_id"]
            )
        elif campaign == SURVEY and int(answer.digit) <= self.settings.survey.low_rating:
            detail = f"оценка {answer.digit} из 5, запись {target['subject_id']}"
            alert_id = await self.alerts.raise_(clinic.id, "low_rating", now, detail)
            if clinic.supervisor_phone:
                try:
                    await self.sms.send(
                        key=sms_key("alert", alert_id, "raised"),
                        clinic_id=clinic.id,
                        target_id=None,
                        phone=clinic.supervisor_phone,
                        body=f"{clinic.name}: низкая оценка визита. {detail}",
                    )
                except SmsRetryLater as err:
                    log.warning("low-rating SMS not sent: %s", err)
