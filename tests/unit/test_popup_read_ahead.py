"""A caller's card is read while they wait in the queue, so the administrator's phone shows it as it starts to
ring; on a FakeClock with a fake Asterisk and the service's own SQLite storage (tests/engine_world.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from dialer.core.cards import PatientCard
from dialer.core.clock import Clock
from dialer.core.records import AttemptRow
from dialer.core.stores import CardStore
from dialer.core.tracker import Event
from dialer.engine.popups import CARD_FRESH_SECONDS, MAX_READS_AHEAD, REFRESH_OPERATORS_SECONDS
from tests.engine_world import World, confirming_call, running_world, world_settings
from tests.unit.test_inbound import Call
from tests.unit.test_link_gap_service import cards, live, operator_watching


@dataclass
class CountedCards:
    """The service's card store, noting the clock's time of every read."""

    inner: CardStore
    clock: Clock
    reads: list[datetime] = field(default_factory=list)

    async def card(self, phone: str, now: datetime, clinic_id: str | None = None) -> PatientCard:
        self.reads.append(self.clock.now())
        return await self.inner.card(phone, now, clinic_id)


@dataclass
class HeldCards:
    """The service's card store with every read held until let go: a database slow to answer a burst."""

    inner: CardStore
    phones: list[str] = field(default_factory=list)  # whose read has begun
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def card(self, phone: str, now: datetime, clinic_id: str | None = None) -> PatientCard:
        self.phones.append(phone)
        await self.go.wait()
        return await self.inner.card(phone, now, clinic_id)


def looked_up_attempts(world: World) -> list[str]:
    """Note each attempt the pop-ups look up in the service's own store."""
    store = world.rt.popups.attempts
    ids: list[str] = []
    get = store.get

    async def noted(attempt_id: str) -> AttemptRow | None:
        ids.append(attempt_id)
        return await get(attempt_id)

    store.get = noted  # type: ignore[method-assign]
    return ids


async def counted(world: World) -> CountedCards:
    """Count the card reads from the pop-ups' next look at who has which phone on."""
    await world.run_for(REFRESH_OPERATORS_SECONDS + 1)
    store = CountedCards(world.rt.popups.cards, world.clock)
    world.rt.popups.cards = store
    return store


async def test_the_card_is_read_while_the_caller_waits_and_the_ring_shows_it_without_another_read(
    tmp_path: Path,
) -> None:
    call = Call(caller="79161110001")
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        _, pushed = await operator_watching(world, call)
        store = await counted(world)
        world.pbx.emit(*map(live, [*call.arrive(), *call.join()]))
        await world.run_until(lambda: len(store.reads) == 1, "the card read while the caller waits")
        read_at = store.reads[0]
        await world.run_for(20)  # the caller hears the queue's announcement
        world.pbx.emit(*map(live, call.ring_agent()))
        await world.run_until(lambda: cards(pushed, call) == ["ringing"], "the ringing card")

        assert store.reads == [read_at]
        (message,) = pushed
        assert message["type"] == "card" and message["phone"] == "+79161110001"


async def test_a_caller_who_waited_long_has_the_card_read_again_when_a_phone_rings(tmp_path: Path) -> None:
    call = Call(caller="79161110002")
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        _, pushed = await operator_watching(world, call)
        store = await counted(world)
        world.pbx.emit(*map(live, [*call.arrive(), *call.join()]))
        await world.run_until(lambda: len(store.reads) == 1, "the card read while the caller waits")
        await world.run_for(CARD_FRESH_SECONDS + 5)  # the administrator may have booked them a visit since
        world.pbx.emit(*map(live, call.ring_agent()))
        await world.run_until(lambda: cards(pushed, call) == ["ringing"], "the ringing card")

        assert len(store.reads) == 2
        assert store.reads[1] - store.reads[0] > timedelta(seconds=CARD_FRESH_SECONDS)


async def test_a_call_for_no_user_of_this_service_is_not_read_ahead(tmp_path: Path) -> None:
    call = Call(caller="79161110003")
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        store = await counted(world)  # nobody has a user here: no card can be shown to anyone
        world.pbx.emit(*map(live, [*call.arrive(), *call.join()]))
        await world.run_until(
            lambda: world.rt.intake.inbound is not None and world.rt.intake.inbound.live_calls == 1,
            "the call followed",
        )
        await world.run_for(5)
        assert store.reads == []


async def test_a_caller_whose_number_shows_on_arrival_is_read_during_the_greeting_once(
    tmp_path: Path,
) -> None:
    """A carrier's call shows the caller's number on its first channel: the card is read while the greeting
    plays, and the queue's free administrator is rung at once after it."""
    call = Call(caller="79161110004")
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        _, pushed = await operator_watching(world, call)
        store = await counted(world)
        world.pbx.emit(live(call.leg(1, 0, "Newchannel")))
        await world.run_until(lambda: len(store.reads) == 1, "the card read during the greeting")
        world.pbx.emit(*map(live, [call.leg(2, 0, "Newchannel"), *call.join(), *call.ring_agent()]))
        await world.run_until(lambda: cards(pushed, call) == ["ringing"], "the ringing card")

        assert len(store.reads) == 1


async def test_a_burst_of_arrivals_reads_only_a_few_cards_ahead_and_the_others_when_they_join_the_queue(
    tmp_path: Path,
) -> None:
    """Reads ahead are a head start, not a claim on the database: while MAX_READS_AHEAD are under way, another
    arriving caller is passed over, and their card is read when they join the queue."""
    calls = [Call(seq=1726 + 10 * n, caller=f"7916111002{n}") for n in range(MAX_READS_AHEAD + 2)]
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        await operator_watching(world, calls[0])
        await world.run_for(REFRESH_OPERATORS_SECONDS + 1)
        store = HeldCards(world.rt.popups.cards)
        world.rt.popups.cards = store
        world.pbx.emit(*(live(call.leg(1, 0, "Newchannel")) for call in calls))
        await world.run_until(lambda: len(store.phones) == MAX_READS_AHEAD, "the reads ahead begun")
        await world.run_for(5)
        assert len(store.phones) == MAX_READS_AHEAD

        store.go.set()
        last = calls[-1]
        world.pbx.emit(*map(live, [last.leg(2, 0, "Newchannel"), *last.join()]))
        await world.run_until(lambda: f"+{last.caller}" in store.phones, "the passed-over caller's card read")
        assert store.phones.count(f"+{last.caller}") == 1


def of_our_call(event: Event, attempt_id: str) -> Event:
    """An event of the dialer's own call: Asterisk ties its channels to the attempt's channel id."""
    return {**live(event), "Linkedid": attempt_id}


async def test_a_reminder_patient_who_asks_for_an_administrator_rings_with_the_card_read_while_they_waited(
    tmp_path: Path,
) -> None:
    """A patient who pressed 3 waits in the queue: the attempt and the card are read then, and the phone that
    rings shows the attempt's patient without looking the attempt up again."""
    queue = Call()
    async with running_world(tmp_path, world_settings(tmp_path)) as world:
        _, pushed = await operator_watching(world, queue)
        await world.book_visit("A-1", "+79161234567")
        await world.run_until(lambda: world.pbx.originated, "the reminder call in the air")
        attempt_id = world.pbx.originated[0].attempt_id
        await world.run_for(REFRESH_OPERATORS_SECONDS + 1)
        looked_up = looked_up_attempts(world)
        answered, _ = confirming_call(attempt_id)
        world.pbx.emit(*answered, *(of_our_call(e, attempt_id) for e in queue.join()))
        await world.run_until(lambda: looked_up == [attempt_id], "the attempt read while the patient waits")
        await world.run_for(10)
        world.pbx.emit(*(of_our_call(e, attempt_id) for e in queue.ring_agent()))
        await world.run_until(
            lambda: [m["type"] for m in pushed if m["call"] == attempt_id] == ["card"], "the ringing card"
        )

        assert looked_up == [attempt_id]
        (message,) = [m for m in pushed if m["call"] == attempt_id]
        assert (
            message["type"] == "card" and message["kind"] == "reminder" and message["phone"] == "+79161234567"
        )
