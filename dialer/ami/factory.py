"""Building the AMI link and the telephony on it from the [ami] settings, or one link per Asterisk."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from dialer.ami.connection import AmiConnection, EventSink
from dialer.ami.several import ChannelPlaces, PbxTelephony, SeveralLinks, SeveralTelephony
from dialer.ami.telephony import AmiTelephony
from dialer.core.clock import Clock
from dialer.settings import AmiSettings


def build_ami(
    ami: AmiSettings,
    *,
    sink: EventSink,
    on_pbx_time: Callable[[float, float], None],
    clock: Clock,
    record_to: Path | None = None,
    reads: Collection[str] | None = None,
) -> tuple[AmiConnection, AmiTelephony]:
    """The connection (its events to `sink`, those named in `reads` whole; Asterisk's clock to `on_pbx_time`)
    and the telephony on it."""
    connection = AmiConnection(
        host=ami.host,
        port=ami.port,
        username=ami.username,
        secret=ami.secret.value,
        sink=sink,
        ping_interval=ami.ping_interval,
        connect_timeout=ami.connect_timeout,
        reconnect_max_delay=ami.reconnect_max_delay,
        record_to=record_to,
        clock=clock,
        on_pbx_time=on_pbx_time,
        reads=reads,
    )
    return connection, AmiTelephony(connection)


def build_several(
    pbxes: Mapping[str, AmiSettings],
    *,
    pbx_of: Callable[[str], str],
    sink: Callable[[str], EventSink],
    on_pbx_time: Callable[[str], Callable[[float, float], None]],
    clock: Clock,
    record_to: Path | None = None,
    reads: Collection[str] | None = None,
) -> tuple[SeveralLinks, SeveralTelephony]:
    """One link per Asterisk (by name), its events into `sink(name)` with ids told apart and its clock to
    `on_pbx_time(name)`, and the telephony that sends each action to the Asterisk it concerns. A recording,
    when asked for, goes to one file each."""
    places = ChannelPlaces()
    links: dict[str, AmiConnection] = {}
    parts: dict[str, PbxTelephony] = {}
    for name, ami in pbxes.items():
        link, _ = build_ami(
            ami,
            sink=places.sink(name, sink(name)),
            on_pbx_time=on_pbx_time(name),
            clock=clock,
            record_to=None if record_to is None else record_to.with_name(f"{record_to.name}.{name}"),
            reads=None if reads is None else {*reads, *ChannelPlaces.READS},
        )
        links[name] = link
        parts[name] = PbxTelephony(link, name, places)
    return SeveralLinks(links), SeveralTelephony(parts, pbx_of, places)
