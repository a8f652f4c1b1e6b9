"""The service after an AMI gap, on a FakeClock with a fake Asterisk (tests/engine_world.py): a patient waits
in the queue while an administrator's phone rings and their card is up; the link drops; the patient hangs up;
the link comes back. The call is recorded once, as missed, and called back; no call stays open; the card
closes on the administrator's screen."""

from __future__ import annotations

from pathlib import Path

from dialer.core.cards import PopupMessage
from dialer.core.ports import LiveChannel
from dialer.core.staff import UserRow
from dialer.core.tracker import Event
from tests.engine_world import World, running_world, world_settings
from tests.staff import add_staff
from tests.unit.test_inbound import Call

QUEUE = "reception"


def live(event: Event) -> Event:
    """As the event arrives: its time is the arrival's (no Asterisk timestamp in these unit tests)."""
    return {k: v for k, v in event.items() if k != "Timestamp"}


async def operator_watching(world: World, call: Call) -> tuple[int, list[PopupMessage]]:
    """An administrator on `call`'s ringing phone, with the messages their open page would get."""
    anna = await add_staff(
        world.rt.storage, "anna", interfaces=(call.interface,), display_name="Анна", now=world.clock.now()
    )
    user_id = anna.user_id
    pushed: list[PopupMessage] = []
    world.rt.popups.push = lambda user, message: pushed.append(message) if user == user_id else None
    await world.run_for(3)  # a phone that rings soon after the pop-ups last looked is looked up again
    return user_id, pushed


async def the_user(world: World, user_id: int) -> UserRow:
    user = await world.rt.storage.users.by_id(user_id)
    assert user is not None
    return user


async def waiting_and_ringing(world: World, call: Call) -> None:
    world.pbx.emit(*map(live, [*call.arrive(), *call.join(4), *call.ring_agent(4)]))
    await world.run_until(lambda: world.rt.intake.inbound.live_calls == 1, "the call followed")  # type: ignore[union-attr]


async def gap(world: World, *, seconds: float = 30) -> None:
    """The link drops; the patient hangs up while it is down (Asterisk's events are lost); it comes back
    with no channel of the call left on Asterisk."""
    await world.drop_link()
    await world.run_for(seconds)
    world.pbx.channels = {}
    await world.restore_link()


def cards(pushed: list[PopupMessage], call: Call) -> list[str]:
    return [m["state"] if m["type"] == "card" else m["type"] for m in pushed if m["call"] == call.linkedid]


async def test_a_caller_who_hung_up_in_the_gap_is_a_missed_call_called_back_and_the_card_closes(
    tmp_path: Path,
) -> None:
    call = Call(caller="79161110001")
    async with running_world(tmp_path, world_settings(tmp_path, inbound={"queue_log": ""})) as world:
        user_id, pushed = await operator_watching(world, call)
        await waiting_and_ringing(world, call)
        await world.run_until(lambda: cards(pushed, call) == ["ringing"], "the ringing card")
        await gap(world)

        rows = await world.run_until(lambda: world.db("select * from inbound_calls"), "the call recorded")
        (row,) = rows
        assert (row["call_id"], row["miss_reason"], row["source"], row["caller"]) == (
            call.linkedid,
            "ended_unseen",
            "link_gap",
            "+79161110001",
        )
        tasks = await world.run_until(lambda: world.db("select * from callback_tasks"), "a callback task")
        assert [(t["phone"], t["reason"], t["missed_count"]) for t in tasks] == [
            ("+79161110001", "ended_unseen", 1)
        ]
        assert world.rt.intake.inbound is not None and world.rt.intake.inbound.live_calls == 0
        assert not world.rt.intake.followed_channels()
        await world.run_until(lambda: cards(pushed, call) == ["ringing", "close"], "the card to close")
        # Nor does a page opened later show it.
        user = await the_user(world, user_id)  # a page opening now: nothing in progress, no wrap-up waiting
        assert world.rt.popups.in_progress(user) == [] and await world.rt.popups.unsaved_wrapups(user) == []
        assert (await world.rt.health())["inbound_calls_open"] == 0


async def test_with_queue_log_the_call_is_told_as_asterisk_wrote_it_and_counted_once(tmp_path: Path) -> None:
    call = Call(caller="79161110002")
    log = tmp_path / "queue_log"
    log.write_text("")
    settings = world_settings(tmp_path, inbound={"queue_log": str(log)})
    async with running_world(tmp_path, settings) as world:
        await operator_watching(world, call)
        await waiting_and_ringing(world, call)
        await world.drop_link()
        left = world.clock.now().timestamp() + 7
        log.write_text(
            f"{int(left - 9)}|{call.uid2}|{QUEUE}|NONE|ENTERQUEUE||{call.caller}|1\n"
            f"{int(left)}|{call.uid2}|{QUEUE}|NONE|ABANDON|1|1|9\n"
        )
        await world.run_for(30)
        world.pbx.channels = {}
        await world.restore_link()
        (row,) = await world.run_until(lambda: world.db("select * from inbound_calls"), "the call recorded")
        assert (row["call_id"], row["miss_reason"], row["source"], row["queue_channel"]) == (
            call.linkedid,
            "abandoned",
            "queue_log",
            call.uid2,
        )
        await world.run_until(lambda: world.db("select * from callback_tasks"), "a callback task")
        # A second gap later reads the same queue_log again: the call is known, not recovered twice.
        await world.drop_link()
        await world.restore_link()
        await world.run_for(5)
        assert len(await world.db("select * from inbound_calls")) == 1
        assert [t["missed_count"] for t in await world.db("select * from callback_tasks")] == [1]


async def test_an_answered_call_that_ended_in_the_gap_goes_to_wrap_up_and_is_not_missed(
    tmp_path: Path,
) -> None:
    call = Call(caller="79161110003")
    async with running_world(tmp_path, world_settings(tmp_path, inbound={"queue_log": ""})) as world:
        user_id, pushed = await operator_watching(world, call)
        answered = [e for e in call.answered_in_queue() if e["Event"] not in ("AgentComplete", "Hangup")]
        world.pbx.emit(*map(live, answered))
        await world.run_until(lambda: cards(pushed, call) == ["ringing", "active"], "the active card")
        await gap(world)
        (row,) = await world.run_until(lambda: world.db("select * from inbound_calls"), "the call recorded")
        assert row["miss_reason"] is None and row["answered_by"] == call.interface
        assert await world.db("select * from callback_tasks") == []
        await world.run_until(lambda: cards(pushed, call)[-1:] == ["wrapup"], "the card in wrap-up")
        # The administrator still records the outcome.
        user = await the_user(world, user_id)
        assert world.rt.popups.in_progress(user) == []
        (card,) = await world.rt.popups.unsaved_wrapups(user)
        assert card["state"] == "wrapup" and card["wrapup_id"]


async def test_a_call_still_on_asterisk_after_the_gap_is_followed_to_its_end(tmp_path: Path) -> None:
    call = Call(caller="79161110004")
    async with running_world(tmp_path, world_settings(tmp_path, inbound={"queue_log": ""})) as world:
        _, pushed = await operator_watching(world, call)
        await waiting_and_ringing(world, call)
        await world.drop_link()
        world.pbx.channels = {
            uid: LiveChannel(uid, "Local/100@clinic-inbound", "Up")
            for uid in (call.linkedid, call.uid2, call.agent_uid(1), call.agent_uid(2))
        }
        await world.restore_link()
        await world.run_for(3)
        assert world.rt.intake.inbound is not None and world.rt.intake.inbound.live_calls == 1
        assert cards(pushed, call) == ["ringing"]
        assert await world.db("select * from inbound_calls") == []
        world.pbx.emit(*map(live, call.abandoned()[7:]))  # then the caller gives up, seen live
        (row,) = await world.run_until(lambda: world.db("select * from inbound_calls"), "the call recorded")
        assert (row["miss_reason"], row["source"]) == ("abandoned", "live")
        await world.run_until(lambda: cards(pushed, call) == ["ringing", "close"], "the card to close")
