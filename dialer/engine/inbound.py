"""What happens to inbound calls: every finished one is stored for the service level; a missed one becomes a
callback task; an answered one (or an administrator's own call) closes the caller's open callback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from dialer.core.clock import Clock
from dialer.core.errors import FieldError
from dialer.core.inbound import InboundAnswered, InboundEnded, InboundFact, MissReason, StaffCallAnswered
from dialer.core.phones import normalize_phone
from dialer.core.privacy import mask_phone
from dialer.core.records import CloseReason, InboundCallRow, InboundSource
from dialer.core.stores import HeldCallsSpool, InboundStore
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.intake import Intake
from dialer.engine.loops import consume, forever
from dialer.settings import Settings

log = logging.getLogger("dialer.inbound")

# A finished call's storing is tried this many times (after pauses of 1, 2 and 4 s) before it is held aside.
STORE_TRIES = 4
# How often the calls held aside are tried again: the database may be away for minutes (a restart, a failover).
HELD_RETRY_EVERY = 30.0

LiveListener = Callable[[InboundFact], None]


def e164_or_empty(raw: str) -> str:
    """The caller as E.164, or "" for a hidden, internal or foreign number (no callback for those)."""
    if not raw:
        return ""
    try:
        return normalize_phone(raw)
    except FieldError:
        return ""


class InboundDesk:
    def __init__(
        self,
        *,
        settings: Settings,
        intake: Intake,
        store: InboundStore,
        callbacks: CallbackFlow,
        clock: Clock,
        spool: HeldCallsSpool | None = None,
    ) -> None:
        """`spool`: where the calls held aside are kept through a restart; without it, in memory only."""
        self.settings = settings
        self.intake = intake
        self.store = store
        self.callbacks = callbacks
        self.clock = clock
        self.listeners: list[LiveListener] = []  # the operators' pop-ups and the supervisor's screen
        self._heard: InboundFact | None = None
        # Finished calls not stored after STORE_TRIES, by call id: tried again until they are.
        self.spool = spool
        self.held: dict[str, InboundEnded] = {call.call_id: call for call in spool.load()} if spool else {}
        if self.held:
            log.warning("%d inbound calls held aside by an earlier run; tried again", len(self.held))

    async def run(self) -> None:
        # A missed call is stored with its callback all or nothing, so storing it again after a failure is safe.
        await consume(
            "inbound",
            self.intake.inbound_facts,
            self._take,
            self.clock,
            tries=STORE_TRIES,
            give_up=self.hold,
        )

    def hold(self, fact: InboundFact) -> None:
        """Keep a finished call the database refused, to store it later (`keep_trying_held`)."""
        if isinstance(fact, InboundEnded):
            self.held[fact.call_id] = fact
            self._keep_held()
            log.warning(
                "inbound call %s not stored; held, tried again every %.0f s (%d held)",
                fact.call_id,
                HELD_RETRY_EVERY,
                len(self.held),
            )

    async def keep_trying_held(self) -> None:
        """Store the calls held aside, oldest first, until each is stored. New calls go on being stored as they
        end meanwhile, not behind these."""

        async def turn() -> None:
            await self.clock.sleep(HELD_RETRY_EVERY)
            for call_id, fact in sorted(self.held.items(), key=lambda item: item[1].started_at):
                await self.ended(fact)
                del self.held[call_id]
                self._keep_held()
                log.info("inbound call %s held aside is stored now (%d still held)", call_id, len(self.held))

        await forever("inbound-held", turn, self.clock)

    def _keep_held(self) -> None:
        if self.spool is None:
            return
        try:
            self.spool.save(list(self.held.values()))
        except OSError as err:
            # Still held in memory, and read from queue_log again after a restart (`watched_until`).
            log.error("inbound calls held aside not kept on disk: %s", type(err).__name__)

    def watched_until(self, now: datetime) -> datetime:
        """Until when the calls seen are safe in the database: a call held aside began before, and a restart
        must read it from queue_log again if the process dies before it is stored."""
        return min([now, *(fact.started_at for fact in self.held.values())])

    async def _take(self, fact: InboundFact) -> None:
        if fact is not self._heard:  # a fact handled again after a failure has been told already
            self._heard = fact
            for listener in self.listeners:
                listener(fact)
        await self.handle(fact)

    async def handle(self, fact: InboundFact) -> None:
        if isinstance(fact, InboundEnded):
            await self.ended(fact)
        elif isinstance(fact, InboundAnswered):
            phone = e164_or_empty(fact.caller)
            if phone:
                self.callbacks.contact(phone, CloseReason.PATIENT_CALLED_IN, fact.at)
        elif isinstance(fact, StaffCallAnswered):
            phone = e164_or_empty(fact.number)
            if phone:
                self.callbacks.contact(phone, CloseReason.STAFF_CALL, fact.at)

    async def ended(self, fact: InboundEnded, source: InboundSource = InboundSource.LIVE) -> None:
        clinic = self.settings.clinic_for_call(fact.did, fact.queue, fact.call_id)
        if clinic is None:
            log.info("inbound call %s to %s matches no clinic; not counted", fact.call_id, fact.did)
            return
        phone = e164_or_empty(fact.caller)
        miss = fact.miss
        if miss is not None and not clinic.hours.is_open(fact.started_at, clinic.timezone):
            miss = MissReason.AFTER_HOURS
        row = InboundCallRow(
            call_id=fact.call_id,
            clinic_id=clinic.id,
            did=fact.did,
            queue=fact.queue,
            caller=phone,
            hidden=not fact.caller,
            started_at=fact.started_at,
            answered_at=fact.answered_at,
            ended_at=fact.ended_at,
            waited=fact.waited,
            answered_by=fact.answered_by,
            miss_reason=miss,
            source=source,
            queue_channel=fact.queue_channel,
        )
        # A replay, or a call recovered and then seen live, finds its id stored and is left alone.
        if miss is not None and phone:
            if await self.callbacks.register_miss(clinic, row) is not None:
                log.info("missed call %s from %s: %s", fact.call_id, mask_phone(phone), miss.value)
            return
        if not await self.store.record(row):
            return
        if miss is not None:
            log.info("missed call %s from a hidden number: counted, cannot be called back", fact.call_id)
