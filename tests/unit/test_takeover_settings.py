"""`[service] takeover`: the dialing lease's life, how long a standby node waits for a silent leader."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from dialer.core.errors import ConfigError
from dialer.settings import parse_settings


def test_a_leader_is_taken_over_after_ten_seconds_unless_told_otherwise() -> None:
    assert parse_settings({}).service.takeover == timedelta(seconds=10)
    assert parse_settings(tomllib.loads('[service]\ntakeover = "30s"')).service.takeover == timedelta(
        seconds=30
    )
    assert parse_settings(tomllib.loads('[service]\ntakeover = "5m"')).service.takeover == timedelta(
        minutes=5
    )
    assert parse_settings(tomllib.loads("[service]\ntakeover = 2")).service.takeover == timedelta(seconds=2)


@pytest.mark.parametrize("value", ['"1s"', '"1999ms"', '"5m1s"', '"1h"', "0", '"soon"'])
def test_a_takeover_outside_two_seconds_to_five_minutes_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"service\.takeover"):
        parse_settings(tomllib.loads(f"[service]\ntakeover = {value}"))
