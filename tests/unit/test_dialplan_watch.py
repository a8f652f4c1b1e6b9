"""The dialplan check at each link-up: said once per version a PBX is seen on, counted in /metrics, and never a
reason for a link-up to fail."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest

from dialer.engine.dialplan_watch import DialplanWatch

SHIPPED = "434d6198c5f0"


def answers(*versions: str | None) -> Callable[[], Awaitable[str | None]]:
    given = list(versions)

    async def ask() -> str | None:
        return given.pop(0)

    return ask


async def test_an_old_dialplan_is_said_once_per_version_and_counted_until_it_is_reloaded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = DialplanWatch(SHIPPED)
    up = watch.hook("main", answers("0123456789ab", "0123456789ab", None, "", SHIPPED))
    caplog.set_level(logging.WARNING, "dialer.dialplan")
    await up()
    await up()  # the link came back on the same old file: not said again
    assert watch.current() == {"main": 0}
    await up()  # could not ask: what was known stays
    assert watch.current() == {"main": 0}
    await up()  # no version context at all (a file from before it)
    await up()  # reloaded
    assert watch.current() == {"main": 1}
    told = [r.getMessage() for r in caplog.records]
    assert len(told) == 2
    assert told[0].startswith("PBX main runs extensions_dialer.conf version 0123456789ab, this service's is ")
    assert "version (none shown)" in told[1]


async def test_a_failing_question_leaves_the_link_up_alone(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> str | None:
        raise RuntimeError("the action's answer could not be read")

    watch = DialplanWatch(SHIPPED)
    await watch.hook("east", broken)()
    assert watch.current() == {}
    assert "PBX east: could not ask which dialplan it runs" in caplog.text
