"""Building the AMI link and the telephony on it from the [ami] settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dialer.ami.connection import AmiConnection, EventSink
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
) -> tuple[AmiConnection, AmiTelephony]:
    """The connection (its events to `sink`, Asterisk's clock to `on_pbx_time`) and the telephony on it."""
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
    )
    return connection, AmiTelephony(connection)
