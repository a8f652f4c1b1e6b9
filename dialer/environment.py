"""Which Asterisk and which clock this process uses: the configured PBX and the host's clock, or the local
sandbox (when no Asterisk is configured) and, for a rehearsal on it, the clinic's morning."""

from __future__ import annotations

from dataclasses import replace
from typing import TextIO

from dialer.core.clock import Clock, RehearsalClock, SystemClock
from dialer.core.errors import ConfigError
from dialer.sandbox import Sandbox, SandboxError
from dialer.settings import AmiSettings, Secret, Settings


def resolve_ami(settings: Settings, out: TextIO) -> Settings:
    """Use the configured Asterisk, or bring up the local sandbox when none is named, and say so."""
    if not settings.ami.use_sandbox:
        return settings
    out.write("No Asterisk configured ([ami] host is empty): using the local Asterisk 22 sandbox.\n")
    sandbox = Sandbox()
    creds = sandbox.up(out)
    inbound = settings.inbound
    if not inbound.queue_log:
        inbound = replace(inbound, queue_log=str(sandbox.layout.root / "var/log/asterisk/queue_log"))
    ami = replace(
        settings.ami, host=creds.host, port=creds.port, username=creds.username, secret=Secret(creds.secret)
    )
    return replace(settings, ami=ami, inbound=inbound)


def clock_for(settings: Settings) -> Clock:
    """The host's clock; or, for a rehearsal on the local sandbox, the clinic's morning (see RehearsalSettings)."""
    rehearsal = settings.rehearsal
    if rehearsal.clinic_time is None:
        return SystemClock()
    if not _is_sandbox(settings.ami):
        raise ConfigError(
            "[rehearsal] переводит часы сервиса и нужен только для демонстрации и тестов с локальной "
            "песочницей Asterisk; уберите этот раздел из настроек рабочей установки"
        )
    return RehearsalClock.reading(rehearsal.clinic_time, rehearsal.at_host_time)


def _is_sandbox(ami: AmiSettings) -> bool:
    if ami.use_sandbox:
        return True
    try:
        creds = Sandbox().credentials()
    except SandboxError:
        return False
    # The port is not compared: a test may put a proxy in front of the sandbox's AMI to cut the link.
    loopback = ami.host in ("127.0.0.1", "localhost", "::1")
    return loopback and (ami.username, ami.secret.value) == (creds.username, creds.secret)
