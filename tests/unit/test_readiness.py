"""/ready with one Asterisk and with several: one Asterisk down leaves the service ready (the others' clinics
still work) and named as degraded; not ready without the database, with every Asterisk down, or while no
connected Asterisk's calls are reconciled on the leader. /api/health's top line agrees."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dialer.core.ports import LinkHook, PbxLink
from dialer.engine.calls import CallDesk
from dialer.engine.health import Health
from dialer.engine.metrics import Readiness, ReadyState
from dialer.engine.pbx_gates import PbxGates
from dialer.web import probes
from tests.fakes.memory import MemoryDueStore
from tests.fakes.rig import build, clinic_settings

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


class Idle:
    """A link's life cycle that does nothing: these tests only read whether it is up."""

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        pass

    async def run(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class Link(Idle):
    """A link that is up or down as the test says."""

    def __init__(self, connected: bool = True) -> None:
        self.connected = connected


class Links(Idle):
    """Several Asterisks' links seen as one, as dialer/ami/several.py shows them: up while all are."""

    def __init__(self, by_name: Mapping[str, PbxLink]) -> None:
        self.by_name = by_name

    @property
    def connected(self) -> bool:
        return all(link.connected for link in self.by_name.values())


class Store:
    """Answers the ping, or not."""

    def __init__(self) -> None:
        self.down = False

    async def ping(self) -> None:
        if self.down:
            raise ConnectionRefusedError("could not reach 10.0.0.9 for +79161234567")


def desk() -> CallDesk:
    return build(clinic_settings(), start=T0).desk


class Several:
    """Two Asterisks, main and east, each with its link and its gate."""

    def __init__(self) -> None:
        self.main, self.east = Link(), Link()
        self.link = Links({"main": self.main, "east": self.east})
        self.gates = PbxGates({"west": "main", "east": "east"}, ["main", "east"], default="main")
        self.store = Store()
        self.desk = desk()
        self.ready = Readiness(link=self.link, desk=self.desk, store=self.store, gates=self.gates)  # type: ignore[arg-type]

    def reconciled(self, *names: str) -> None:
        for name, gate in self.gates.reconciled.items():
            if name in names:
                gate.set()
            else:
                gate.clear()
        self.gates.changed()

    async def health(self) -> tuple[str, bool]:
        view = await Health(link=self.link, desk=self.desk, due=MemoryDueStore(), gates=self.gates)()
        return view["ami"], view["reconciled"]


async def test_one_asterisk_reads_as_before() -> None:
    link, store, one = Link(connected=False), Store(), desk()
    ready = Readiness(link=link, desk=one, store=store)  # type: ignore[arg-type]
    assert await ready() == ReadyState("ami: disconnected")
    link.connected = True
    assert await ready() == ReadyState("ami: calls not yet reconciled")
    one.reconciled.set()
    assert await ready() == ReadyState()
    store.down = True
    state = await ready()
    assert state == ReadyState("database: ConnectionRefusedError")
    assert "+7916" not in str(state) and "10.0.0.9" not in str(state)


async def test_with_every_asterisk_up_and_reconciled_nothing_is_degraded() -> None:
    pbx = Several()
    pbx.reconciled("main", "east")
    assert await pbx.ready() == ReadyState()
    assert (await pbx.ready()).degraded == []
    assert await pbx.health() == ("connected", True)


async def test_one_asterisk_down_leaves_the_service_ready_and_names_it() -> None:
    pbx = Several()
    pbx.reconciled("main")
    pbx.east.connected = False
    pbx.desk.reconciled.clear()  # the desk's own gate waits for every Asterisk: not what /ready asks
    state = await pbx.ready()
    assert state.reason is None
    assert state.degraded == ["ami east: disconnected"]
    assert await pbx.health() == ("connected", True)


async def test_one_asterisk_up_again_but_not_yet_reconciled_is_named_too() -> None:
    pbx = Several()
    pbx.reconciled("east")
    state = await pbx.ready()
    assert state.reason is None
    assert state.degraded == ["ami main: calls not yet reconciled"]


async def test_every_asterisk_down_is_not_ready() -> None:
    pbx = Several()
    pbx.reconciled()
    pbx.main.connected = pbx.east.connected = False
    state = await pbx.ready()
    assert state.reason == "ami: every Asterisk disconnected"
    assert state.degraded == ["ami main: disconnected", "ami east: disconnected"]
    assert state.without_calls().reason == state.reason  # a standby cannot serve pop-ups without a link
    assert await pbx.health() == ("disconnected", False)


async def test_no_connected_asterisk_reconciled_is_not_ready_on_the_leader_but_ready_on_a_standby() -> None:
    pbx = Several()
    pbx.reconciled("east")  # east's gate is stale: its link is down, so it does not count
    pbx.east.connected = False
    state = await pbx.ready()
    assert state.reason == "ami: calls not yet reconciled"
    assert await pbx.health() == ("connected", False)
    standby = state.without_calls()
    assert standby.reason is None
    assert standby.degraded == ["ami east: disconnected"]


async def test_without_the_database_it_is_not_ready_whatever_the_asterisks() -> None:
    pbx = Several()
    pbx.reconciled("main", "east")
    pbx.store.down = True
    assert await pbx.ready() == ReadyState("database: ConnectionRefusedError")
    assert (await pbx.ready()).without_calls().reason == "database: ConnectionRefusedError"


async def answer(state: ReadyState) -> tuple[int, dict[str, object]]:
    async def readiness() -> ReadyState:
        return state

    app = web.Application()
    app[probes.READINESS] = readiness
    probes.add_routes(app)
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/ready")
        return r.status, dict(await r.json())


async def test_the_probe_answers_200_with_the_degraded_and_503_with_the_reason() -> None:
    assert await answer(ReadyState()) == (200, {"status": "ready"})
    assert await answer(ReadyState("ami: disconnected")) == (
        503,
        {"status": "not ready", "reason": "ami: disconnected"},
    )
    assert await answer(ReadyState(None, ("east",))) == (
        200,
        {"status": "ready", "degraded": ["ami east: disconnected"]},
    )
    assert await answer(ReadyState("ami: every Asterisk disconnected", ("main", "east"))) == (
        503,
        {
            "status": "not ready",
            "reason": "ami: every Asterisk disconnected",
            "degraded": ["ami main: disconnected", "ami east: disconnected"],
        },
    )
