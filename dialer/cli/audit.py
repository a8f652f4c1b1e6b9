"""Who ran a command and when, as the audit log records it."""

from __future__ import annotations

import getpass
from datetime import datetime

from dialer.environment import clock_for
from dialer.settings import Settings


def cli_actor() -> str:
    """Who the audit log says ran a command: the system user, as the command line knows it."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):
        return "cli:?"


def command_time(settings: Settings) -> datetime:
    """Now, on the clock the settings choose (a rehearsal's shifted clock included)."""
    return clock_for(settings).now()
