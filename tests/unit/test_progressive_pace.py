"""How many KOS patients may be in the air: free administrators × ratio, and half that above the drop cap,
judged on enough answered calls that one early drop does not halve the pace."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from dialer.core.clock import FakeClock
from dialer.core.facts import PatientLeg
from dialer.core.records import AttemptRow, AttemptState
from dialer.engine.progressive import CONNECTED, DROPPED, ProgressiveFlow
from dialer.engine.runner import FlowBasics
from dialer.settings import parse_settings

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ADMINS = [f"Local/admin{n}@agents" for n in range(1, 5)]  # four free administrators


def flow(ratio: float = 2.0) -> ProgressiveFlow:
    settings = parse_settings(
        {
            "trunks": {"sim": {"dial": "Local/{number}@patients"}},
            "clinics": [{"id": "c1", "name": "Клиника", "timezone": "Europe/Moscow", "trunk": "sim"}],
            "campaigns": {"kos": {"pacing": "progressive", "ratio": ratio, "drop_cap": 3.0}},
        }
    )
    dispatcher: Any = SimpleNamespace(waiting=0, free=lambda queues: list(ADMINS))
    desk: Any = SimpleNamespace(pacers={})
    return ProgressiveFlow(
        basics=FlowBasics(
            settings=settings,
            attempts=None,  # type: ignore[arg-type]
            due=None,  # type: ignore[arg-type]
            desk=desk,
            clock=FakeClock(NOW),
            wake=lambda: None,  # no due-task worker in this test
        ),
        sources=[],
        dispatcher=dispatcher,
    )


def answered(progressive: ProgressiveFlow, n: int, status: str) -> None:
    attempt = AttemptRow(f"kos:{n}:1", "c1", n, 1, "+79160000000", "sim", AttemptState.DIALING, NOW)
    progressive.patient_leg(attempt, PatientLeg(attempt.attempt_id, status, NOW, ADMINS[0]))
    progressive.finished(attempt)  # the call ended: its administrator is free again


def room_for(progressive: ProgressiveFlow) -> int:
    """Calls that may be placed now, counting up from none in the air."""
    pacer = progressive.pacer("c1")
    placed = 0
    while progressive.room("c1"):
        placed += 1
        pacer.placed(f"kos:{placed + 1000}:1", NOW)
    for n in range(1, placed + 1):
        pacer.withdrawn(f"kos:{n + 1000}:1")
    return placed


def test_free_administrators_times_the_ratio() -> None:
    assert room_for(flow(ratio=1.0)) == 4
    assert room_for(flow(ratio=2.0)) == 8


def test_one_drop_among_the_first_answers_does_not_halve_the_pace() -> None:
    progressive = flow()
    answered(progressive, 1, DROPPED)
    for n in range(2, 5):
        answered(progressive, n, CONNECTED)
    assert progressive.drop_rate("c1") == 25.0  # the figure is what it is
    assert room_for(progressive) == 8  # but one drop in four answers is no evidence yet


def test_drops_above_the_cap_halve_the_pace_until_it_recovers() -> None:
    progressive = flow()
    for n in range(1, 3):
        answered(progressive, n, DROPPED)
    for n in range(3, 31):
        answered(progressive, n, CONNECTED)
    assert room_for(progressive) == 4  # 2 of 30 answers dropped: 6.7 % > 3 %
    for n in range(31, 101):
        answered(progressive, n, CONNECTED)
    assert room_for(progressive) == 8  # 2 of 100: 2 % <= 3 %
