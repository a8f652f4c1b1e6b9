"""The attempt lifecycle: write "dialing", send one Originate, follow the facts, reconcile after a gap.

A patient is never dialled twice for one attempt: the attempt row is committed before the Originate
goes out, the Originate is never resent, and after a lost link or a restart the engine asks Asterisk
what became of every open attempt (live channels, then the hangup handler's AstDB record) before
anything else is dialled.

Facts are applied in batches: whatever has queued up since the last commit goes into one transaction,
so a busy hour costs one commit per batch, not one per AMI event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from dialer.core.clock import Clock
from dialer.core.facts import (
    CallAnswered,
    CallEnded,
    CallStarted,
    DigitIgnored,
    DigitPressed,
    Fact,
    JoinedQueue,
    MachineAnswered,
    PatientLeg,
)
from dialer.core.fencing import Tenure
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult, classify
from dialer.core.pbx_links import PbxAway
from dialer.core.ports import (
    LiveChannel,
    OriginateRejected,
    OriginateRequest,
    RecordedOutcome,
    Telephony,
    TelephonyUnavailable,
)
from dialer.core.privacy import mask_phone
from dialer.core.records import AttemptBatch, AttemptEnd, AttemptRow, AttemptState, Settled
from dialer.core.stores import AttemptStore
from dialer.core.tracker import leg_status
from dialer.engine.eventlog import EventLog
from dialer.engine.intake import Intake
from dialer.engine.loops import forever
from dialer.engine.machines import MachineWatch
from dialer.engine.pacer import PacerSlot, TrunkPacer

log = logging.getLogger("dialer.calls")

# Give an Originate that was on the wire when the link dropped time to become a channel before we look.
RECONCILE_SETTLE_SECONDS = 0.5
# An attempt Asterisk shows neither as a channel nor in the hangup record may be an Originate a loaded Asterisk
# has not yet made a channel of: it is looked for again after these pauses before it counts as never placed,
# because a new attempt then would ring the patient twice. Nothing is dialled meanwhile.
RECONCILE_RECHECK_SECONDS = (1.5, 4.0)
MAX_BATCH = 500
# A backlog's next socket read often lands a turn after the last one's facts: one quiet turn is not yet the end
# of it (on the recorded stream, one gave 25-70 commits, two give 3-4).
QUIET_TURNS = 2
RECOVERED = "recovered from the dialplan's record"
MACHINE_STAGE = "machine"  # the hangup record's stage after the dialplan's machine branch
PHONE_KEYS = frozenset("0123456789*#")


def recorded_key(recorded: RecordedOutcome) -> str:
    """The key the hangup record holds, or "" when it holds none: a callback's record keeps its patient leg's
    DIALSTATUS (ANSWER, NOANSWER …) in the same field, which is no key and no answer to a menu."""
    return recorded.digit if len(recorded.digit) == 1 and recorded.digit in PHONE_KEYS else ""


def recorded_leg(recorded: RecordedOutcome) -> str:
    """The second leg's status the hangup record holds (a callback's patient DIALSTATUS made exact by the patient's
    hangup cause, as the live event is; a progressive call's CONNECTED or DROPPED), or "" when it holds a key or
    nothing."""
    status = recorded.digit
    if len(status) > 1 and status.isascii() and status.isalpha() and status.isupper():
        return leg_status(status, recorded.leg_cause)
    return ""


def recorded_facts(attempt: AttemptRow, recorded: RecordedOutcome, at: datetime) -> list[Fact]:
    """What the hangup record knows of an attempt and the attempt does not: a key pressed, or the second leg
    decided, while nobody followed the call (the patient of a callback may answer during a takeover)."""
    facts: list[Fact] = []
    key = recorded_key(recorded)
    if key and attempt.digit != key:
        facts.append(DigitPressed(attempt.attempt_id, key, at))
    leg = recorded_leg(recorded)
    if leg and attempt.leg_status is None:
        facts.append(PatientLeg(attempt.attempt_id, leg, at))
    return facts


@dataclass(frozen=True)
class PbxScope:
    """One of several Asterisks, as a reconciliation sees it: its clinics, its telephony, its gate."""

    owns: Callable[[str], bool]  # whether a clinic's calls go through it (a clinic since removed: main's)
    telephony: Telephony
    gate: asyncio.Event


class CallHandler(Protocol):
    """What a campaign does with its calls' facts. Called on the fact path, so it must not wait on I/O:
    it decides at once and queues its own writes. A campaign that subclasses this ignores the facts it has no
    use for: a digit or a second leg settles nothing, a queue is not followed."""

    def digit_pressed(self, attempt: AttemptRow, digit: str, at: datetime) -> Settled:
        return Settled.OPEN

    def patient_leg(self, attempt: AttemptRow, leg: PatientLeg) -> Settled:
        return Settled.OPEN

    def queued(self, attempt: AttemptRow, queue: str, at: datetime) -> None:
        return None

    def finished(self, attempt: AttemptRow) -> None:
        """The attempt ended (or was never placed): plan the target's next step."""
        ...


@dataclass
class _Batch:
    changes: AttemptBatch = field(default_factory=AttemptBatch)
    ended: list[AttemptRow] = field(default_factory=list)
    # Refused: Asterisk made no channel, so the hangup record under this id, if any, is another's to forget.
    refused: set[str] = field(default_factory=set)


class CallDesk:
    def __init__(
        self,
        *,
        telephony: Telephony,
        attempts: AttemptStore,
        intake: Intake,
        clock: Clock,
        pacers: Mapping[str, TrunkPacer],
        events: EventLog,
        installation: str,
    ) -> None:
        self.telephony = telephony
        self.attempts = attempts
        self.intake = intake
        self.clock = clock
        self.pacers = pacers
        self.events = events
        self.installation = installation  # this database's, first in every attempt id
        self.handlers: dict[str, CallHandler] = {}
        self._slots: dict[str, PacerSlot] = {}  # attempt id -> its trunk channel, until the call ends
        self._open: dict[str, AttemptRow] = {}  # attempts in the air, so facts need no read from storage
        self._to_forget: asyncio.Queue[str] = asyncio.Queue()
        self._adopted: set[str] = set()  # calls found up after a reconnect: their gap may hold a key press
        self._reconciling = asyncio.Lock()
        self.reconciled = asyncio.Event()
        # Set while no facts wait and no batch of them is being written (between_bursts).
        self._quiet = asyncio.Event()
        self._quiet.set()
        self.machines: MachineWatch | None = None  # set when a campaign handles voicemails and assistants
        self._machine_calls: set[str] = set()  # attempts the dialplan's machine branch took
        # With several Asterisks: whether a clinic's own one is up and reconciled (engine/pbx_gates.py).
        self.clinic_ready: Callable[[str], bool] | None = None
        # The dialing lease's tenure while this process leads under one; with none, nothing is checked.
        self.tenure: Tenure | None = None

    def register(self, handler: CallHandler, campaigns: Iterable[str]) -> None:
        """Send the facts of these campaigns' calls to `handler`."""
        for campaign in campaigns:
            self.handlers[campaign] = handler

    def attempt_id(self, campaign: str, target: int, n: int) -> AttemptId:
        """The id of a new attempt: this installation's, so no other installation on the PBX can reuse it."""
        return AttemptId(campaign, target, n, self.installation)

    @property
    def in_flight(self) -> int:
        return len(self._slots)

    # -- dialling ---------------------------------------------------------------------------------

    async def place(self, attempt: AttemptRow, request: OriginateRequest, slot: PacerSlot) -> bool:
        """Dial on a pacer slot the caller holds; the desk takes the slot over and gives it back when the call
        ends. False when nothing was sent. Raises PbxAway, before writing anything, while the clinic's Asterisk
        (one of several) is down or not yet reconciled."""
        if self.clinic_ready is not None and not self.clinic_ready(attempt.clinic_id):
            raise PbxAway(f"the Asterisk of clinic {attempt.clinic_id} is away")
        held = slot.take()
        self._slots[attempt.attempt_id] = held
        self.events.of_attempt(attempt, "originate", detail=mask_phone(attempt.phone))
        try:
            await self.attempts.create(attempt, self.events.drain())
        except BaseException:
            self._release(attempt.attempt_id)
            raise
        self._open[attempt.attempt_id] = attempt
        self.intake.tracker.expect(attempt.attempt_id)
        # The call rate is kept on the wire: the token is taken after the write, right before sending.
        await held.start_token()
        if self.tenure is not None and not self.tenure.fresh(self.clock.monotonic()):
            # Paused past the lease since the row was written: another node may lead by now, and may dial
            # this patient. Nothing is sent; the plan goes on, and its next attempt's row is fenced.
            await self._unplaced(attempt, "the dialing lease was not renewed in time")
            return False
        log.info("dial %s to %s", attempt.attempt_id, mask_phone(attempt.phone))
        try:
            await self.telephony.originate(request)
        except TelephonyUnavailable:
            await self._unplaced(attempt, "no AMI link")
            return False
        except OriginateRejected as err:
            # Asterisk refused outright: no channel exists, so the attempt ends now as a failed call.
            log.warning("call %s refused by Asterisk: %s", attempt.attempt_id, err)
            self.intake.tracker.forget(attempt.attempt_id)
            failed = classify(answered=False, reason=0, cause=None)
            now = self.clock.now()
            await self.apply(
                [CallEnded(attempt.attempt_id, now, False, 0, None, failed, attempt.attempt_id)],
                details={attempt.attempt_id: f"{REFUSED}: {err}"},
            )
        return True

    # -- facts ------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Apply facts as they come, for ever; forget the dialplan's records of finished calls meanwhile."""
        async with asyncio.TaskGroup() as group:
            forget = forever("forget-outcomes", self._forget_finished, self.clock)
            group.create_task(forget, name="forget-outcomes")
            if self.machines is not None:
                group.create_task(self.machines.run(), name="machine-watch")
            await forever("facts", self._apply_batch, self.clock)

    async def _apply_batch(self) -> None:
        facts = [await self.intake.facts.get()]
        self._quiet.clear()
        try:
            # Turns of the loop until QUIET_TURNS in a row bring nothing: socket reads already received add
            # their facts to this batch, so a backlog commits as a few large transactions, not as many small
            # ones. A live call's fact meets quiet turns at once (microseconds) and is written without waiting.
            quiet = 0
            while len(facts) < MAX_BATCH and quiet < QUIET_TURNS:
                await asyncio.sleep(0)
                quiet = quiet + 1 if self.intake.facts.empty() else 0
                while not self.intake.facts.empty() and len(facts) < MAX_BATCH:
                    facts.append(self.intake.facts.get_nowait())
            await self.apply(facts)
        finally:
            if self.intake.facts.empty():
                self._quiet.set()

    async def between_bursts(self, longest: float) -> None:
        """Return once no facts wait and none are being written, or after `longest` seconds of a desk that
        stays busy. The campaigns' follow-ups wait for it: a burst of facts is committed before it is planned,
        in fewer and larger batches, and the follow-ups' writes do not hold the database while the desk's
        commit waits."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(longest):
                await self._quiet.wait()

    async def apply(self, facts: Sequence[Fact], details: Mapping[str, str] | None = None) -> None:
        """Apply facts in memory, commit them in one transaction, then tell the campaigns."""
        if self._adopted:
            facts = await self._with_recorded_facts(facts)
        batch = _Batch()
        for fact in facts:
            attempt = self._open.get(fact.attempt_id) or await self._load(fact.attempt_id)
            if attempt is not None:
                self._apply_one(batch, attempt, fact, (details or {}).get(fact.attempt_id))
        if batch.changes.empty and not self.events.pending:
            return
        ended_ids = await self.attempts.apply(batch.changes, self.events.drain())
        for row in batch.ended:
            if row.attempt_id in ended_ids:
                log.info("call %s ended: %s", row.attempt_id, row.result)
                self._notify(row).finished(row)
                if row.attempt_id not in batch.refused:
                    self._to_forget.put_nowait(row.attempt_id)

    async def _with_recorded_facts(self, facts: Sequence[Fact]) -> list[Fact]:
        """A call followed since a reconnect or a takeover may have had its key pressed, or its second leg
        answered, while nobody watched; the dialplan's hangup record, written before the Hangup event, has it."""
        completed: list[Fact] = []
        for fact in facts:
            if isinstance(fact, CallEnded) and fact.attempt_id in self._adopted:
                self._adopted.discard(fact.attempt_id)
                attempt = self._open.get(fact.attempt_id)
                with contextlib.suppress(TelephonyUnavailable):
                    recorded = await self.telephony.recorded_outcome(fact.attempt_id)
                    if recorded is not None and attempt is not None:
                        completed.extend(recorded_facts(attempt, recorded, fact.at))
            completed.append(fact)
        return completed

    def _apply_one(self, batch: _Batch, attempt: AttemptRow, fact: Fact, detail: str | None) -> None:
        attempt_id = attempt.attempt_id
        if self.machines is not None:
            self.machines.see(fact)
        if isinstance(fact, MachineAnswered):
            self._machine_calls.add(attempt_id)
            self.events.of_attempt(attempt, "machine", at=fact.at)
        elif isinstance(fact, CallStarted):
            self.events.of_attempt(attempt, "channel", at=fact.at, detail=fact.channel.split("/")[0])
        elif isinstance(fact, CallAnswered):
            batch.changes.answered.append((attempt_id, fact.at))
            self._open[attempt_id] = attempt.answered()
            self.events.of_attempt(attempt, "answered", at=fact.at)
        elif isinstance(fact, DigitPressed):
            settled = self._notify(attempt).digit_pressed(attempt, fact.digit, fact.at)
            batch.changes.digits.append((attempt_id, fact.digit, settled))
            self._open[attempt_id] = attempt.with_digit(fact.digit, settled)
            self.events.of_attempt(attempt, "digit", at=fact.at, digit=fact.digit)
        elif isinstance(fact, DigitIgnored):
            log.info("call %s: key %s ignored, %s was taken first", attempt_id, fact.digit, fact.taken)
            self.events.of_attempt(
                attempt, "digit_ignored", at=fact.at, digit=fact.digit, detail=f"taken {fact.taken}"
            )
        elif isinstance(fact, PatientLeg):
            settled = self._notify(attempt).patient_leg(attempt, fact)
            batch.changes.legs.append((attempt_id, fact.status, settled))
            self._open[attempt_id] = attempt.with_leg(fact.status, settled)
            self.events.of_attempt(attempt, "patient_leg", at=fact.at, detail=fact.status)
        elif isinstance(fact, JoinedQueue):
            self.events.of_attempt(attempt, "queue", at=fact.at, detail=fact.queue)
            self._notify(attempt).queued(attempt, fact.queue, fact.at)
        elif isinstance(fact, CallEnded):
            self._release(attempt_id)
            attempt = self._open.pop(attempt_id, attempt)
            if attempt_id in self._machine_calls:
                self._machine_calls.discard(attempt_id)
                fact = replace(fact, result=CallResult.MACHINE)
            if refused(fact):
                log.warning("call %s refused by Asterisk (its id in use on the PBX?): no channel", attempt_id)
                batch.refused.add(attempt_id)
            end = AttemptEnd(
                attempt_id, fact.at, fact.reason, fact.cause, fact.result, fact.answered, fact.linkedid
            )
            batch.changes.ends.append(end)
            batch.ended.append(attempt.ended(fact.result))
            self.events.of_attempt(
                attempt,
                "ended",
                at=fact.at,
                reason=fact.reason,
                cause=fact.cause,
                linkedid=fact.linkedid,
                detail=detail or _outcome_detail(fact),
            )

    async def _load(self, attempt_id: str) -> AttemptRow | None:
        """An attempt of an earlier run of this process, met on the fact path (rare: after a restart)."""
        row = await self.attempts.get(attempt_id)
        if row is not None and row.state in (AttemptState.DIALING, AttemptState.ANSWERED):
            self._open[attempt_id] = row
            return row
        return None

    def _notify(self, attempt: AttemptRow) -> CallHandler:
        return self.handlers.get(AttemptId.parse(attempt.attempt_id).campaign, _NO_HANDLER)

    def _release(self, attempt_id: str) -> None:
        slot = self._slots.pop(attempt_id, None)
        if slot is not None:
            slot.release()

    async def _unplaced(self, attempt: AttemptRow, why: str) -> None:
        self._release(attempt.attempt_id)
        self._open.pop(attempt.attempt_id, None)
        self.intake.tracker.forget(attempt.attempt_id)
        self.events.of_attempt(attempt, "unplaced", detail=why)
        row = await self.attempts.unplaced(attempt.attempt_id, self.clock.now(), self.events.drain())
        if row is not None:
            log.warning(
                "call %s was never placed (%s); the plan continues with a new attempt",
                attempt.attempt_id,
                why,
            )
            self._notify(row).finished(row)

    async def _forget_finished(self) -> None:
        """Delete the hangup handler's AstDB record of each stored call, off the fact path."""
        attempt_id = await self._to_forget.get()
        # Without a link the record stays: harmless, it is only ever read for open attempts.
        with contextlib.suppress(TelephonyUnavailable):
            await self.telephony.forget_outcome(attempt_id)

    def drop_all(self) -> None:
        """Forget every call in the air and give back their trunk channels, and let the worker wait for the
        next reconcile: this node no longer dials, and whoever leads next asks Asterisk about these calls."""
        for attempt_id in {*self._open, *self._slots}:
            self._release(attempt_id)
            self.intake.tracker.forget(attempt_id)
        self._open.clear()
        self._adopted.clear()
        self._machine_calls.clear()
        self.events.drain()  # their lines would be written by a node that no longer holds the lease
        self.reconciled.clear()

    # -- reconciliation ---------------------------------------------------------------------------

    async def reconcile(self, on: PbxScope | None = None) -> None:
        """Ask Asterisk what became of every open attempt. Runs after each (re)connect, before dialling.

        With several Asterisks, `on` names one: only its clinics' attempts are asked about, of it alone, and
        its own gate is set after; the others' attempts wait for their own Asterisk."""
        gate = self.reconciled if on is None else on.gate
        telephony = self.telephony if on is None else on.telephony
        async with self._reconciling:
            gate.clear()
            await self.clock.sleep(RECONCILE_SETTLE_SECONDS)
            unseen = await self.attempts.open_attempts()
            if on is not None:
                unseen = [attempt for attempt in unseen if on.owns(attempt.clinic_id)]
            for pause in (*RECONCILE_RECHECK_SECONDS, None):
                if not unseen:
                    break
                unseen = await self._reconcile_seen(unseen, telephony, last_look=pause is None)
                if pause is not None and unseen:
                    await self.clock.sleep(pause)
            gate.set()

    async def _reconcile_seen(
        self, attempts: list[AttemptRow], telephony: Telephony, *, last_look: bool
    ) -> list[AttemptRow]:
        """Reconcile the attempts Asterisk knows of; the others are returned to be looked for again, or, at the
        last look, counted as never placed."""
        live = await telephony.live_channels()
        unseen = []
        for attempt in attempts:
            channel = live.get(attempt.attempt_id)
            recorded = None if channel is not None else await telephony.recorded_outcome(attempt.attempt_id)
            if channel is None and recorded is None and not last_look:
                unseen.append(attempt)
            else:
                await self._reconcile_one(attempt, channel, recorded)
        return unseen

    async def _reconcile_one(
        self, attempt: AttemptRow, live: LiveChannel | None, recorded: RecordedOutcome | None
    ) -> None:
        self._open[attempt.attempt_id] = attempt
        if live is not None:
            answered = live.state == "Up"
            self.intake.tracker.adopt(attempt.attempt_id, answered=answered, originate_done=answered)
            self._adopted.add(attempt.attempt_id)
            if attempt.attempt_id not in self._slots:
                slot = self.pacers[attempt.trunk].occupy()
                if slot is not None:
                    self._slots[attempt.attempt_id] = slot
            log.info("call %s is still up on Asterisk; following it", attempt.attempt_id)
            return
        if recorded is None:
            await self._unplaced(attempt, "Asterisk has no channel and no record of it")
            return
        self.intake.tracker.forget(attempt.attempt_id)
        now = self.clock.now()
        answered = bool(recorded.stage)
        facts = recorded_facts(attempt, recorded, now)
        result: CallResult = classify(answered=answered, reason=None, cause=recorded.cause, sip=recorded.sip)
        if recorded.stage == MACHINE_STAGE:
            result = CallResult.MACHINE
        facts.append(
            CallEnded(
                attempt.attempt_id,
                now,
                answered,
                None,
                recorded.cause,
                result,
                attempt.attempt_id,
                recorded.sip,
            )
        )
        await self.apply(facts, details={attempt.attempt_id: RECOVERED})


REFUSED = "refused by Asterisk, no channel made"


def _outcome_detail(fact: CallEnded) -> str:
    """The result, and over a trunk the SIP response it came from: the one thing a carrier's support asks for."""
    if refused(fact):
        return f"{fact.result.value}, {REFUSED}"
    return fact.result.value if fact.sip is None else f"{fact.result.value}, SIP {fact.sip}"


def refused(fact: CallEnded) -> bool:
    """Asterisk answered our Originate with Failure before any channel of ours existed (Reason 0 and no hangup
    cause): its id already in use on the PBX, an unknown channel technology. The attempt ends failed, as any
    call that did not go through: the plan's next call comes at its own time, under a new id."""
    return not fact.answered and fact.reason == 0 and fact.cause is None


class _NoHandler(CallHandler):
    def finished(self, attempt: AttemptRow) -> None:
        return None


_NO_HANDLER = _NoHandler()


def attempt_row(
    *, attempt_id: AttemptId, clinic_id: str, phone: str, trunk: str, now: datetime
) -> AttemptRow:
    return AttemptRow(
        attempt_id=str(attempt_id),
        clinic_id=clinic_id,
        target_id=attempt_id.target,
        n=attempt_id.n,
        phone=phone,
        trunk=trunk,
        state=AttemptState.DIALING,
        created_at=now,
    )
