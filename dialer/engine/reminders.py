"""The reminder campaign at work: plan each appointment's calls, dial, read the answers, fall back to SMS."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.plan import Window
from dialer.campaigns.planner import Dial, SendSms, Stop, Target, Wait, next_step
from dialer.campaigns.reminders import (
    digit_meaning,
    doctor_prompt,
    reminder_windows,
    status_after_stop,
)
from dialer.core.followups import (
    FinishTarget,
    FollowUpStore,
    FollowUpWrite,
    FreeSlot,
    OpenAdminTask,
    ScheduleDue,
    SetVisitStatus,
    TargetView,
    keys_into_finishes,
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
from dialer.engine.followup_stores import OneByOne
from dialer.engine.loops import forever
from dialer.engine.runner import Call, CampaignFlow, FlowBasics, placed_records, sms_task
from dialer.engine.sms import SmsSender, clinic_sms
from dialer.engine.worker import DueRunners
from dialer.settings import Settings

log = logging.getLogger("dialer.reminders")

SMS_PURPOSE = "not_reached"
CANCEL_TASK = "reschedule"
CHECK_PHONE_TASK = "check_phone"
CHECK_PHONE_COMMENT = "Номер не существует по ответу оператора связи: уточнить телефон пациента"
CANCEL_COMMENT = "Пациент отменил запись через автоинформатор: перенести визит или внести в лист ожидания"
# The most finished calls whose follow-ups go in one transaction: enough that a burst of hangups costs a few
# commits, few enough that one transaction holds the database for milliseconds, not seconds. The keys pressed
# on them ride along uncounted, up to as many again: a key is one row to write, mostly with nothing to read.
FOLLOW_UP_BATCH = 200
# The longest the follow-ups wait for the call desk to commit a burst of facts before they go ahead anyway: a
# follow-up plans a call minutes away, the desk keeps pace with Asterisk.
DESK_FIRST_SECONDS = 0.2
# The most visits the flow remembers, each kind apart (a target's appointment; the calling windows of a visit
# time): a day's reminders of a large chain fit.
KNOWN_VISITS = 20_000


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
        follow_ups: FollowUpStore | None = None,
        slots_freed: Callable[[Sequence[tuple[str, str]]], Awaitable[object]] | None = None,
        unoffered: Callable[[], Awaitable[Sequence[tuple[str, str]]]] | None = None,
    ) -> None:
        super().__init__(basics, sms)
        self.reminders = reminders
        # Reads and writes a batch of follow-ups together (one transaction); store by store where the stores
        # have no such method.
        self.follow_ups = follow_ups or OneByOne(reminders, basics.attempts, basics.due)
        self.sms = sms
        # Work the call facts ask for, done here rather than on the fact path: digits to write, targets to plan.
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        # A cancelled visit frees its slot for the waiting list: (clinic, appointment id).
        self.on_cancelled = on_cancelled
        # A batch's cancelled visits, offered by a loop of their own: an offer's SMS goes out to the gateway
        # there and then, and the next batch of follow-ups must not wait on it.
        self._freed: asyncio.Queue[list[tuple[str, str]]] = asyncio.Queue()
        # The freed slots stored but never offered (the service stopped, an offer failed): read at every start,
        # and after an offer failed. A declined or expired offer's slot is among them too.
        self.unoffered = unoffered
        self._read_unoffered = True
        self.resumed = asyncio.Event()  # the slots a stop left unoffered are queued again
        # Each target's appointment, which never changes, as (clinic, appointment id): a confirming key is
        # written from it without reading the target again (its call read it to dial).
        self._visits: dict[int, tuple[str, str]] = {}
        # Calling windows by (clinic, visit time, high value), for the settings they were worked out under.
        self._windows: dict[tuple[str, datetime, bool], tuple[Window, ...]] = {}
        self._windows_for: Settings | None = None
        # The same for all the cancelled visits of a batch at once, where the waiting list can take them so.
        self.slots_freed = slots_freed

    # -- planning ---------------------------------------------------------------------------------

    async def prepare_day(self, visit_day: date, clinics: Collection[str] | None = None) -> int:
        """Make the day's reminder list (of some clinics, or all) and plan every open reminder on it.
        Safe to repeat."""
        await self.reminders.ensure_targets(visit_day, self.clock.now(), clinics)
        target_ids = await self.reminders.active_targets(visit_day, clinics)
        for start in range(0, len(target_ids), FOLLOW_UP_BATCH):
            await self.follow_up([_Work.plan_of(t) for t in target_ids[start : start + FOLLOW_UP_BATCH]])
        return len(target_ids)

    def _planner_view(self, target: ReminderTarget) -> Target:
        clinic = self.settings.clinic(target.clinic_id)
        plan = self.settings.reminders.plan
        return Target(
            zone=clinic.timezone,
            calling_hours=clinic.calling_hours,
            windows=self._windows_of(target),
            may_call=target.consent_call and not target.do_not_call,
            may_sms=target.consent_sms,
            sms_done=target.sms_status not in (None, SmsStatus.PENDING),
            retry_when_no_digit=plan.retry_when_no_digit,
            sms_when_not_reached=plan.sms_when_not_reached,
        )

    def _windows_of(self, target: ReminderTarget) -> tuple[Window, ...]:
        """The visit's calling windows, worked out once per visit time: a burst of finished calls plans many
        visits of the same hours, and each working out walks the clinic's calendar and time zone."""
        settings = self.settings
        if settings is not self._windows_for or len(self._windows) >= KNOWN_VISITS:
            self._windows, self._windows_for = {}, settings
        key = (target.clinic_id, target.visit_at, target.high_value)
        windows = self._windows.get(key)
        if windows is None:
            clinic = settings.clinic(target.clinic_id)
            windows = reminder_windows(
                settings.reminders.plan,
                settings.reminders.same_day,
                target.visit_at,
                clinic.timezone,
                clinic.calendar,
                target.high_value,
            )
            self._windows[key] = windows
        return windows

    async def _step(self, target: ReminderTarget) -> tuple[Dial | SendSms | Wait | Stop, list[AttemptRow]]:
        history = await self.attempts.history(target.target_id)
        return next_step(self._planner_view(target), placed_records(history), self.clock.now()), history

    async def plan(self, target_id: int) -> None:
        """Plan the target's next step (a dial, the SMS, or the end) and write it."""
        await self.follow_up([_Work.plan_of(target_id)])

    # -- due tasks --------------------------------------------------------------------------------

    async def run_dial(self, task: DueTask) -> None:
        target = await self.reminders.target(task.target_id)
        attempt_id = await self.runner.claim(task, target is not None and target.active)
        if target is None or attempt_id is None:
            return
        self._know_visit(target)
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
        if not target.consent_sms:
            # Consent is read again at sending: the schedule may have come again without it since the plan.
            log.info("reminder %s: the patient has no SMS consent now; the SMS is not sent", target.target_id)
            await self.due.finish(task.task_id, cancelled=True)
            await self.plan(target.target_id)
            return
        clinic = self.settings.clinic(target.clinic_id)
        body = clinic_sms(self.settings.reminders.sms, clinic, target.visit_at)
        if await self.runner.send_sms(task, clinic_id=target.clinic_id, phone=target.phone, body=body):
            await self.plan(target.target_id)

    # -- call facts (on the fact path: decide at once, queue the writes) -------------------------

    def digit_pressed(self, attempt: AttemptRow, digit: str, at: datetime) -> Settled:
        meaning = digit_meaning(digit)
        self._work.put_nowait(_Work(attempt.target_id, attempt.attempt_id, digit=digit, at=at))
        return meaning.settled if meaning is not None else Settled.OPEN

    def queued(self, attempt: AttemptRow, queue: str, at: datetime) -> None:
        log.info("reminder %s: patient waits for an administrator in queue %s", attempt.target_id, queue)

    def finished(self, attempt: AttemptRow) -> None:
        self._work.put_nowait(_Work(attempt.target_id, attempt.attempt_id))

    async def run(self) -> None:
        """Write the patients' answers and plan the next steps, in the order the calls gave them: what is
        waiting, up to a batch, in one transaction. Beside it, offer the visits they cancelled to the waiting
        list."""

        async def turn() -> None:
            if self._read_unoffered:  # before this loop's own cancellations, so that none is queued twice
                await self._queue_unoffered()
            first = await self._work.get()
            await self.desk.between_bursts(DESK_FIRST_SECONDS)
            await self.follow_up(self._waiting([first]))

        self._read_unoffered = True
        self.resumed.clear()
        async with asyncio.TaskGroup() as group:
            group.create_task(forever("reminders-freed-slots", self._offer_freed, self.clock))
            await forever("reminders", turn, self.clock)

    async def _offer_freed(self) -> None:
        cancelled = await self._freed.get()
        try:
            if self.slots_freed is not None:
                await self.slots_freed(cancelled)
            else:
                for clinic_id, appointment_id in cancelled:
                    await self.on_cancelled(clinic_id, appointment_id)
        except Exception:
            self._read_unoffered = True  # the slots not handed over are still stored: read them again
            raise
        finally:
            self._freed.task_done()

    async def _queue_unoffered(self) -> None:
        """Queue the freed slots stored but never handed to the waiting list. A slot queued twice is offered
        once: the offer's own transaction sees it taken."""
        left = list(await self.unoffered()) if self.unoffered is not None else []
        self._read_unoffered = False
        if left:
            log.info("%d freed slots not yet offered to the waiting list; offering them now", len(left))
        for start in range(0, len(left), FOLLOW_UP_BATCH):
            self._freed.put_nowait(left[start : start + FOLLOW_UP_BATCH])
        self.resumed.set()

    async def freed_slots_offered(self) -> None:
        """Wait until every visit cancelled so far has been offered to the waiting list (or failed to be)."""
        await self._freed.join()

    async def follow_up_waiting(self) -> int:
        """Write what is waiting now (up to a batch) as one batch, without waiting for more; how many items."""
        batch = self._waiting([])
        if batch:
            await self.follow_up(batch)
        return len(batch)

    def _waiting(self, batch: list[_Work]) -> list[_Work]:
        """`batch` and the items waiting after it, up to a batch of finished calls with their keys."""
        finished = sum(w.digit is None for w in batch)
        while finished < FOLLOW_UP_BATCH and len(batch) < 2 * FOLLOW_UP_BATCH and not self._work.empty():
            work = self._work.get_nowait()
            batch.append(work)
            finished += work.digit is None
        return batch

    async def follow_up(self, batch: Sequence[_Work]) -> None:
        """Read the batch's targets together, decide every item in order in memory, write all of it in one
        transaction; then what must follow a commit (the cancelled visits handed on to be offered, the
        worker's wake-up, the log).
        A key that only changes the visit's status needs no read where the flow knows the visit."""
        to_read = {w.target_id for w in batch if self._must_read(w)}
        views = dict(await self.follow_ups.follow_up_view(to_read)) if to_read else {}
        for read in views.values():
            self._know_visit(read.target)
        decided = _Decided()
        now = self.clock.now()
        for work in batch:
            view = views.get(work.target_id)
            if work.digit is not None and view is None and not self._must_read(work):
                clinic_id, appointment_id = self._visits[work.target_id]
                self._decide_key(
                    work.target_id, clinic_id, appointment_id, work.digit, decided, work.at or now
                )
            elif view is None:
                continue
            elif work.digit is not None:
                views[work.target_id] = self._decide_digit(view, work, work.digit, decided, work.at or now)
            elif view.target.active:
                views[work.target_id] = self._decide_step(view, now, decided)
        await self.follow_ups.write_follow_ups(keys_into_finishes(decided.writes))
        if decided.cancelled:
            self._freed.put_nowait(decided.cancelled)
        if decided.due:
            self.wake()
        for line, target_id, what in decided.log:
            log.info(line, target_id, what)

    def _must_read(self, work: _Work) -> bool:
        """Whether the item is decided on the target as stored: a step to plan, a key whose visit the flow does
        not know, or a cancelling key (its task for the administrators names the patient, who must still be
        on file)."""
        if work.digit is None or work.target_id not in self._visits:
            return True
        meaning = digit_meaning(work.digit)
        return meaning is not None and meaning.status is ReminderStatus.CANCELLED

    def _know_visit(self, target: ReminderTarget) -> None:
        if target.target_id not in self._visits and len(self._visits) >= KNOWN_VISITS:
            del self._visits[next(iter(self._visits))]  # the longest known
        self._visits[target.target_id] = (target.clinic_id, target.appointment_id)

    def _decide_key(
        self, target_id: int, clinic_id: str, appointment_id: str, digit: str, decided: _Decided, at: datetime
    ) -> ReminderStatus | None:
        """The visit's status and key as the patient pressed it; the status the key sets, if any."""
        meaning = digit_meaning(digit)
        status = meaning.status if meaning is not None else None
        decided.writes.append(SetVisitStatus(target_id, clinic_id, appointment_id, status, digit, at))
        decided.log.append(("reminder %s: digit %s", target_id, digit))
        return status

    def _decide_digit(
        self, view: TargetView, work: _Work, digit: str, decided: _Decided, at: datetime
    ) -> TargetView:
        target = view.target
        status = self._decide_key(
            target.target_id, target.clinic_id, target.appointment_id, digit, decided, at
        )
        if status is ReminderStatus.CANCELLED:
            decided.writes.append(
                OpenAdminTask(
                    target.target_id,
                    target.clinic_id,
                    target.appointment_id,
                    target.patient_id,
                    CANCEL_TASK,
                    work.attempt_id,
                    CANCEL_COMMENT,
                    at,
                )
            )
            decided.writes.append(FreeSlot(target.target_id, target.clinic_id, target.appointment_id, at))
            decided.cancelled.append((target.clinic_id, target.appointment_id))
        if status is None:
            return view
        return TargetView(target.with_status(status), view.history)

    def _decide_step(self, view: TargetView, now: datetime, decided: _Decided) -> TargetView:
        target, history = view.target, view.history
        step = next_step(self._planner_view(target), placed_records(history), now)
        if isinstance(step, Dial):
            task = self.runner.dial_task(self.campaign, target.target_id, target.clinic_id, step.at, history)
            decided.writes.append(ScheduleDue(task))
            decided.due = True
        elif isinstance(step, SendSms):
            key = SmsKey(self.campaign, target.target_id, SMS_PURPOSE)
            decided.writes.append(ScheduleDue(sms_task(key, target.clinic_id, step.at)))
            decided.due = True
        elif isinstance(step, Stop):
            last = next((a.result for a in reversed(history) if a.result is not None), None)
            settled_digit = next((a.digit for a in reversed(history) if a.settled is not Settled.OPEN), None)
            final = status_after_stop(step.reason, last, settled_digit)
            if final is ReminderStatus.INVALID_NUMBER:
                decided.writes.append(
                    OpenAdminTask(
                        target.target_id,
                        target.clinic_id,
                        target.appointment_id,
                        target.patient_id,
                        CHECK_PHONE_TASK,
                        f"{CampaignKind.REMINDERS}:{target.target_id}",
                        CHECK_PHONE_COMMENT,
                        now,
                    )
                )
            decided.writes.append(
                FinishTarget(
                    target.target_id, target.clinic_id, target.appointment_id, final, step.reason.value, now
                )
            )
            decided.log.append(("reminder %s done: %s", target.target_id, final.value))
            return TargetView(target.with_status(final, active=False), history)
        return view


@dataclass
class _Decided:
    """What a batch's decisions add up to, in the order they were made."""

    writes: list[FollowUpWrite] = field(default_factory=list)
    cancelled: list[tuple[str, str]] = field(default_factory=list)  # (clinic, appointment) freed
    log: list[tuple[str, int, str]] = field(default_factory=list)
    due: bool = False


@dataclass(frozen=True)
class _Work:
    """A key the patient pressed on a call (digit), or a target to plan (no digit)."""

    target_id: int
    attempt_id: str = ""
    digit: str | None = None
    at: datetime | None = None

    @classmethod
    def plan_of(cls, target_id: int) -> _Work:
        return cls(target_id)
