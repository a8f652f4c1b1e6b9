"""/metrics with several Asterisks: whether each one's calls are reconciled, under the name dialer_ami_up gives
it, read back by Prometheus' own parser; one Asterisk's series as before, under its host."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from dialer.ami.connection import AmiConnection
from dialer.ami.several import SeveralLinks
from dialer.core.metrics import Tally, render
from dialer.core.ports import PbxLink
from dialer.core.sla import CallStat, TaskStat
from dialer.engine.metrics import EventCount, MetricsReport
from dialer.engine.pbx_gates import PbxGates
from dialer.settings import Settings, parse_settings
from tests.fakes.rig import build

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
MAIN = '[ami]\nhost = "10.0.0.1"\nsecret = "s1"\n'
EAST = '[pbx.east]\nhost = "10.0.0.2"\nsecret = "s2"\n'
WEST = '[[clinics]]\nid = "west"\nname = "Запад"\ntimezone = "Europe/Moscow"\n'
EAST_CLINIC = '[[clinics]]\nid = "east"\nname = "Восток"\ntimezone = "Asia/Vladivostok"\npbx = "east"\n'

Samples = dict[str, list[tuple[dict[str, str], float]]]


class NothingStored:
    """A database with no rows: only the live series matter here."""

    async def ping(self) -> None:
        return None

    async def attempts_by_result(self, since: datetime) -> list[Tally]:
        return []

    async def sms_by_state(self, since: datetime) -> list[Tally]:
        return []

    async def callbacks_by_state(self) -> list[Tally]:
        return []

    async def nearest_open_deadlines(self) -> dict[str, datetime]:
        return {}

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        return None

    async def rows(
        self, clinic_id: str, start: datetime, end: datetime
    ) -> tuple[list[CallStat], list[TaskStat]]:
        return [], []


def settings(*parts: str) -> Settings:
    return parse_settings(tomllib.loads("\n".join(parts)))


def connection(port: int) -> AmiConnection:
    return AmiConnection(host="127.0.0.1", port=port, username="u", secret="s", sink=lambda f: None)


def report(config: Settings, link: PbxLink, gates: PbxGates | None) -> MetricsReport:
    rig = build(config, T0)
    rig.desk.reconciled.clear()  # with several, set only while every Asterisk's calls are
    stored = NothingStored()
    return MetricsReport(
        settings=config,
        now=rig.clock.now,
        monotonic=rig.clock.monotonic,
        link=link,
        desk=rig.desk,
        store=stored,
        sla=stored,
        holder="node-1",
        events=EventCount(),
        gates=gates,
    )


async def scraped(metrics: MetricsReport) -> tuple[str, Samples]:
    text = render(await metrics.series())
    samples = {
        f.name: [(dict(s.labels), s.value) for s in f.samples] for f in text_string_to_metric_families(text)
    }
    return text, samples


async def test_each_asterisk_says_whether_its_calls_are_reconciled_under_its_own_name() -> None:
    config = settings(MAIN, EAST, WEST, EAST_CLINIC)
    gates = PbxGates({"west": "main", "east": "east"}, ["main", "east"], default="main")
    gates.reconciled["main"].set()  # main is back and matched; east reconnected and is still being matched
    gates.changed()
    metrics = report(config, SeveralLinks({"main": connection(1), "east": connection(2)}), gates)

    _, samples = await scraped(metrics)
    assert samples["dialer_ami_reconciled"] == [({"pbx": "main"}, 1.0), ({"pbx": "east"}, 0.0)]
    assert [labels for labels, _ in samples["dialer_ami_up"]] == [{"pbx": "main"}, {"pbx": "east"}]

    gates.reconciled["east"].set()
    gates.went_down("main", T0)
    _, samples = await scraped(metrics)
    assert samples["dialer_ami_reconciled"] == [({"pbx": "main"}, 0.0), ({"pbx": "east"}, 1.0)]


async def test_each_asterisks_events_are_counted_under_its_name() -> None:
    config = settings(MAIN, EAST, WEST, EAST_CLINIC)
    gates = PbxGates({"west": "main", "east": "east"}, ["main", "east"], default="main")
    metrics = report(config, SeveralLinks({"main": connection(1), "east": connection(2)}), gates)
    told: list[dict[str, str]] = []
    main_sink, east_sink = (
        metrics.events.counting(told.append, "main"),
        metrics.events.counting(told.append, "east"),
    )
    for _ in range(3):
        main_sink({"Event": "Newchannel"})
    east_sink({"Event": "Hangup"})
    _, samples = await scraped(metrics)
    assert samples["dialer_ami_events_received"] == [({"pbx": "main"}, 3.0), ({"pbx": "east"}, 1.0)]
    assert len(told) == 4 and metrics.events.received == 4


async def test_one_asterisk_is_reported_under_its_host_as_before() -> None:
    config = settings(MAIN, WEST)
    metrics = report(config, connection(1), None)
    text, samples = await scraped(metrics)
    assert samples["dialer_ami_reconciled"] == [({"pbx": "10.0.0.1"}, 0.0)]
    metrics.desk.reconciled.set()
    text, samples = await scraped(metrics)
    assert samples["dialer_ami_reconciled"] == [({"pbx": "10.0.0.1"}, 1.0)]
    assert samples["dialer_ami_up"] == [({"pbx": "10.0.0.1"}, 0.0)]
    assert 'dialer_ami_reconciled{pbx="10.0.0.1"} 1\n' in text
    metrics.events.counting(lambda event: None)({"Event": "Newchannel"})
    _, samples = await scraped(metrics)
    assert samples["dialer_ami_events_received"] == [({"pbx": "10.0.0.1"}, 1.0)]
