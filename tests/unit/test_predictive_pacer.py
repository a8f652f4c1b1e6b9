"""Predictive pacing: one call per free administrator until the clinic's own calls show fewer answers; then more,
as many as the expected answers allow; a call ringing for long counts for little; an administrator near the end
of a typical talk counts as nearly free; dials spaced so that answers do not bunch; over the drop cap, back to
one call per free administrator."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from dialer.campaigns.pacing import AIM, PredictivePacer

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def dial_while_allowed(pacer: PredictivePacer, now: datetime, free: int, prefix: str) -> tuple[int, datetime]:
    """Dial each time the spacing allows, until the pacer says no more: how many, and when it said so."""
    placed = 0
    while pacer.may_dial(now, free, cautious=False) and placed < 50:
        pacer.placed(f"{prefix}{placed}", now)
        placed += 1
        now += timedelta(microseconds=math.ceil(pacer.spacing_s() * 1e6))
    return placed, now


def teach_rings(pacer: PredictivePacer, answered: int, rang_out: int, answer_s: float = 2.0) -> None:
    """Past calls: `answered` answered after `answer_s`, `rang_out` ended unanswered after 30 s."""
    for n in range(answered):
        pacer.placed(f"a{n}", at(-100))
        pacer.answered(f"a{n}", at(-100 + answer_s))
        pacer.ended(f"a{n}", at(-90))
    for n in range(rang_out):
        pacer.placed(f"r{n}", at(-100))
        pacer.ended(f"r{n}", at(-70))


def teach_talks(pacer: PredictivePacer, lengths: list[float]) -> None:
    for n, length in enumerate(lengths):
        pacer.placed(f"t{n}", at(-500))
        pacer.connected(f"t{n}", at(-400))
        pacer.ended(f"t{n}", at(-400 + length))


def test_without_evidence_one_call_per_free_administrator() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    placed, then = dial_while_allowed(pacer, T0, free=3, prefix="c")
    assert (placed, then) == (3, at(3))  # a second apart: an administrator's ring each, until one is seen
    assert pacer.in_the_air == 3
    assert not pacer.may_dial(at(10), 0, cautious=False)


@pytest.mark.parametrize("free", [1, 2, 5])
def test_with_few_answers_more_calls_than_administrators_within_the_expected_answers(free: int) -> None:
    pacer = PredictivePacer(lookahead_s=4)
    teach_rings(pacer, answered=30, rang_out=70)
    placed, then = dial_while_allowed(pacer, T0, free, prefix="c")
    assert placed > free
    # Each new call promises about a third of an answer: the last one placed kept the total within the aim.
    assert pacer.expected_answers(then) <= AIM * free + 1e-9
    assert pacer.expected_answers(then) + pacer.answer_chance(0) > AIM * free


def test_a_call_ringing_past_the_usual_answer_promises_little() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    teach_rings(pacer, answered=50, rang_out=50, answer_s=2.0)
    assert pacer.answer_chance(0) == pytest.approx(55 / 105)
    assert pacer.answer_chance(5) == pytest.approx(5 / 55)  # only the prior keeps it above nothing
    pacer.placed("long", at(-10))
    pacer.placed("new", at(0))
    assert pacer.expected_answers(T0) == pytest.approx(5 / 55 + 55 / 105)


def test_a_patient_waiting_for_an_administrator_counts_whole() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    teach_rings(pacer, answered=10, rang_out=90)
    pacer.placed("w", at(-3))
    pacer.answered("w", at(-1))
    assert pacer.expected_answers(T0) == 1.0
    assert pacer.in_the_air == 1


def test_an_administrator_near_the_end_of_a_usual_talk_counts_as_nearly_free() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    teach_talks(pacer, [60.0] * 10)
    pacer.placed("early", at(-20))
    pacer.connected("early", at(-10))  # talked 10 s of a usual 60
    pacer.placed("late", at(-70))
    pacer.connected("late", at(-58))  # talked 58 s: ends within 4 s, by every recent talk
    assert pacer.free_chance(10) == 0.0
    assert pacer.free_chance(58) == 1.0
    assert pacer.expected_free(T0, free_admins=0) == 1.0
    assert pacer.free_chance(90) == 0.0  # longer than every talk seen: nothing known, nothing promised


def test_without_talks_seen_nobody_talking_counts() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    pacer.placed("x", at(-10))
    pacer.connected("x", at(-8))
    assert pacer.expected_free(T0, free_admins=1) == 1.0
    assert pacer.in_the_air == 0


def test_dials_are_spaced_to_one_expected_answer_per_connection() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    teach_rings(pacer, answered=20, rang_out=80)
    # Patients reached an administrator half a second after answering, or later when all were busy.
    for n, waited in enumerate((0.5, 0.5, 0.5, 3.0, 3.5, 4.0)):
        pacer.placed(f"q{n}", at(-60))
        pacer.answered(f"q{n}", at(-58))
        pacer.connected(f"q{n}", at(-58 + waited))
    pacer.placed("c", T0)
    assert pacer.spacing_s() == pytest.approx(0.5 * pacer.answer_chance(0))
    assert not pacer.may_dial(at(0.05), 5, cautious=False)
    assert pacer.may_dial(at(0.5 * pacer.answer_chance(0) + 0.01), 5, cautious=False)


def test_over_the_drop_cap_back_to_one_call_per_free_administrator() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    teach_rings(pacer, answered=20, rang_out=80)
    for n in range(2):
        pacer.placed(f"c{n}", T0)
    later = at(1)
    assert pacer.may_dial(later, 2, cautious=False)
    assert not pacer.may_dial(later, 2, cautious=True)
    assert pacer.may_dial(later, 3, cautious=True)


def test_a_call_not_placed_after_all_teaches_nothing() -> None:
    pacer = PredictivePacer(lookahead_s=4)
    pacer.placed("x", T0)
    pacer.withdrawn("x")
    pacer.ended("x", at(5))
    assert pacer.in_the_air == 0
    assert pacer.answer_chance(0) == 1.0
