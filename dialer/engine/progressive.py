"""Dialling the calls an administrator must take (КОС, the diary, waiting-list offers), paced to the clinic's
administrators.

Progressive (the default): never more patients in the air than free administrators × ratio. Predictive
(`pacing = "predictive"`, dialer/campaigns/pacing.py): patients are also dialled for the administrators likely to
be free by the time the patients answer, as far as the clinic's recent answers and talks show. Either way
no patient is dialled while missed-call callbacks wait for an administrator. The answered patient goes to the
head of the clinic's queue; nobody free within a few seconds is a dropped call. The drop rate is measured per
clinic; above its cap predictive pacing falls back to one call per free administrator, and progressive pacing
halves its ratio, until it recovers.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dialer.campaigns.kinds import ADMINISTRATOR_TAKES, CampaignKind
from dialer.campaigns.pacing import PredictivePacer
from dialer.campaigns.plan import Window
from dialer.campaigns.planner import Dial, SendSms, Stop, StopReason, Target, Wait, next_step
from dialer.core.facts import PatientLeg
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptRecord, AttemptRow, DueTask, Settled, TaskKind, WrapupRow
from dialer.core.staff import UserRow
from dialer.core.wrapup import WrapupForm
from dialer.engine.dispatch import AdminDispatcher
from dialer.engine.loops import consume
from dialer.engine.runner import Call, CampaignFlow, FlowBasics, placed_records
from dialer.engine.worker import DueRunners

log = logging.getLogger("dialer.progressive")

CONNECTED, DROPPED = "CONNECTED", "DROPPED"
DROP_WINDOW = 100  # answered calls the drop rate is measured over
# The pace is halved only on evidence: until this many calls were answered, the rate is taken over this many,
# so that one unlucky drop among the first few answers (25 % of four) does not slow the whole morning.
DROP_EVIDENCE = 34
ROOM_TICK_SECONDS = 0.2  # the predictive pacer spaces dials by fractions of a second


@dataclass(frozen=True)
class ProgressiveTarget:
    target_id: int
    clinic_id: str
    phone: str
    windows: tuple[Window, ...]
    active: bool


class Source(Protocol):
    """One kind of progressive call: where its targets come from and what their end means.

    `stopped` and `wrapped_up` may return another target of the same kind to plan next (the waiting list's
    next patient, when an offered slot is free again)."""

    campaign: CampaignKind

    async def target(self, target_id: int) -> ProgressiveTarget | None: ...

    async def stopped(
        self, target_id: int, reason: StopReason, contacted: bool, calls: int, *, picked_up: bool
    ) -> int | None:
        """The plan stopped after `calls` calls placed to this target; `picked_up`: the patient answered one of
        them, whether or not an administrator was free to take it."""
        ...

    async def day_targets(self, clinic_id: str, now: datetime) -> list[int]: ...

    async def wrapped_up(self, target_id: int, form: WrapupForm, operator: str) -> int | None: ...


class SlotOffers(Source, Protocol):
    """The waiting list: a freed slot is offered by SMS to the next patient, whose target is then called."""

    async def slot_freed(self, clinic_id: str, appointment_id: str) -> int | None: ...

    async def slots_freed(self, freed: Sequence[tuple[str, str]]) -> list[int]: ...


@dataclass(frozen=True)
class _Work:
    campaign: str
    target_id: int


class ProgressiveFlow(CampaignFlow):
    @property
    def due_runners(self) -> DueRunners:
        return tuple((TaskKind.DIAL, campaign, self.run_dial) for campaign in ADMINISTRATOR_TAKES)

    def __init__(
        self,
        *,
        basics: FlowBasics,
        sources: list[Source],
        dispatcher: AdminDispatcher,
        offers: SlotOffers | None = None,
        changed: asyncio.Event | None = None,
    ) -> None:
        """`changed` is set when the room to dial may have changed: by the intake at each change of the
        administrators' queues, and by this flow as its calls end."""
        super().__init__(basics, None)
        self.offers = offers
        every = [*sources, offers] if offers is not None else sources
        self.sources: dict[str, Source] = {s.campaign: s for s in every}
        self.dispatcher = dispatcher
        self.changed = changed or asyncio.Event()
        self._work: asyncio.Queue[_Work] = asyncio.Queue()
        # clinic -> its calls in the air and what its calls and talks have shown (both pacings count on it)
        self._pacers: dict[str, PredictivePacer] = {}
        self._answers: dict[str, deque[bool]] = {}  # clinic -> recent answered calls: True when dropped
        # attempt id -> the administrator talking on it. Counted busy from the moment Asterisk connects them,
        # however late the device-state change reaches the queue state.
        self._talking: dict[str, str] = {}

    # -- the drop rate and the room to dial -----------------------------------------------------------

    def drop_rate(self, clinic_id: str) -> float:
        answers = self._answers.get(clinic_id)
        return 100.0 * sum(answers) / len(answers) if answers else 0.0

    def _over_drop_cap(self, clinic_id: str) -> bool:
        answers = self._answers.get(clinic_id, ())
        dropped = sum(answers)
        return 100.0 * dropped / max(len(answers), DROP_EVIDENCE) > self.settings.kos.drop_cap

    def pacer(self, clinic_id: str) -> PredictivePacer:
        lookahead = self.settings.kos.lookahead.total_seconds()
        return self._pacers.setdefault(clinic_id, PredictivePacer(lookahead))

    def room(self, clinic_id: str) -> bool:
        clinic = self.settings.clinic(clinic_id)
        if self.dispatcher.waiting:
            return False  # missed-call callbacks come first
        talking = set(self._talking.values())
        free = len([i for i in self.dispatcher.free(clinic.live_queues) if i not in talking])
        over_cap = self._over_drop_cap(clinic_id)
        if self.settings.kos.pacing == "predictive":
            return self.pacer(clinic_id).may_dial(self.clock.now(), free, cautious=over_cap)
        ratio = self.settings.kos.ratio / 2 if over_cap else self.settings.kos.ratio
        return self.pacer(clinic_id).in_the_air < math.floor(free * ratio)

    async def _wait_for_room(self, clinic_id: str) -> None:
        while not self.room(clinic_id):
            await self.clock.wait_for(self.changed, ROOM_TICK_SECONDS)
            self.changed.clear()

    # -- planning -------------------------------------------------------------------------------------

    @property
    def campaigns(self) -> tuple[str, ...]:
        """Whose call facts the desk sends here."""
        return tuple(self.sources)

    async def prepare_day(self) -> int:
        now = self.clock.now()
        planned = 0
        for clinic_id in self.settings.clinics:
            for source in self.sources.values():
                for target_id in await source.day_targets(clinic_id, now):
                    await self.plan(source.campaign, target_id)
                    planned += 1
        return planned

    def _planner_view(self, target: ProgressiveTarget) -> Target:
        """Calls only: an administrator takes the answered patient, so there is no SMS fallback here."""
        clinic = self.settings.clinic(target.clinic_id)
        return Target(
            windows=target.windows,
            may_call=True,
            may_sms=False,
            sms_done=True,
            zone=clinic.timezone,
            calling_hours=clinic.calling_hours,
        )

    async def _history(self, target_id: int) -> tuple[list[AttemptRecord], list[AttemptRow]]:
        rows = await self.attempts.history(target_id)
        return placed_records(rows, _connected_is_final), rows

    async def plan(self, campaign: str, target_id: int) -> None:
        source = self.sources[campaign]
        target = await source.target(target_id)
        if target is None or not target.active:
            return
        records, rows = await self._history(target_id)
        step = next_step(self._planner_view(target), records, self.clock.now())
        if isinstance(step, Dial):
            await self.runner.schedule_dial(campaign, target_id, target.clinic_id, step.at, rows)
            self.wake()
        elif isinstance(step, Stop):
            contacted = step.reason is StopReason.SETTLED
            picked_up = any(row.result is CallResult.ANSWERED for row in rows)
            stopped = await source.stopped(
                target_id, step.reason, contacted, len(records), picked_up=picked_up
            )
            await self._plan_next(campaign, stopped)
        elif isinstance(step, SendSms | Wait):
            return

    async def _plan_next(self, campaign: str, target_id: int | None) -> None:
        if target_id is not None:
            await self.plan(campaign, target_id)

    async def slot_freed(self, clinic_id: str, appointment_id: str) -> None:
        """A cancelled visit's time goes to the waiting list: the offer's SMS now, then its call planned."""
        if self.offers is not None:
            await self._plan_next(
                self.offers.campaign, await self.offers.slot_freed(clinic_id, appointment_id)
            )

    async def slots_freed(self, freed: Sequence[tuple[str, str]]) -> None:
        """Several cancelled visits at once, (clinic, appointment) each: their offers made together, then
        each offer's call planned."""
        if self.offers is not None and freed:
            for target_id in await self.offers.slots_freed(freed):
                await self.plan(self.offers.campaign, target_id)

    # -- dialling -------------------------------------------------------------------------------------

    async def run_dial(self, task: DueTask) -> None:
        target = await self.sources[task.campaign].target(task.target_id)
        attempt_id = await self.runner.claim(task, target is not None and target.active)
        if target is None or attempt_id is None:
            return
        await self._wait_for_room(target.clinic_id)
        # The slot is taken before any other wait: several calls waiting for room must not all see the same
        # free administrator while the pacer spaces them out.
        pacer = self.pacer(target.clinic_id)
        pacer.placed(str(attempt_id), self.clock.now())
        placed = False
        try:
            placed = await self._dial(task, target, attempt_id)
        finally:
            if not placed:
                pacer.withdrawn(str(attempt_id))
                self.changed.set()

    async def _dial(self, task: DueTask, target: ProgressiveTarget, attempt_id: AttemptId) -> bool:
        """Place the call if the plan still wants it now; whether it was handed to the call desk."""
        async with self.runner.slot(target.clinic_id) as slot:
            records, rows = await self._history(target.target_id)
            step = next_step(self._planner_view(target), records, self.clock.now())
            if not self.runner.still_due(step, rows, attempt_id):
                await self.runner.drop(task)
                await self.plan(task.campaign, target.target_id)
                return False
            return await self.runner.place(task, attempt_id, self._call(target, attempt_id), slot)

    def _call(self, target: ProgressiveTarget, attempt_id: AttemptId) -> Call:
        """The patient first; answering, they wait at the head of the clinic's queue for an administrator."""
        clinic = self.settings.clinic(target.clinic_id)
        variables = {
            "DIALER_QUEUE": clinic.answer_queues[0],
            "DIALER_WAIT": str(max(1, int(self.settings.kos.wait_for_admin.total_seconds()))),
        }
        return self.runner.patient_call(
            attempt_id, target.clinic_id, target.phone, "dialer-progressive", variables
        )

    # -- call facts (on the fact path) ----------------------------------------------------------------

    def queued(self, attempt: AttemptRow, queue: str, at: datetime) -> None:
        """The patient answered and waits for an administrator. The pacer keeps to the service's clock (as
        when it dialled), not the PBX's."""
        self.pacer(attempt.clinic_id).answered(attempt.attempt_id, self.clock.now())
        self.changed.set()

    def patient_leg(self, attempt: AttemptRow, leg: PatientLeg) -> Settled:
        self._count(attempt.clinic_id, dropped=leg.status == DROPPED)
        pacer = self.pacer(attempt.clinic_id)
        if leg.status == CONNECTED:
            pacer.connected(attempt.attempt_id, self.clock.now())
            # No longer waiting for an administrator (the pacer knows): it has one, busy until the call ends.
            self._talking[attempt.attempt_id] = leg.member
            self.changed.set()
        if leg.status == DROPPED:
            pacer.answered(attempt.attempt_id, self.clock.now())
            log.warning(
                "call %s dropped: nobody free when the patient answered (clinic drop rate %.1f%%)",
                attempt.attempt_id,
                self.drop_rate(attempt.clinic_id),
            )
        return Settled.FINAL if leg.status == CONNECTED else Settled.OPEN

    def _count(self, clinic_id: str, *, dropped: bool) -> None:
        self._answers.setdefault(clinic_id, deque(maxlen=DROP_WINDOW)).append(dropped)

    def finished(self, attempt: AttemptRow) -> None:
        if attempt.result is CallResult.ANSWERED and attempt.leg_status is None:
            self._count(attempt.clinic_id, dropped=True)  # the patient hung up before anyone took the call
            log.warning("call %s: the patient hung up while waiting for an administrator", attempt.attempt_id)
        self.pacer(attempt.clinic_id).ended(attempt.attempt_id, self.clock.now())
        self._talking.pop(attempt.attempt_id, None)
        self.changed.set()
        self._work.put_nowait(_Work(AttemptId.parse(attempt.attempt_id).campaign, attempt.target_id))

    async def wrapped_up(self, row: WrapupRow, form: WrapupForm, user: UserRow) -> None:
        """The administrator's wrap-up of one of our calls becomes the status of what the call was about."""
        attempt = AttemptId.try_parse(row.call_ref)
        if attempt is not None and attempt.campaign in self.sources:
            source = self.sources[attempt.campaign]
            await self._plan_next(
                attempt.campaign, await source.wrapped_up(attempt.target, form, user.username)
            )
        if form.diary_day is not None or form.result == "call_again":
            await self.prepare_day()  # a diary call for today starts now, not at the next sweep

    async def run(self) -> None:
        await consume(
            "progressive", self._work, lambda work: self.plan(work.campaign, work.target_id), self.clock
        )


def _connected_is_final(row: AttemptRow) -> AttemptRecord:
    """A call an administrator was connected on settles its target, whatever the patient's leg says."""
    if row.leg_status == CONNECTED:
        return AttemptRecord(row.n, row.created_at, CallResult.ANSWERED, Settled.FINAL)
    return row.as_record()
