"""Calling back missed callers: a task per patient, administrator first, two attempts and an SMS.

The first attempt goes out as soon as an administrator of the clinic is free: their phone rings first, and
when they pick up the patient is dialled and bridged to them. When nobody is free and the clinic allows it,
the patient is dialled first and, answering, waits at the head of the reception queue. A task closes on the
first real contact: the callback answered, the patient calling in and being answered, or an administrator's
own call to the number answered. A number whose patient said no to SMS (the schedule's «согласие на смс») gets
the calls and no SMS.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from dialer.campaigns import callbacks as policy_
from dialer.campaigns.callbacks import patient_leg_result, priority_key
from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.planner import Dial, SendSms, Stop, StopReason, Target, Wait, next_step
from dialer.core.callback_priority import WaitingCallback
from dialer.core.facts import PatientLeg
from dialer.core.ids import AttemptId, SmsKey, sms_key
from dialer.core.inbound import MissReason
from dialer.core.outcomes import CallResult
from dialer.core.phones import dial_forms
from dialer.core.ports import OriginateRequest
from dialer.core.privacy import mask_phone
from dialer.core.records import (
    AttemptRecord,
    AttemptRow,
    AttemptState,
    CallbackTask,
    CloseReason,
    DueTask,
    InboundCallRow,
    MissTaken,
    Settled,
    TaskKind,
    TaskState,
)
from dialer.core.stores import CallbackStore
from dialer.engine.dispatch import AdminDispatcher, Rank
from dialer.engine.loops import consume, until_done
from dialer.engine.queue_jump import QueueJump
from dialer.engine.runner import Call, CampaignFlow, FlowBasics, placed_records
from dialer.engine.sms import SmsSender, clinic_sms
from dialer.engine.worker import DueRunners
from dialer.settings import ClinicSettings

log = logging.getLogger("dialer.callbacks")

NOT_REACHED, AFTER_HOURS = "not_reached", "after_hours"
FOLLOW_UP_TRIES = 4  # a closing or a planning that fails is tried again after 1, 2 and 4 s


@dataclass(frozen=True)
class _Work:
    kind: str  # open | plan | close
    target_id: int = 0
    phone: str = ""
    reason: CloseReason | None = None
    at: datetime | None = None


class CallbackFlow(CampaignFlow):
    campaigns = (CampaignKind.CALLBACK, CampaignKind.AUTO_CALLBACK)  # whose call facts the desk sends here

    @property
    def due_runners(self) -> DueRunners:
        """The automatic callback is placed by the callback's own due task: it has none of its own."""
        return (
            (TaskKind.DIAL, CampaignKind.CALLBACK, self.run_dial),
            (TaskKind.SMS, CampaignKind.CALLBACK, self.run_sms),
        )

    def __init__(
        self,
        *,
        basics: FlowBasics,
        tasks: CallbackStore,
        dispatcher: AdminDispatcher,
        sms: SmsSender,
        jump: QueueJump | None = None,
    ) -> None:
        """`jump` holds an administrator for a first callback close to its deadline ahead of the queue."""
        super().__init__(basics, sms)
        self.policy = basics.settings.callbacks
        self.tasks = tasks
        self.dispatcher = dispatcher
        self.jump = jump
        self.sms = sms
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        self.resumed = asyncio.Event()  # the open tasks found at start-up are planned
        # attempt id -> the administrator rung for it (their interface) and the queues they were taken from
        self._admin_of: dict[str, tuple[str, tuple[str, ...]]] = {}

    # -- new misses and contacts --------------------------------------------------------------------

    async def register_miss(self, clinic: ClinicSettings, call: InboundCallRow) -> MissTaken | None:
        """A missed call from a patient: store it with a callback task opened for it, or counted into the
        caller's open one. None when the call was stored before (a replay)."""
        assert call.miss_reason is not None, "an answered call opens no callback"
        timing = policy_.timing(
            call.ended_at,
            self.policy,
            clinic.hours,
            clinic.timezone,
            clinic.callback_deadline,
            clinic.calling_hours,
        )
        reason = MissReason.AFTER_HOURS if timing.after_hours else call.miss_reason
        opening = CallbackTask(
            task_id=0,
            clinic_id=clinic.id,
            phone=call.caller,
            state=TaskState.OPEN,
            reason=reason.value,
            missed_count=1,
            first_call_id=call.call_id,
            first_missed_at=call.ended_at,
            last_missed_at=call.ended_at,
            starts_at=timing.starts_at,
            deadline_at=timing.deadline,
            after_hours=timing.after_hours,
            target_id=None,
        )
        taken = await self.tasks.record_miss(call, opening, self.clock.now())
        if taken is None:
            return None
        task = taken.task
        if not taken.opened:
            log.info("callback %s: another missed call from %s", task.task_id, mask_phone(call.caller))
            return taken
        log.info(
            "callback %s for %s: missed (%s), deadline %s",
            task.task_id,
            mask_phone(call.caller),
            task.reason,
            task.deadline_at.isoformat(timespec="seconds"),
        )
        # Planned by the callbacks' own loop, which tries again when a write fails: the call is stored already.
        self._work.put_nowait(_Work("open", target_id=task.target_id or 0))
        return taken

    async def _first_steps(self, task: CallbackTask) -> None:
        """An open task's first due tasks: the after-hours SMS, and its first attempt."""
        if task.target_id is None:
            return
        if (
            task.after_hours
            and await self.sms.store.get(sms_key(CampaignKind.CALLBACK, task.target_id, AFTER_HOURS)) is None
            and not await self.tasks.declines_sms(task.clinic_id, task.phone)
        ):
            await self._schedule_sms(task, AFTER_HOURS, self.clock.now())
        await self.plan(task.target_id)

    def contact(self, phone: str, reason: CloseReason, at: datetime) -> None:
        """Any real contact with this number closes its open callback tasks."""
        self._work.put_nowait(_Work("close", phone=phone, reason=reason, at=at))

    async def _close_by_phone(self, phone: str, reason: CloseReason, at: datetime) -> None:
        for clinic_id in self.settings.clinics:
            task = await self.tasks.open_task(clinic_id, phone)
            if task is not None and await self.tasks.close(task.task_id, TaskState.CONTACTED, reason, at):
                log.info("callback %s closed: %s", task.task_id, reason.value)

    # -- planning -----------------------------------------------------------------------------------

    async def _history(self, target_id: int) -> tuple[list[AttemptRecord], list[AttemptRow]]:
        rows = await self.attempts.history(target_id)
        return placed_records(rows, _callback_record), rows

    async def _step(self, task: CallbackTask) -> tuple[Dial | SendSms | Wait | Stop, list[AttemptRow]]:
        clinic = self.settings.clinic(task.clinic_id)
        timing = policy_.Timing(task.starts_at, task.deadline_at, task.after_hours)
        windows = policy_.windows(timing, self.policy, clinic.hours, clinic.timezone, clinic.calling_hours)
        sms_done = (
            await self.sms.store.get(sms_key(CampaignKind.CALLBACK, task.target_id or 0, NOT_REACHED))
        ) is not None
        target = Target(
            zone=clinic.timezone,
            calling_hours=clinic.calling_hours,
            windows=windows,
            may_call=True,
            may_sms=not await self.tasks.declines_sms(task.clinic_id, task.phone),
            sms_done=sms_done,
            retry_when_no_digit=True,
            sms_when_not_reached=True,
        )
        records, rows = await self._history(task.target_id or 0)
        return next_step(target, records, self.clock.now()), rows

    async def plan(self, target_id: int) -> None:
        task = await self.tasks.task_for_target(target_id)
        if task is None or task.state is not TaskState.OPEN:
            return
        step, rows = await self._step(task)
        if isinstance(step, Dial):
            await self.runner.schedule_dial(CampaignKind.CALLBACK, target_id, task.clinic_id, step.at, rows)
            self.wake()
        elif isinstance(step, SendSms):
            await self._schedule_sms(task, NOT_REACHED, step.at)
        elif isinstance(step, Stop):
            contacted = step.reason is StopReason.SETTLED
            state = TaskState.CONTACTED if contacted else TaskState.NOT_REACHED
            reason = CloseReason.CALLBACK_ANSWERED if contacted else CloseReason.NOT_REACHED
            if await self.tasks.close(task.task_id, state, reason, self.clock.now()):
                log.info("callback %s closed: %s", task.task_id, reason.value)

    async def _schedule_sms(self, task: CallbackTask, purpose: str, at: datetime) -> None:
        key = SmsKey(CampaignKind.CALLBACK, task.target_id or 0, purpose)
        await self.runner.schedule_sms(key, task.clinic_id, at)
        self.wake()

    # -- due tasks ----------------------------------------------------------------------------------

    async def run_dial(self, job: DueTask) -> None:
        task = await self.tasks.task_for_target(job.target_id)
        attempt_id = await self.runner.claim(job, task is not None and task.state is TaskState.OPEN)
        if task is None or attempt_id is None:
            return
        clinic = self.settings.clinic(task.clinic_id)
        queues = clinic.live_queues
        auto = clinic.callback_mode == "auto" and not self.dispatcher.free(queues)
        interface = ""
        if not auto:
            missed_at, deadline = task.first_missed_at, task.deadline_at

            def rank(now: datetime) -> tuple[float, float]:
                return priority_key(
                    self.policy,
                    missed_at=missed_at,
                    deadline=deadline,
                    due_at=job.due_at,
                    attempt_n=attempt_id.n,
                    now=now,
                )

            interface = await self._administrator(task, clinic, attempt_id, rank)
        try:
            await self._place(job, task, clinic, attempt_id, interface)
        except BaseException:
            if interface and str(attempt_id) not in self._admin_of:
                self._let_go(interface, clinic.live_queues)
            raise

    async def _administrator(
        self, task: CallbackTask, clinic: ClinicSettings, attempt_id: AttemptId, rank: Rank
    ) -> str:
        """The administrator this callback rings: the first free one when nobody waits in the queue, or, close
        to its deadline, the first one free whoever waits (held out of the queue for it)."""
        queues = clinic.live_queues
        ordinary = asyncio.create_task(self.dispatcher.acquire(queues, rank))
        if self.jump is None or not self.jump.enabled:
            return await ordinary
        now = self.clock.now()
        waiting = WaitingCallback(
            key=str(attempt_id),
            clinic_id=clinic.id,
            deadline=task.deadline_at,
            first_attempt=task.first_attempt_at is None and attempt_id.n == 1,
            open_now=clinic.hours.within(clinic.calling_hours).is_open(now, clinic.timezone),
        )
        ahead = asyncio.create_task(self.jump.take(waiting, task.task_id, queues))
        try:
            await asyncio.wait((ordinary, ahead), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (ordinary, ahead):
                pending.cancel()
            await asyncio.gather(ordinary, ahead, return_exceptions=True)
        got = {t: t.result() for t in (ordinary, ahead) if not t.cancelled() and t.exception() is None}
        if ordinary in got:
            if ahead in got:
                self._let_go(got[ahead], queues)
            return got[ordinary]
        if ahead in got:
            return got[ahead]
        for failed in (ordinary, ahead):
            if not failed.cancelled() and (error := failed.exception()) is not None:
                raise error
        raise asyncio.CancelledError

    def _let_go(self, interface: str, queues: tuple[str, ...], *, answered: bool = True) -> None:
        # Our pause first: the dispatcher hands a released administrator out again at once.
        if self.jump is not None:
            self.jump.release(interface, queues)
        self.dispatcher.release(interface, queues, answered=answered)

    async def _place(
        self, job: DueTask, task: CallbackTask, clinic: ClinicSettings, attempt_id: AttemptId, interface: str
    ) -> None:
        async with self.runner.slot(clinic.id) as slot:
            # Read the task again: it may have closed while this callback waited for an administrator (the
            # patient called in and was answered).
            task = await self.tasks.task_for_target(job.target_id) or task
            step, rows = await self._step(task)
            if task.state is not TaskState.OPEN or not self.runner.still_due(step, rows, attempt_id):
                await self.runner.drop(job)
                if interface:
                    self._let_go(interface, clinic.live_queues)
                await self.plan(job.target_id)
                return
            campaign = CampaignKind.CALLBACK if interface else CampaignKind.AUTO_CALLBACK
            real_id = attempt_id.with_campaign(campaign)
            call = self._call(clinic, task, real_id, interface)
            if interface:
                self._admin_of[str(real_id)] = (interface, clinic.live_queues)
            await self.tasks.first_attempt(task.task_id, self.clock.now())
            await self.runner.place(job, real_id, call, slot)

    def _call(
        self, clinic: ClinicSettings, task: CallbackTask, attempt_id: AttemptId, interface: str
    ) -> Call:
        """Administrator first when one was free for it, else the patient first into the reception queue."""
        if not interface:
            return self.runner.patient_call(
                attempt_id,
                clinic.id,
                task.phone,
                "dialer-callback-auto",
                {"DIALER_QUEUE": clinic.queue},
                ring=self.policy.ring_timeout,
            )
        patient = self.settings.trunk_for(clinic.id).dial.format(**dial_forms(task.phone))
        clinic_number = dial_forms(clinic.phone)["number"] if clinic.phone else ""
        request = OriginateRequest(
            attempt_id=str(attempt_id),
            channel=interface,
            context="dialer-callback",
            exten="s",
            timeout_ms=int(self.policy.admin_ring.total_seconds() * 1000),
            caller_id=f'"Перезвон" <{dial_forms(task.phone)["number"]}>',
            variables={
                "DIALER_ATTEMPT": str(attempt_id),
                "DIALER_PATIENT_DIAL": patient,
                "DIALER_RING_SECONDS": str(int(self.policy.ring_timeout.total_seconds())),
                "DIALER_CALLERID": clinic_number,
                "DIALER_ADMIN": interface,  # the recording's administrator
                **self.runner.recording_variables(attempt_id, clinic.id, task.phone),
            },
        )
        return Call(clinic.id, task.phone, request)

    async def run_sms(self, job: DueTask) -> None:
        task = await self.tasks.task_for_target(job.target_id)
        purpose = SmsKey.of_due_task(job.task_id).purpose
        if task is None or (purpose == NOT_REACHED and task.state is not TaskState.OPEN):
            await self.due.finish(job.task_id, cancelled=True)
            return
        if await self.tasks.declines_sms(task.clinic_id, task.phone):
            # Read again at sending: a schedule imported since the plan may have brought the patient's «нет».
            log.info(
                "callback %s: the patient on this number has no SMS consent; the SMS is not sent",
                task.task_id,
            )
            await self.due.finish(job.task_id, cancelled=True)
            if purpose == NOT_REACHED:
                await self.plan(job.target_id)
            return
        clinic = self.settings.clinic(task.clinic_id)
        template = self.policy.after_hours_sms if purpose == AFTER_HOURS else self.policy.not_reached_sms
        body = clinic_sms(template, clinic, task.starts_at)
        sent = await self.runner.send_sms(job, clinic_id=clinic.id, phone=task.phone, body=body)
        if sent and purpose == NOT_REACHED:
            await self.plan(job.target_id)

    # -- call facts (on the fact path: decide at once, queue the writes) --------------------------

    def patient_leg(self, attempt: AttemptRow, leg: PatientLeg) -> Settled:
        _, settled = patient_leg_result(leg.status)
        if settled is Settled.FINAL:
            self._work.put_nowait(
                _Work("close", phone=attempt.phone, reason=CloseReason.CALLBACK_ANSWERED, at=leg.at)
            )
        return settled

    def finished(self, attempt: AttemptRow) -> None:
        rung = self._admin_of.pop(attempt.attempt_id, None)
        if rung is not None:
            self._let_go(*rung, answered=attempt.result is CallResult.ANSWERED)
        self._work.put_nowait(_Work("plan", target_id=attempt.target_id))

    async def run(self) -> None:
        # Tried until it works: a database away at start-up delays the callbacks, it does not stop the service.
        await until_done("callbacks", self.resume, self.clock)
        self.resumed.set()
        # Closing a task and planning one are idempotent: after a failure they are simply tried again.
        await consume("callbacks", self._work, self._follow_up, self.clock, tries=FOLLOW_UP_TRIES)

    async def resume(self) -> None:
        """Plan every open task again on taking up the work: a task stored just before a crash or a hand-over
        may not have its due tasks yet. Planning is idempotent (due tasks go by the attempt's own id)."""
        for task in await self.tasks.open_tasks():
            await self._first_steps(task)

    async def _follow_up(self, work: _Work) -> None:
        if work.kind == "close" and work.reason is not None:
            await self._close_by_phone(work.phone, work.reason, work.at or self.clock.now())
        elif work.kind == "open":
            task = await self.tasks.task_for_target(work.target_id)
            if task is not None and task.state is TaskState.OPEN:
                await self._first_steps(task)
        else:
            await self.plan(work.target_id)


def _callback_record(row: AttemptRow) -> AttemptRecord | None:
    """A callback attempt as the planner counts it: the patient's leg, when the administrator's side was placed
    first; None when the administrator never picked up, so the patient was not called."""
    if AttemptId.parse(row.attempt_id).campaign == CampaignKind.CALLBACK and row.leg_status is None:
        if row.state is not AttemptState.ENDED:
            return AttemptRecord(row.n, row.created_at, None)
        if row.result is CallResult.ANSWERED:
            # The administrator hung up while the patient's phone still rang: a call all the same.
            return AttemptRecord(row.n, row.created_at, CallResult.NO_ANSWER)
        return None
    record = row.as_record()
    if row.leg_status is not None and record.result is not None:
        result, settled = patient_leg_result(row.leg_status)
        return AttemptRecord(row.n, row.created_at, result, settled)
    return record
