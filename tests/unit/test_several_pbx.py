"""Several Asterisks, without any: the [pbx.<name>] settings and their checks, the ids of two Asterisks told
apart, the per-Asterisk gates, the health and readiness that name each one, and the board's line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tomllib
from datetime import UTC, datetime

import pytest

from dialer.ami.connection import AmiConnection
from dialer.ami.queue_pause import AmiQueuePauses
from dialer.ami.several import ChannelPlaces, SeveralLinks, SeveralQueuePauses, heads_ids
from dialer.core.board_view import pbx_down_text
from dialer.core.clock import FakeClock
from dialer.core.errors import ConfigError
from dialer.core.pbx_links import PbxAway, headed, links_by_name
from dialer.core.ports import TelephonyUnavailable
from dialer.core.records import DueTask, TaskKind
from dialer.engine.intake import installation_intake
from dialer.engine.pbx_gates import PbxGates
from dialer.engine.worker import DueWorker
from dialer.settings import InboundSettings, Settings, parse_settings
from dialer.settings.pbxes import unused_pbxes
from tests.fakes.memory import MemoryDueStore

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
AMI = '[ami]\nhost = "10.0.0.1"\nsecret = "s1"\n'
EAST = '[pbx.east]\nhost = "10.0.0.2"\nsecret = "s2"\nping_interval = 3\n'


def clinic(clinic_id: str, pbx: str = "") -> str:
    on = f'pbx = "{pbx}"\n' if pbx else ""
    return f'[[clinics]]\nid = "{clinic_id}"\nname = "Клиника {clinic_id}"\ntimezone = "Europe/Moscow"\n{on}'


def parse(*parts: str) -> Settings:
    return parse_settings(tomllib.loads("\n".join(parts)))


def refused(*parts: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse(*parts)
    return str(err.value)


# Settings ---------------------------------------------------------------------------------------------------


def test_a_single_asterisk_config_reads_as_before() -> None:
    settings = parse(AMI, clinic("west"))
    assert list(settings.pbxes) == ["main"]
    assert settings.pbxes["main"] is settings.ami
    assert settings.pbx_of("west") == "main"


def test_a_clinic_names_its_asterisk_and_each_has_the_keys_of_ami() -> None:
    settings = parse(AMI, EAST, clinic("west"), clinic("east", "east"))
    assert list(settings.pbxes) == ["main", "east"]
    east = settings.pbxes["east"]
    assert (east.host, east.port, east.secret.value, east.ping_interval) == ("10.0.0.2", 5038, "s2", 3.0)
    assert (settings.pbx_of("west"), settings.pbx_of("east")) == ("main", "east")
    assert settings.clinics_on("east") == ("east",)
    assert "s2" not in repr(settings)


def test_a_second_asterisk_names_its_own_queue_log_and_main_keeps_it_in_inbound() -> None:
    settings = parse(AMI, EAST + 'queue_log = "/srv/east/queue_log"\n', clinic("east", "east"))
    assert settings.pbxes["east"].queue_log == "/srv/east/queue_log"
    assert settings.pbxes["main"].queue_log == ""  # main's is [inbound] queue_log
    assert "неизвестные ключи ['queue_log']" in refused(AMI + 'queue_log = "/x"\n', clinic("west"))


def test_an_inbound_call_belongs_to_a_clinic_of_the_asterisk_it_came_through() -> None:
    queue = 'queues = ["400"]\n'
    settings = parse(AMI, EAST, clinic("west") + queue, clinic("east", "east") + queue)
    by_queue = settings.clinic_for_call
    assert by_queue("", "400", "1764800000.12") == settings.clinics["west"]  # main's ids are not headed
    assert by_queue("", "400", "east/1764800000.12") == settings.clinics["east"]
    # An Asterisk with one clinic counts its calls as that clinic's, as a single-clinic installation does.
    assert by_queue("", "401", "east/1764800000.12") == settings.clinics["east"]
    assert by_queue("", "401", "1764800000.12") == settings.clinics["west"]
    single = parse(AMI, clinic("west"))
    assert single.clinic_for_call("", "", "1764800000.12") == single.clinics["west"]  # the only one


def test_each_clinic_sees_the_live_queue_of_its_own_asterisk_not_a_namesake() -> None:
    """Both Asterisks have a queue «400» with an administrator on PJSIP/101; a caller waits on east."""
    queue = 'queues = ["400"]\n'
    settings = parse(AMI, EAST, clinic("west") + queue, clinic("east", "east") + queue)
    west, east = settings.clinics["west"], settings.clinics["east"]
    intake = installation_intake(InboundSettings(), "inst0001", lambda: T0)
    member = {"Event": "QueueMemberStatus", "Queue": "400", "Interface": "PJSIP/101", "Paused": "0"}
    places = ChannelPlaces()
    places.sink("main", intake.sink_of("main"))({**member, "Status": "1"})
    on_east = places.sink("east", intake.sink_of("east"))
    on_east({**member, "Status": "2"})
    on_east({"Event": "QueueCallerJoin", "Queue": "400", "Uniqueid": "1764800000.12", "Channel": "PJSIP/t-1"})
    queues = intake.queues
    assert (west.live_queues, east.live_queues) == (("400",), ("east/400",))
    assert (queues.waiting_count(west.live_queues), queues.waiting_count(east.live_queues)) == (0, 1)
    assert queues.free(west.live_queues, T0) == ["PJSIP/101"]  # main's is free; east's namesake talks
    assert queues.free(east.live_queues, T0) == []
    on_east(
        {"Event": "QueueCallerLeave", "Queue": "400", "Uniqueid": "1764800000.12", "Channel": "PJSIP/t-1"}
    )
    assert queues.waiting_count(east.live_queues) == 0


def test_an_unknown_asterisk_is_refused_by_the_clinic_that_names_it() -> None:
    message = refused(AMI, EAST, clinic("west"), clinic("north", "nort"))
    assert message == "clinics[1].pbx: нет АТС 'nort' (есть: ['east', 'main'])"


def test_two_names_for_one_address_are_refused() -> None:
    message = refused(AMI, '[pbx.east]\nhost = "10.0.0.1"\nsecret = "s2"\n', clinic("w"))
    assert "10.0.0.1:5038 уже описан как АТС 'main'" in message


def test_main_is_not_a_name_for_a_second_asterisk_and_names_are_plain() -> None:
    assert "занято" in refused(AMI, '[pbx.main]\nhost = "10.0.0.2"\n')
    assert "латинские буквы" in refused(AMI, '[pbx."во сток"]\nhost = "10.0.0.2"\n')


def test_a_second_asterisk_needs_a_host_and_takes_no_unknown_key() -> None:
    assert refused(AMI, "[pbx.east]\nport = 5039\n").startswith("pbx.east.host: не задан")
    assert "неизвестные ключи ['hots']" in refused(AMI, '[pbx.east]\nhots = "10.0.0.2"\n')


def test_an_asterisk_no_clinic_uses_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "dialer.settings"):
        settings = parse(AMI, EAST, clinic("west"))
    assert unused_pbxes(settings) == ["east"]
    assert "АТС east не указана ни у одной клиники" in caplog.text


# Ids --------------------------------------------------------------------------------------------------------


def test_asterisk_made_ids_of_a_second_asterisk_are_headed_and_ours_are_not() -> None:
    frame = {
        "Event": "Newchannel",
        "Uniqueid": "1764800000.12",
        "Linkedid": "a48c512c:reminders:3:1",
        "DestUniqueid": "1764800000.13",
        "LocalOneLinkedid": "1764800000.11",
        "Channel": "Local/100@clinic-inbound-00000001;1",
        "CallerIDNum": "1764800000.1",  # not an id key: left alone
    }
    headed_frame = heads_ids(dict(frame), "east")
    assert headed_frame["Uniqueid"] == "east/1764800000.12"
    assert headed_frame["DestUniqueid"] == "east/1764800000.13"
    assert headed_frame["LocalOneLinkedid"] == "east/1764800000.11"
    assert headed_frame["Linkedid"] == frame["Linkedid"]
    assert headed_frame["CallerIDNum"] == frame["CallerIDNum"]
    assert headed("1764800000.12", "main") == "1764800000.12"


def test_each_link_heads_its_own_events_and_remembers_where_a_channel_lives() -> None:
    places = ChannelPlaces()
    seen: list[dict[str, str]] = []
    main, east = places.sink("main", seen.append), places.sink("east", seen.append)
    main({"Event": "Newchannel", "Uniqueid": "1.1", "Channel": "PJSIP/101-0001"})
    east({"Event": "Newchannel", "Uniqueid": "1.1", "Channel": "PJSIP/201-0001"})
    assert [f["Uniqueid"] for f in seen] == ["1.1", "east/1.1"]  # the same id on two Asterisks, told apart
    assert places.on == {"PJSIP/101-0001": "main", "PJSIP/201-0001": "east"}
    east({"Event": "Hangup", "Uniqueid": "1.1", "Channel": "PJSIP/201-0001"})
    assert places.on == {"PJSIP/101-0001": "main"}


# Gates, health, readiness, board ---------------------------------------------------------------------------


async def test_one_asterisk_down_closes_only_its_clinics_gate() -> None:
    gates = PbxGates({"west": "main", "east": "east"}, ["main", "east"], default="main")
    assert not gates.any.is_set() and not gates.clinic_ready("west")
    for name in ("main", "east"):
        gates.came_up(name)
        gates.reconciled[name].set()
    gates.changed()
    assert gates.all.is_set() and gates.clinic_ready("west") and gates.clinic_ready("east")
    down_at = datetime(2026, 12, 4, 8, 2, tzinfo=UTC)
    gates.went_down("east", down_at)
    assert gates.clinic_ready("west") and not gates.clinic_ready("east")
    assert gates.any.is_set() and not gates.all.is_set()
    assert gates.down_since == {"east": down_at}
    assert gates.clinics_of("east") == ["east"]
    gates.came_up("east")
    assert gates.down_since == {}
    assert not gates.clinic_ready("east")  # up, but its calls not yet reconciled
    assert gates.clinic_ready("unknown") is True  # a clinic not configured goes through main


def link(port: int) -> AmiConnection:
    return AmiConnection(host="127.0.0.1", port=port, username="u", secret="s", sink=lambda f: None)


async def test_several_links_are_seen_one_by_one_and_connected_only_when_all_are() -> None:
    several = SeveralLinks({"main": link(1), "east": link(2)})
    each = links_by_name(several, "sandbox")
    assert list(each) == ["main", "east"]
    assert not several.connected
    single = link(3)
    assert links_by_name(single, "sandbox") == {"sandbox": single}
    await asyncio.sleep(0)


def test_the_board_line_names_the_asterisk_the_time_and_the_clinics_that_wait() -> None:
    assert (
        pbx_down_text("east", "11:02", ["«Восток»"])
        == "Нет связи с АТС east с 11:02 — звонки клиники «Восток» ждут"
    )
    assert (
        pbx_down_text("east", "11:02", ["«Восток»", "«Север»"])
        == "Нет связи с АТС east с 11:02 — звонки клиник «Восток», «Север» ждут"
    )


class SentPauses(AmiQueuePauses):
    """One Asterisk's QueuePause actions as sent, its link taken as up."""

    def __init__(self) -> None:
        super().__init__(link(0))
        self.sent: list[tuple[str, bool]] = []

    async def _set(self, interface: str, paused: bool, reason: str) -> None:
        self.sent.append((interface, paused))


async def test_a_queue_pause_goes_only_to_the_seats_asterisk_once_its_queues_announced_the_member() -> None:
    places = ChannelPlaces()
    main, east = places.sink("main", lambda f: None), places.sink("east", lambda f: None)
    main({"Event": "QueueMemberStatus", "Queue": "reception", "Interface": "PJSIP/101"})
    east({"Event": "QueueMemberAdded", "Queue": "east-reception", "Interface": "PJSIP/201"})
    east({"Event": "QueueMemberStatus", "Queue": "east-reception", "Interface": "PJSIP/101"})
    assert places.members == {"PJSIP/101": {"main", "east"}, "PJSIP/201": {"east"}}
    sent = {"main": SentPauses(), "east": SentPauses()}
    pauses = SeveralQueuePauses(sent, places)
    await pauses.pause("east/PJSIP/101", "callback")  # east's 101, not main's namesake
    await pauses.unpause("PJSIP/101")  # main's 101, not east's
    assert sent["east"].sent == [("PJSIP/101", True)] and sent["main"].sent == [("PJSIP/101", False)]
    for never_announced in ("PJSIP/999", "PJSIP/201", "west/PJSIP/101"):
        with pytest.raises(TelephonyUnavailable, match="no Asterisk announced"):
            await pauses.pause(never_announced, "callback")
    down = SeveralQueuePauses({"main": AmiQueuePauses(link(1)), "east": AmiQueuePauses(link(2))}, places)
    with pytest.raises(TelephonyUnavailable):  # east's, whose link is down: not sent anywhere else
        await down.pause("east/PJSIP/201", "callback")
    assert await down.paused_with("callback") == set()  # no link up: nothing to ask


def task(task_id: str, clinic_id: str) -> DueTask:
    return DueTask(task_id, clinic_id, TaskKind.DIAL, "reminders", 1, T0)


async def test_the_worker_holds_the_tasks_of_a_clinic_whose_asterisk_is_away_and_runs_the_others() -> None:
    clock, due = FakeClock(T0), MemoryDueStore()
    gates = PbxGates({"west": "main", "east": "east"}, ["main", "east"], default="main")
    gates.reconciled["main"].set()
    gates.changed()
    ran: list[str] = []
    worker = DueWorker(due=due, clock=clock, ready=gates.any, clinic_ready=gates.clinic_ready)

    async def runner(t: DueTask) -> None:
        ran.append(t.task_id)
        await due.finish(t.task_id)

    worker.register(TaskKind.DIAL, "reminders", runner)
    await due.schedule(task("w1", "west"))
    await due.schedule(task("e1", "east"))
    running = asyncio.create_task(worker.run())
    try:
        await clock.run_for(10)
        assert ran == ["w1"]  # west dials; east waits, neither run nor failed
        assert due.states() == {"w1": "done", "e1": "pending"}
        assert worker.failures == 0
        gates.reconciled["east"].set()
        gates.changed()
        await clock.run_for(5)
        assert ran == ["w1", "e1"]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_task_whose_asterisk_went_away_while_it_waited_for_a_channel_is_put_back_quietly() -> None:
    clock, due = FakeClock(T0), MemoryDueStore()
    ready = asyncio.Event()
    ready.set()
    tries: list[str] = []
    worker = DueWorker(due=due, clock=clock, ready=ready)

    async def runner(t: DueTask) -> None:
        tries.append(t.task_id)
        if len(tries) == 1:
            raise PbxAway("the Asterisk of clinic east is away")
        await due.finish(t.task_id)

    worker.register(TaskKind.DIAL, "reminders", runner)
    await due.schedule(task("e1", "east"))
    running = asyncio.create_task(worker.run())
    try:
        await clock.run_for(10)
        assert tries == ["e1", "e1"] and due.states() == {"e1": "done"}
        assert worker.failures == 0  # not counted, not logged as a failure
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
