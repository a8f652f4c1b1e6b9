"""The attempt lifecycle: write "dialing", send one Originate, follow the facts, reconcile after a gap.

A patient is never dialled twice for one attempt: the attempt row is committed before the Originate
goes out, the Originate is never resent, and after a lost link or a restart the engine asks Asterisk
what became of every open attempt (live channels, then the hangup handler's AstDB record) before
anything else is dialled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dialer.campaigns.planner import Settled
from dialer.core.clock import Clock
from dialer.core.facts import CallAnswered, CallEnded, CallStarted, DigitPressed, Fact, JoinedQueue
from dialer.core.ids import AttemptId
from dialer.core.outcomes import classify
from dialer.core.privacy import mask_phone
from dialer.engine.eventlog import EventLog
from dialer.engine.intake import Intake
from dialer.engine.model import AttemptEnd, AttemptRow, AttemptState, EventRow
from dialer.engine.pacer import TrunkPacer
from dialer.engine.ports import (
    LiveChannel,
    OriginateRejected,
    OriginateRequest,
    Telephony,
    TelephonyUnavailable,
)
from dialer.engine.stores import AttemptStore

log = logging.getLogger("dialer.calls")

# Give an Originate that was on the wire when the link dropped time to become a channel before we look.
RECONCILE_SETTLE_SECONDS = 0.5


class CallHandler(Protocol):
    """What a campaign does with its calls' facts."""

    async def on_digit(self, attempt: AttemptRow, digit: str, at: datetime) -> Settled: ...

    async def on_queued(self, attempt: AttemptRow, queue: str, at: datetime) -> None: ...

    async def on_finished(self, attempt: AttemptRow) -> None:
        """The attempt ended (or was never placed); plan the target's next step."""
        ...


@dataclass(frozen=True)
class PlacedCall:
    attempt: AttemptRow
    request: OriginateRequest


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
    ) -> None:
        self.telephony = telephony
        self.attempts = attempts
        self.intake = intake
        self.clock = clock
        self.pacers = pacers
        self.events = events
        self.handlers: dict[str, CallHandler] = {}
        self._slots: dict[str, TrunkPacer] = {}
        self._reconciling = asyncio.Lock()
        self.reconciled = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._slots)

    async def place(self, attempt: AttemptRow, request: OriginateRequest) -> bool:
        """Dial with a pacer slot the caller holds; the slot is ours from here on. False when nothing was sent."""
        pacer = self.pacers[attempt.trunk]
        self._slots[attempt.attempt_id] = pacer
        self._log(attempt.clinic_id, attempt.attempt_id, "originate", detail=mask_phone(attempt.phone))
        try:
            await self.attempts.create(attempt, self.events.drain())
        except BaseException:
            self._slots.pop(attempt.attempt_id, None)
            pacer.release()
            raise
        self.intake.tracker.expect(attempt.attempt_id)
        log.info("dial %s to %s", attempt.attempt_id, mask_phone(attempt.phone))
        try:
            await self.telephony.originate(request)
        except TelephonyUnavailable:
            await self._unplaced(attempt.attempt_id, "no AMI link")
            return False
        except OriginateRejected as err:
            # Asterisk refused outright: no channel exists, so the attempt ends now as a failed call.
            self.intake.tracker.forget(attempt.attempt_id)
            await self._end(
                AttemptEnd(
                    attempt.attempt_id,
                    self.clock.now(),
                    None,
                    None,
                    classify(answered=False, reason=0, cause=None),
                    False,
                    attempt.attempt_id,
                ),
                detail=str(err),
            )
        return True

    async def run(self) -> None:
        """Consume facts in order, for ever."""
        while True:
            fact = await self.intake.facts.get()
            try:
                await self.handle(fact)
            except Exception:
                log.exception("fact %s for %s failed", type(fact).__name__, getattr(fact, "attempt_id", "?"))

    async def handle(self, fact: Fact) -> None:
        if isinstance(fact, CallEnded):
            await self._end(
                AttemptEnd(
                    fact.attempt_id,
                    fact.at,
                    fact.reason,
                    fact.cause,
                    fact.result,
                    fact.answered,
                    fact.linkedid,
                )
            )
            await self.telephony.forget_outcome(fact.attempt_id)
            return
        attempt = await self.attempts.get(fact.attempt_id)
        if attempt is None:
            return
        if isinstance(fact, CallStarted):
            self._log(attempt.clinic_id, attempt.attempt_id, "channel", detail=fact.channel.split("/")[0])
        elif isinstance(fact, CallAnswered):
            await self.attempts.answered(attempt.attempt_id, fact.at)
            self._log(attempt.clinic_id, attempt.attempt_id, "answered", at=fact.at)
        elif isinstance(fact, DigitPressed):
            await self._digit(attempt, fact.digit, fact.at)
        elif isinstance(fact, JoinedQueue):
            self._log(attempt.clinic_id, attempt.attempt_id, "queue", at=fact.at, detail=fact.queue)
            handler = self.handlers.get(AttemptId.parse(attempt.attempt_id).campaign)
            if handler is not None:
                await handler.on_queued(attempt, fact.queue, fact.at)

    async def _digit(self, attempt: AttemptRow, digit: str, at: datetime) -> Settled:
        self._log(attempt.clinic_id, attempt.attempt_id, "digit", at=at, digit=digit)
        handler = self.handlers.get(AttemptId.parse(attempt.attempt_id).campaign)
        settled = await handler.on_digit(attempt, digit, at) if handler else Settled.OPEN
        await self.attempts.digit(attempt.attempt_id, digit, settled)
        return settled

    async def _end(self, end: AttemptEnd, detail: str | None = None) -> None:
        pacer = self._slots.pop(end.attempt_id, None)
        if pacer is not None:
            pacer.release()
        attempt = await self.attempts.get(end.attempt_id)
        if attempt is None:
            return
        self._log(
            attempt.clinic_id,
            attempt.attempt_id,
            "ended",
            at=end.at,
            reason=end.reason,
            cause=end.cause,
            linkedid=end.linkedid,
            detail=detail or end.result.value,
        )
        # The end and the log rows before it commit together: a crash never leaves a call without its record.
        row = await self.attempts.end(end, self.events.drain())
        if row is None:
            return  # already ended: a replayed or duplicate fact
        log.info("call %s ended: %s (reason %s, cause %s)", row.attempt_id, end.result, end.reason, end.cause)
        await self._finished(row)

    async def _unplaced(self, attempt_id: str, why: str) -> None:
        pacer = self._slots.pop(attempt_id, None)
        if pacer is not None:
            pacer.release()
        self.intake.tracker.forget(attempt_id)
        attempt = await self.attempts.get(attempt_id)
        if attempt is None:
            return
        self._log(attempt.clinic_id, attempt_id, "unplaced", detail=why)
        row = await self.attempts.unplaced(attempt_id, self.clock.now(), self.events.drain())
        if row is not None:
            log.warning(
                "call %s was never placed (%s); the plan continues with a new attempt", attempt_id, why
            )
            await self._finished(row)

    async def _finished(self, row: AttemptRow) -> None:
        handler = self.handlers.get(AttemptId.parse(row.attempt_id).campaign)
        if handler is not None:
            await handler.on_finished(row)

    async def reconcile(self) -> None:
        """Ask Asterisk what became of every open attempt. Runs after each (re)connect, before dialling."""
        async with self._reconciling:
            self.reconciled.clear()
            await asyncio.sleep(RECONCILE_SETTLE_SECONDS)
            open_attempts = await self.attempts.open_attempts()
            if open_attempts:
                live = await self.telephony.live_channels()
                for attempt in open_attempts:
                    await self._reconcile_one(attempt, live.get(attempt.attempt_id))
            self.reconciled.set()

    async def _reconcile_one(self, attempt: AttemptRow, live: LiveChannel | None) -> None:
        if live is not None:
            answered = live.state == "Up"
            self.intake.tracker.adopt(attempt.attempt_id, answered=answered, originate_done=answered)
            if attempt.attempt_id not in self._slots and self.pacers[attempt.trunk].occupy():
                self._slots[attempt.attempt_id] = self.pacers[attempt.trunk]
            log.info("call %s is still up on Asterisk; following it", attempt.attempt_id)
            return
        recorded = await self.telephony.recorded_outcome(attempt.attempt_id)
        if recorded is None:
            await self._unplaced(attempt.attempt_id, "Asterisk has no channel and no record of it")
            return
        answered = bool(recorded.stage)
        if recorded.digit and attempt.digit != recorded.digit:
            await self._digit(attempt, recorded.digit, self.clock.now())
        self.intake.tracker.forget(attempt.attempt_id)
        await self._end(
            AttemptEnd(
                attempt.attempt_id,
                self.clock.now(),
                None,
                recorded.cause,
                classify(answered=answered, reason=None, cause=recorded.cause),
                answered,
                attempt.attempt_id,
                digit=recorded.digit or None,
            ),
            detail="recovered from the dialplan's record",
        )
        await self.telephony.forget_outcome(attempt.attempt_id)

    def _log(
        self,
        clinic_id: str,
        attempt_id: str,
        kind: str,
        *,
        at: datetime | None = None,
        reason: int | None = None,
        cause: int | None = None,
        digit: str | None = None,
        linkedid: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.events.add(
            EventRow(
                clinic_id=clinic_id,
                attempt_id=attempt_id,
                at=at or self.clock.now(),
                kind=kind,
                uniqueid=attempt_id,
                linkedid=linkedid,
                reason=reason,
                cause=cause,
                digit=digit,
                detail=detail,
            )
        )


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
