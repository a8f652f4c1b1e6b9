"""A row's changed copy is what dataclasses.replace makes, and the row it was made from is left as it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime

import pytest

from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptRow, AttemptState, ReminderStatus, ReminderTarget, Settled

AT = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def attempt() -> AttemptRow:
    return AttemptRow("reminders:i:7:1", "c1", 7, 1, "+79001234567", "trunk", AttemptState.DIALING, AT)


def target() -> ReminderTarget:
    return ReminderTarget(
        7, "c1", "B7", "P7", "+79001234567", AT, "Петров", False, True, True, False,
        ReminderStatus.CALLING, True, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("copy", "expected"),
    [
        (lambda a: a.answered(), lambda a: replace(a, state=AttemptState.ANSWERED)),
        (lambda a: a.with_digit("2", Settled.FINAL), lambda a: replace(a, digit="2", settled=Settled.FINAL)),
        (
            lambda a: a.with_leg("talking", Settled.CONFIRMED),
            lambda a: replace(a, leg_status="talking", settled=Settled.CONFIRMED),
        ),
        (
            lambda a: a.ended(CallResult.NO_ANSWER),
            lambda a: replace(a, state=AttemptState.ENDED, result=CallResult.NO_ANSWER),
        ),
    ],
    ids=["answered", "digit", "leg", "ended"],
)
def test_an_attempts_copy_is_the_replaced_row(
    copy: Callable[[AttemptRow], AttemptRow], expected: Callable[[AttemptRow], AttemptRow]
) -> None:
    row = attempt()
    made = copy(row)
    assert made == expected(row)
    assert type(made) is AttemptRow and hash(made) == hash(expected(row))
    assert row == attempt()
    with pytest.raises(FrozenInstanceError):
        made.digit = "9"  # type: ignore[misc]


def test_a_targets_copy_is_the_replaced_row() -> None:
    row = target()
    assert row.with_status(ReminderStatus.CONFIRMED) == replace(row, status=ReminderStatus.CONFIRMED)
    assert row.with_status(ReminderStatus.CANCELLED, active=False) == replace(
        row, status=ReminderStatus.CANCELLED, active=False
    )
    assert row == target()
