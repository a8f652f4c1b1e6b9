"""The reminder campaign at work: plan each appointment's calls, dial, read the answers, fall back to SMS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime

from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.planner import Dial, SendSms, Stop, Target, Wait, next_step
from dialer.campaigns.reminders import (
    digit_meaning,
    doctor_prompt,
    reminder_windows,
    status_after_stop,
)
from dialer.core.ids import AttemptId, SmsKey
from dialer.core.records import (
    AttemptRow,
    DueTask,
    ReminderStatus,
    ReminderTarget,
    Settled,
    TaskKind,
)
from dialer.core.sms import SmsStatus
from dialer.core.stores import ReminderStore
from dialer.engine.loops import consume
from dialer.engine.runner import Call, CampaignFlow, FlowBasics, placed_records
from dialer.engine.sms import SmsSender, clinic_sms
from dialer.engine.worker import DueRunners

log = logging.getLogger("dialer.reminders")

SMS_PURPOSE = "not_reached"
CANCEL_TASK = "reschedule"
CHECK_PHONE_TASK = "check_phone"
CHECK_PHONE_COMMENT = "Номер не существует по ответу оператора связи: уточнить телефон пациента"
CANCEL_COMMENT = "Пациент отменил запись через автоинформатор: перенести визит или внести в лист ожидания"


class ReminderFlow(CampaignFlow):
    campaign = CampaignKind.REMINDERS
    campaigns = (CampaignKind.REMINDERS,)  # whose call facts the desk sends here

    @property
    def due_runners(self) -> DueRunners:
        return (
            (TaskKind.DIAL, CampaignKind.REMINDERS, self.run_dial),
            (TaskKind.SMS, CampaignKind.REMINDERS, self.run_sms),
        )

    def __init__(
        self,
        *,
        basics: FlowBasics,
        reminders: ReminderStore,
        sms: SmsSender,
        on_cancelled: Callable[[str, str], Awaitable[object]],
    ) -> None:
        super().__init__(basics, sms)
        self.reminders = reminders
        self.sms = sms
        # Work the call facts ask for, done here rather than on the fact path: digits to write, targets to plan.
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        # A cancelled visit frees its slot for the waiting list: (clinic, appointment id).
        self.on_cancelled = on_cancelled

    # -- planning ---------------------------------------------------------------------------------

    async def prepare_day(self, visit_day: date, clinics: Collection[str] | None = None) -> int:
        """Make the day's reminder list (of some clinics, or all) and plan every open reminder on it.
        Safe to repeat."""
        await self.reminders.ensure_targets(visit_day, self.clock.now(), clinics)
        target_ids = await self.reminders.active_targets(visit_day, clinics)
        for target_id in target_ids:
            await self.plan(target_id)
        return len(target_ids)

    def _planner_view(self, target: ReminderTarget) -> Target:
        clinic = self.settings.clinic(target.clinic_id)
        plan = self.settings.reminders.plan
        windows = reminder_windows(
            plan,
            self.settings.reminders.same_day,
            target.visit_at,
            clinic.timezone,
            clinic.calendar,
            target.high_value,
        )
        return Target(
            zone=clinic.timezone,
            calling_hours=clinic.calling_hours,
            windows=windows,
            may_call=target.consent_call and not target.do_not_call,
            may_sms=target.consent_sms,
            sms_done=target.sms_status not in (None, SmsStatus.PENDING),
            retry_when_no_digit=plan.retry_when_no_digit,
            sms_when_not_reached=plan.sms_when_not_reached,
        )

    async def _step(self, target: ReminderTarget) -> tuple[Dial | SendSms | Wait | Stop, list[AttemptRow]]:
        history = await self.attempts.history(target.target_id)
        return next_step(self._planner_view(target), placed_records(history), self.clock.now()), history

    async def plan(self, target_id: int) -> None:
        target = await self.reminders.target(target_id)
        if target is None or not target.active:
            return
        step, history = await self._step(target)
        if isinstance(step, Dial):
            await self.runner.schedule_dial(self.campaign, target_id, target.clinic_id, step.at, history)
            self.wake()
        elif isinstance(step, SendSms):
            key = SmsKey(self.campaign, target_id, SMS_PURPOSE)
            await self.runner.schedule_sms(key, target.clinic_id, step.at)
            self.wake()
        elif isinstance(step, Stop):
            last = next((a.result for a in reversed(history) if a.result is not None), None)
            settled_digit = next((a.digit for a in reversed(history) if a.settled is not Settled.OPEN), None)
            final = status_after_stop(step.reason, last, settled_digit)
            now = self.clock.now()
            if final is ReminderStatus.INVALID_NUMBER:
                await self.reminders.open_admin_task(
                    target_id,
                    CHECK_PHONE_TASK,
                    f"{CampaignKind.REMINDERS}:{target_id}",
                    CHECK_PHONE_COMMENT,
                    now,
                )
            await self.reminders.finish(target_id, final, step.reason.value, now)
            log.info("reminder %s done: %s", target_id, final.value)

    # -- due tasks --------------------------------------------------------------------------------

    async def run_dial(self, task: DueTask) -> None:
        target = await self.reminders.target(task.target_id)
        attempt_id = await self.runner.claim(task, target is not None and target.active)
        if target is None or attempt_id is None:
            return
        async with self.runner.slot(target.clinic_id) as slot:
            # Decide again now that a channel is free: the window may have closed while we waited.
            step, history = await self._step(target)
            if not self.runner.still_due(step, history, attempt_id):
                await self.runner.drop(task)
                await self.plan(target.target_id)
                return
            if target.status is ReminderStatus.PENDING:
                await self.reminders.set_status(
                    target.target_id, ReminderStatus.CALLING, None, self.clock.now()
                )
            await self.runner.place(task, attempt_id, self._call(target, attempt_id), slot)

    def _call(self, target: ReminderTarget, attempt_id: AttemptId) -> Call:
        clinic = self.settings.clinic(target.clinic_id)
        variables = {
            "DIALER_APPT_TS": str(int(target.visit_at.timestamp())),
            "DIALER_TZ": clinic.timezone.key,
            "DIALER_DOCTOR_PROMPT": doctor_prompt(target.doctor),
            "DIALER_QUEUE": clinic.queue,
            **self.runner.machine_variables(target.clinic_id, self.settings.reminders.machines),
        }
        context = self.settings.reminders.ivr_context
        return self.runner.patient_call(attempt_id, target.clinic_id, target.phone, context, variables)

    async def run_sms(self, task: DueTask) -> None:
        target = await self.reminders.target(task.target_id)
        if target is None or not target.active:
            await self.due.finish(task.task_id, cancelled=True)
            return
        clinic = self.settings.clinic(target.clinic_id)
        body = clinic_sms(self.settings.reminders.sms, clinic, target.visit_at)
        if await self.runner.send_sms(task, clinic_id=target.clinic_id, phone=target.phone, body=body):
            await self.plan(target.target_id)

    # -- call facts (on the fact path: decide at once, queue the writes) -------------------------

    def digit_pressed(self, attempt: AttemptRow, digit: str, at: datetime) -> Settled:
        meaning = digit_meaning(digit)
        self._work.put_nowait(_Work(attempt, digit=digit, at=at))
        return meaning.settled if meaning is not None else Settled.OPEN

    def queued(self, attempt: AttemptRow, queue: str, at: datetime) -> None:
        log.info("reminder %s: patient waits for an administrator in queue %s", attempt.target_id, queue)

    def finished(self, attempt: AttemptRow) -> None:
        self._work.put_nowait(_Work(attempt))

    async def run(self) -> None:
        """Write the patients' answers and plan the next steps, in the order the calls gave them."""
        await consume("reminders", self._work, self._follow_up, self.clock)

    async def _follow_up(self, work: _Work) -> None:
        if work.digit is not None:
            await self._record_digit(work.attempt, work.digit, work.at or self.clock.now())
        else:
            await self.plan(work.attempt.target_id)

    async def _record_digit(self, attempt: AttemptRow, digit: str, at: datetime) -> None:
        meaning = digit_meaning(digit)
        await self.reminders.set_status(attempt.target_id, meaning.status if meaning else None, digit, at)
        if meaning is not None and meaning.status is ReminderStatus.CANCELLED:
            await self.reminders.open_admin_task(
                attempt.target_id, CANCEL_TASK, attempt.attempt_id, CANCEL_COMMENT, at
            )
            target = await self.reminders.target(attempt.target_id)
            if target is not None:
                await self.on_cancelled(target.clinic_id, target.appointment_id)
        log.info("reminder %s: digit %s", attempt.target_id, digit)


@dataclass(frozen=True)
class _Work:
    attempt: AttemptRow
    digit: str | None = None
    at: datetime | None = None
