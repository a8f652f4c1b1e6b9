"""The administrator's pop-up: when their phone rings, a card of who is calling, and after the call the
wrap-up. Cards follow the ring facts; a wrap-up is stored from the moment the call is answered, so a page
reload or a second tab never loses it.

Each call's facts are handled in order, and calls apart from one another: a card never waits for another
call's wrap-up to be written, nor for a database hiccup met by another call.

A caller's card is read while they wait for a phone to ring (the greeting, the queue's announcement, the callers
before them), so the phone that rings shows it at once. It is read again at the ring when it is more than
CARD_FRESH_SECONDS old or the queue turned out to be another clinic's than the number dialled.

A card belongs to the clinic of its call (the dialer's own call: its attempt's; a patient's: the number they
dialled, else the queue) and goes only to the users of that clinic whose phone rings, with that clinic's
records only. A call of no known clinic goes only to users of every clinic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from dialer.core.cards import CardMessage, CardState, CloseMessage, PatientCard, PopupMessage
from dialer.core.clock import Clock
from dialer.core.privacy import describe_error
from dialer.core.records import WrapupRow, WrapupState
from dialer.core.ringing import (
    CallerWaiting,
    CallGone,
    PhoneAnswered,
    PhoneRinging,
    PhoneStopped,
    RingFact,
)
from dialer.core.staff import UserRow
from dialer.core.stores import AttemptStore, CardStore, UserStore, WrapupStore
from dialer.engine.inbound import e164_or_empty
from dialer.engine.loops import forever
from dialer.settings import Settings

log = logging.getLogger("dialer.popups")

Push = Callable[[int, PopupMessage], None]
REFRESH_OPERATORS_SECONDS = 30.0
UNKNOWN_PHONE_RECHECK_SECONDS = 2.0
CARD_FRESH_SECONDS = 60.0
MAX_READ_CARDS = 10_000  # calls whose end was never seen go first
# A burst of arriving callers must not take every pooled database connection (the pool would open more, each a
# connect and a login, while a ringing phone's read waits): past this many reads ahead at once, a caller's card is
# read when they join the queue, or at the ring.
MAX_READS_AHEAD = 2

REASONS = {
    "inbound": "Входящий звонок",
    "direct": "Звонок на ваш номер",
    "reminder": "Пациент нажал 3 в напоминании о визите и ждёт администратора",
    "callback": "Перезвон пропущенного звонка («Мы звоним»)",
    "kos": "КОС: приглашение на контрольный осмотр («Мы звоним»)",
    "diary": "Ежедневник: звонок по записи в ежедневнике («Мы звоним»)",
    "offer": "Лист ожидания: освободилось время, пациент ждал его («Мы звоним»)",
}
OFFERS = {
    "inbound": "Узнайте цель звонка. Предложите два конкретных времени: «сегодня 18:40» или «завтра 12:20».",
    "direct": "Узнайте цель звонка. Предложите два конкретных времени.",
    "reminder": "Подтвердите, перенесите или отмените визит. При переносе предложите два конкретных времени.",
    "callback": "Извинитесь, что не ответили. Предложите два конкретных времени: «сегодня 18:40» или «завтра 12:20».",
    "kos": "Передайте предложение врача из карточки и пригласите на осмотр: два конкретных времени.",
    "diary": "Позвоните по комментарию в ежедневнике; договоритесь о записи или о новой дате звонка.",
    "offer": "Предложите освободившееся время; если не подходит — оставьте в листе ожидания.",
}


@dataclass(frozen=True, slots=True)
class ReadCard:
    """Who a call is from, as read for its card: the phone, the call's clinic and the patient's records."""

    phone: str
    clinic_id: str
    patient: PatientCard | None
    read_at: float  # the clock's monotonic seconds
    ref: str = ""  # the dialer's own call: the attempt its phone and clinic were read from


@dataclass
class Card:
    call_key: str
    interface: str
    kind: str
    phone: str
    state: CardState
    started_at: datetime
    patient: PatientCard | None
    answered_at: datetime | None = None
    wrapup_id: int | None = None
    clinic_id: str = ""

    def message(self, now: datetime, tz: str = "") -> CardMessage:
        """The card for the operator's page; times are shown in the clinic's zone `tz`, and `now` lets the
        browser count down on the service's clock whatever its own clock says."""
        return {
            "type": "card",
            "now": now.isoformat(),
            "tz": tz,
            "call": self.call_key,
            "state": self.state,
            "kind": self.kind,
            "phone": self.phone,
            "reason": REASONS.get(self.kind, ""),
            "offer": OFFERS.get(self.kind, ""),
            "started_at": self.started_at.isoformat(),
            "wrapup_id": self.wrapup_id,
            "card": self.patient.view(now) if self.patient else None,
        }


@dataclass
class Popups:
    settings: Settings
    cards: CardStore
    users: UserStore
    attempts: AttemptStore
    wrapups: WrapupStore
    clock: Clock
    push: Push  # the web layer's: send to the user's open pages
    _queue: asyncio.Queue[RingFact] = field(default_factory=asyncio.Queue)
    _by_interface: dict[str, set[int]] = field(default_factory=dict)
    _users: dict[int, UserRow] = field(default_factory=dict)
    _live: dict[int, dict[str, Card]] = field(default_factory=dict)
    _refreshed: float = -1e9
    _calls: dict[str, asyncio.Task[None]] = field(
        default_factory=dict
    )  # call key -> its last fact's handling
    _read: dict[str, ReadCard] = field(default_factory=dict)  # call key -> its card, read ahead of the ring
    _reading_ahead: int = 0

    def feed(self, fact: RingFact) -> None:
        """Called from the intake, on the AMI protocol's path: only queue the fact."""
        self._queue.put_nowait(fact)

    async def refresh_operators(self) -> None:
        mapping: dict[str, set[int]] = {}
        people: dict[int, UserRow] = {}
        for user in await self.users.all():
            if not user.disabled:
                people[user.user_id] = user
                for interface in user.interfaces:
                    mapping.setdefault(interface, set()).add(user.user_id)
        self._by_interface, self._users = mapping, people
        self._refreshed = self.clock.monotonic()

    def _zone(self, clinic_id: str) -> str:
        clinic = self.settings.clinics.get(clinic_id)
        return clinic.timezone.key if clinic is not None else ""

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(forever("operators", self._refresh_turn, self.clock))
            while True:
                fact = await self._queue.get()
                key = fact.call_key
                task = group.create_task(self._after(self._calls.get(key), fact))
                self._calls[key] = task
                task.add_done_callback(partial(self._forget, key))

    def _forget(self, key: str, done: asyncio.Task[None]) -> None:
        if self._calls.get(key) is done:
            del self._calls[key]

    async def _after(self, before: asyncio.Task[None] | None, fact: RingFact) -> None:
        """Handle `fact` once the call's fact before it is handled. A fact that fails is logged and left: the
        call's next fact (its answer, its end) is still handled."""
        if before is not None:
            await asyncio.wait([before])
        try:
            await self.handle(fact)
        except Exception as error:
            log.error("popups: a %s failed: %s", type(fact).__name__, describe_error(error))

    async def _refresh_turn(self) -> None:
        """Who has which phone: now, then every REFRESH_OPERATORS_SECONDS."""
        await self.refresh_operators()
        await self.clock.sleep(REFRESH_OPERATORS_SECONDS)

    async def handle(self, fact: RingFact) -> None:
        if isinstance(fact, CallerWaiting):
            await self._read_ahead(fact)
        elif isinstance(fact, PhoneRinging):
            await self._ringing(fact)
        elif isinstance(fact, PhoneAnswered):
            await self._answered(fact)
        elif isinstance(fact, PhoneStopped):
            for user_id in self._by_interface.get(fact.interface, ()):
                if self._live.get(user_id, {}).pop(fact.call_key, None) is not None:
                    self.push(user_id, _closed(fact.call_key))
        elif isinstance(fact, CallGone):
            self._read.pop(fact.call_key, None)
            await self._gone(fact)

    async def _read_ahead(self, fact: CallerWaiting) -> None:
        """Read the waiting caller's card now, if it shows a number any user could be shown and fewer than
        MAX_READS_AHEAD are being read; once per call, unless the queue they joined tells another clinic than the
        number they dialled."""
        phone, clinic_id = await self._caller(fact)
        if not phone or not any(user.holds(clinic_id) for user in self._users.values()):
            return
        if self._fresh(fact.call_key, phone, clinic_id) is not None or self._reading_ahead >= MAX_READS_AHEAD:
            return
        self._reading_ahead += 1
        try:
            await self._read_card(fact.call_key, phone, clinic_id, fact.ref)
        finally:
            self._reading_ahead -= 1

    def _fresh(self, call_key: str, phone: str, clinic_id: str) -> ReadCard | None:
        read = self._read.get(call_key)
        if read is None or (read.phone, read.clinic_id) != (phone, clinic_id):
            return None
        return read if self._young(read) else None

    def _young(self, read: ReadCard) -> bool:
        return self.clock.monotonic() - read.read_at <= CARD_FRESH_SECONDS

    async def _read_card(self, call_key: str, phone: str, clinic_id: str, ref: str = "") -> ReadCard:
        patient = await self.cards.card(phone, self.clock.now(), clinic_id or None) if phone else None
        read = ReadCard(phone, clinic_id, patient, self.clock.monotonic(), ref)
        self._read.pop(call_key, None)
        if len(self._read) >= MAX_READ_CARDS:
            del self._read[next(iter(self._read))]
        self._read[call_key] = read
        return read

    async def _card_of(self, fact: PhoneRinging) -> ReadCard:
        """The ringing call's card: read ahead while the caller waited, or by another phone rung for the same
        call, if fresh and of the same number and clinic; else read now. The dialer's own call keeps the phone
        and clinic of its attempt, so a card read for that attempt needs no second look at it."""
        read = self._read.get(fact.call_key)
        if fact.ref and read is not None and read.ref == fact.ref and self._young(read):
            return read
        phone, clinic_id = await self._caller(fact)
        read = self._fresh(fact.call_key, phone, clinic_id)
        return read if read is not None else await self._read_card(fact.call_key, phone, clinic_id, fact.ref)

    async def _ringing(self, fact: PhoneRinging) -> None:
        users = await self._users_of_phone(fact.interface)
        if not users:
            return
        read = await self._card_of(fact)
        phone, clinic_id = read.phone, read.clinic_id
        # Only the users of the call's clinic get its card, even when a phone is shared across clinics.
        users = {u for u in users if u in self._users and self._users[u].holds(clinic_id)}
        if not users:
            log.info(
                "call %s rang %s: no user of clinic %r has that phone",
                fact.call_key,
                fact.interface,
                clinic_id,
            )
            return
        now = self.clock.now()
        card = Card(
            fact.call_key,
            fact.interface,
            fact.kind,
            phone,
            CardState.RINGING,
            fact.at,
            read.patient,
            clinic_id=clinic_id,
        )
        for user_id in users:
            self._live.setdefault(user_id, {})[fact.call_key] = replace(card)
            self.push(user_id, card.message(now, self._zone(card.clinic_id)))

    async def _users_of_phone(self, interface: str) -> set[int] | None:
        users = self._by_interface.get(interface)
        if not users and self.clock.monotonic() - self._refreshed > UNKNOWN_PHONE_RECHECK_SECONDS:
            await self.refresh_operators()  # someone may have been given this phone since the last look
            users = self._by_interface.get(interface)
        return users

    async def _caller(self, fact: PhoneRinging | CallerWaiting) -> tuple[str, str]:
        """The phone and clinic a card shows: our own call's attempt, or the caller and the number dialled."""
        if fact.ref:
            attempt = await self.attempts.get(fact.ref)
            if attempt is not None:
                return attempt.phone, attempt.clinic_id
            return e164_or_empty(fact.caller), ""
        clinic = self.settings.clinic_for_call(fact.did, fact.queue, fact.call_key)
        return e164_or_empty(fact.caller), clinic.id if clinic is not None else ""

    async def _answered(self, fact: PhoneAnswered) -> None:
        now = self.clock.now()
        for user_id in self._by_interface.get(fact.interface, ()):
            card = self._live.get(user_id, {}).get(fact.call_key)
            if card is None:
                continue
            card.state, card.answered_at = CardState.ACTIVE, fact.at
            wrapup = await self.wrapups.open(
                WrapupRow(
                    0,
                    card.clinic_id,
                    user_id,
                    card.call_key,
                    card.phone,
                    "in" if card.kind in ("inbound", "direct") else "out",
                    card.kind,
                    card.started_at,
                    fact.at,
                    None,
                    WrapupState.PENDING,
                )
            )
            card.wrapup_id = wrapup.wrapup_id
            self.push(user_id, card.message(now, self._zone(card.clinic_id)))

    async def _gone(self, fact: CallGone) -> None:
        now = self.clock.now()
        # A copy: writing a wrap-up's end awaits, and meanwhile another call may ring a user with no card yet.
        for user_id, cards in list(self._live.items()):
            card = cards.pop(fact.call_key, None)
            if card is None:
                continue
            if card.state == CardState.ACTIVE and card.wrapup_id is not None:
                await self.wrapups.ended(card.wrapup_id, fact.at)
                card.state = CardState.WRAPUP
                self.push(user_id, card.message(now, self._zone(card.clinic_id)))
            else:
                self.push(user_id, _closed(fact.call_key))

    def in_progress(self, user: UserRow) -> list[CardMessage]:
        """The cards of the calls in progress that the user is shown now, of the clinics the user holds (no
        wrap-ups): what a page that polls for its calls is answered."""
        now = self.clock.now()
        return [
            card.message(now, self._zone(card.clinic_id))
            for card in self._live.get(user.user_id, {}).values()
            if user.holds(card.clinic_id)
        ]

    async def unsaved_wrapups(self, user: UserRow) -> list[CardMessage]:
        """The user's wrap-ups not yet saved, of the clinics the user holds now, as their cards."""
        now = self.clock.now()
        messages: list[CardMessage] = []
        for row in await self.wrapups.pending(user.user_id):
            if user.holds(row.clinic_id):
                patient = await self.cards.card(row.phone, now, row.clinic_id or None) if row.phone else None
                card = Card(
                    row.call_ref,
                    "",
                    row.reason,
                    row.phone,
                    CardState.WRAPUP,
                    row.started_at,
                    patient,
                    row.answered_at,
                    row.wrapup_id,
                    row.clinic_id,
                )
                messages.append(card.message(now, self._zone(card.clinic_id)))
        return messages


def _closed(call_key: str) -> CloseMessage:
    return {"type": "close", "call": call_key}
