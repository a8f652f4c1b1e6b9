"""The attempt lifecycle every campaign kind shares: schedule a due attempt, claim it when due, pace it on its
clinic's trunk, place it through the call desk, finish its due task; send a kind's SMS, retrying while the
gateway is down. The kinds (engine/reminders.py, callbacks.py, progressive.py, ivr.py) decide what to dial and
what the answers mean; this runner does the rest the same way for all of them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.campaigns.kinds import SHOWN_ON_PHONE
from dialer.campaigns.messages import GATEWAY_DOWN_BACKOFF
from dialer.campaigns.planner import Dial, Step
from dialer.campaigns.reminders import clinic_prompt
from dialer.core.clock import Clock
from dialer.core.ids import AttemptId, SmsKey
from dialer.core.phones import dial_forms
from dialer.core.ports import OriginateRequest
from dialer.core.recording import recording_variables
from dialer.core.records import AttemptRecord, AttemptRow, AttemptState, DueTask, TaskKind
from dialer.core.stores import AttemptStore, DueStore
from dialer.engine.calls import CallDesk, CallHandler, attempt_row
from dialer.engine.pacer import PacerSlot
from dialer.engine.sms import SmsRetryLater, SmsSender
from dialer.settings import Settings

log = logging.getLogger("dialer.runner")


@dataclass(frozen=True)
class Call:
    """One attempt ready to go out: whom it is for and the Originate that places it."""

    clinic_id: str
    phone: str
    request: OriginateRequest


def placed_records(
    history: Sequence[AttemptRow], read: Callable[[AttemptRow], AttemptRecord | None] = AttemptRow.as_record
) -> list[AttemptRecord]:
    """The planner's view of a target's attempts: those never placed do not count, nor those the campaign's
    `read` leaves out (None); `read` says what a placed attempt's outcome means to the campaign."""
    records = (read(row) for row in history if row.state is not AttemptState.UNPLACED)
    return [record for record in records if record is not None]


def next_attempt_n(history: Sequence[AttemptRow]) -> int:
    return max((row.n for row in history), default=0) + 1


def sms_task(key: SmsKey, clinic_id: str, at: datetime) -> DueTask:
    """The due task that sends the SMS of `key`, under the key's own id: one send per key, ever."""
    return DueTask(key.due_task_id, clinic_id, TaskKind.SMS, key.campaign, key.target, at)


@dataclass(frozen=True, kw_only=True)
class FlowBasics:
    """What every campaign flow is given: the settings, the attempt and due-task stores, the call desk, the
    clock, and the worker's wake-up (so that new due work starts without a poll delay)."""

    settings: Settings
    attempts: AttemptStore
    due: DueStore
    desk: CallDesk
    clock: Clock
    wake: Callable[[], None]

    def runner(self, sms: SmsSender | None) -> CampaignRunner:
        return CampaignRunner(
            settings=self.settings,
            attempts=self.attempts,
            due=self.due,
            desk=self.desk,
            sms=sms,
            clock=self.clock,
        )


class CampaignRunner:
    def __init__(
        self,
        *,
        settings: Settings,
        attempts: AttemptStore,
        due: DueStore,
        desk: CallDesk,
        sms: SmsSender | None,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.attempts = attempts
        self.due = due
        self.desk = desk
        self.sms = sms
        self.clock = clock

    # -- scheduling -------------------------------------------------------------------------------

    async def schedule_dial(
        self, campaign: str, target_id: int, clinic_id: str, at: datetime, history: Sequence[AttemptRow]
    ) -> None:
        """The target's next attempt, due at `at`: one due task per attempt, ever."""
        await self.due.schedule(self.dial_task(campaign, target_id, clinic_id, at, history))

    async def schedule_sms(self, key: SmsKey, clinic_id: str, at: datetime) -> None:
        await self.due.schedule(sms_task(key, clinic_id, at))

    def dial_task(
        self, campaign: str, target_id: int, clinic_id: str, at: datetime, history: Sequence[AttemptRow]
    ) -> DueTask:
        """The due task of the target's next attempt, under the attempt's own id."""
        attempt = self.desk.attempt_id(campaign, target_id, next_attempt_n(history))
        return DueTask(attempt.due_task_id, clinic_id, TaskKind.DIAL, campaign, target_id, at)

    # -- placing ----------------------------------------------------------------------------------

    async def claim(self, task: DueTask, wanted: bool) -> AttemptId | None:
        """The attempt a due dial task places, or None (the task cancelled) when its target no longer wants
        calls or the attempt exists already: a patient is never dialled twice for one attempt."""
        attempt_id = AttemptId.of_due_task(task.task_id)
        if not wanted or await self.attempts.get(str(attempt_id)) is not None:
            await self.due.finish(task.task_id, cancelled=True)
            return None
        return attempt_id

    @asynccontextmanager
    async def slot(self, clinic_id: str) -> AsyncIterator[PacerSlot]:
        """A channel of the clinic's trunk; given back at the end unless a call was placed on it."""
        async with self.desk.pacers[self.settings.trunk_for(clinic_id).name].slot() as slot:
            yield slot

    def still_due(self, step: Step, history: Sequence[AttemptRow], attempt_id: AttemptId) -> bool:
        """Decided again once a channel is free: the plan still dials now, and this is its next attempt."""
        return (
            isinstance(step, Dial) and step.at <= self.clock.now() and attempt_id.n == next_attempt_n(history)
        )

    async def drop(self, task: DueTask) -> None:
        """The due attempt is not placed: its kind plans the target's next step instead."""
        await self.due.finish(task.task_id, cancelled=True)

    async def place(self, task: DueTask, attempt_id: AttemptId, call: Call, slot: PacerSlot) -> bool:
        """Write the attempt, send its one Originate (the desk takes the slot over), finish the due task.
        False when nothing was sent."""
        trunk = self.settings.trunk_for(call.clinic_id)
        row = attempt_row(
            attempt_id=attempt_id,
            clinic_id=call.clinic_id,
            phone=call.phone,
            trunk=trunk.name,
            now=self.clock.now(),
        )
        sent = await self.desk.place(row, call.request, slot)
        await self.due.finish(task.task_id)
        return sent

    def patient_call(
        self,
        attempt_id: AttemptId,
        clinic_id: str,
        phone: str,
        context: str,
        variables: Mapping[str, str] | None = None,
        ring: timedelta | None = None,
    ) -> Call:
        """A call that rings the patient first, on the clinic's trunk, into one of our dialplan contexts; for
        `ring` (by default the trunk's ring timeout)."""
        trunk = self.settings.trunk_for(clinic_id)
        request = OriginateRequest(
            attempt_id=str(attempt_id),
            channel=trunk.dial.format(**dial_forms(phone)),
            context=context,
            exten="s",
            timeout_ms=int((trunk.ring_timeout if ring is None else ring).total_seconds() * 1000),
            caller_id=trunk.caller_id,
            variables={
                "DIALER_ATTEMPT": str(attempt_id),
                "DIALER_SHOWN_AS": SHOWN_ON_PHONE.get(attempt_id.campaign, ""),
                **self.recording_variables(attempt_id, clinic_id, phone),
                **(variables or {}),
            },
        )
        return Call(clinic_id, phone, request)

    def recording_variables(self, attempt_id: AttemptId, clinic_id: str, phone: str) -> dict[str, str]:
        """Whether the dialplan records the conversation and tells the patient first (the clinic's switches)."""
        quality = self.settings.clinic(clinic_id).quality
        return recording_variables(
            clinic_id, attempt_id.campaign, phone, record=quality.record, announce=quality.announce
        )

    def machine_variables(self, clinic_id: str, on: bool) -> dict[str, str]:
        """What the IVR needs to tell machines apart and leave them the message (config/asterisk/README.md):
        TALK_DETECT on, and the clinic's phone to say; nothing when the campaign leaves machines alone."""
        if not on:
            return {}
        clinic = self.settings.clinic(clinic_id)
        phone = "".join(c for c in clinic.phone if c.isdigit())
        return {
            "DIALER_AMD": "1",
            "DIALER_CLINIC_PHONE": phone,
            "DIALER_CLINIC_PROMPT": clinic_prompt(clinic.name),
        }

    # -- SMS --------------------------------------------------------------------------------------

    async def send_sms(self, task: DueTask, *, clinic_id: str, phone: str, body: str) -> bool:
        """Send a kind's SMS once, ever; while the gateway is down, retry the due task later. True when done."""
        if self.sms is None:
            raise RuntimeError("this runner was built without an SMS sender")
        key = SmsKey.of_due_task(task.task_id)
        try:
            await self.sms.send(
                key=str(key), clinic_id=clinic_id, target_id=key.target, phone=phone, body=body
            )
        except SmsRetryLater as err:
            delay = GATEWAY_DOWN_BACKOFF.after(task.tries)
            log.warning("sms %s: gateway unavailable (%s); retry in %.0f s", key, err, delay.total_seconds())
            await self.due.retry_later(task.task_id, self.clock.now() + delay)
            return False
        await self.due.finish(task.task_id)
        return True


class CampaignFlow(CallHandler):
    """A campaign kind's flow: the call desk sends it its campaigns' facts, and it keeps what every flow is
    given (FlowBasics) and one CampaignRunner for the lifecycle every kind shares."""

    def __init__(self, basics: FlowBasics, sms: SmsSender | None) -> None:
        self.settings = basics.settings
        self.attempts = basics.attempts
        self.due = basics.due
        self.desk = basics.desk
        self.clock = basics.clock
        self.wake = basics.wake  # the worker's wake-up, so new due work starts without a poll delay
        self.runner = basics.runner(sms)
