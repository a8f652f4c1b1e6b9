"""The machine detector on sequences of TALK_DETECT stretches, as people and machines make them."""

from __future__ import annotations

import pytest

from dialer.core.amd import AmdSettings, MachineDetector, Verdict, decide_all

S = AmdSettings(machine_talk_s=2.0, pause_s=0.7, silence_s=3.5, talk_detect_silence_ms=250)
LAG = S.talk_detect_silence_ms / 1000


def talk(*stretches: tuple[float, float]) -> list[tuple[str, float, int]]:
    """TALK_DETECT's events for stretches of sound (start, end), seconds after answer (answer = 100.0)."""
    events: list[tuple[str, float, int]] = []
    for start, end in stretches:
        events.append(("start", 100.0 + start, 0))
        events.append(("stop", 100.0 + end + LAG, round((end - start) * 1000)))
    return events


def test_a_short_hello_then_waiting_is_a_person_as_soon_as_the_pause_is_long_enough() -> None:
    decision = decide_all(100.0, talk((0.6, 1.1)), S, until=106.0)
    assert decision is not None and decision.verdict is Verdict.PERSON
    assert decision.after_answer_s(100.0) == pytest.approx(1.1 + S.pause_s)


def test_a_greeting_that_goes_on_is_a_machine_when_it_has_lasted_machine_talk_s() -> None:
    # A voicemail: sentences with short breaths between them, which do not end the utterance.
    decision = decide_all(100.0, talk((0.5, 1.6), (1.9, 2.7), (3.0, 4.9)), S, until=106.0)
    assert decision is not None and decision.verdict is Verdict.MACHINE
    assert decision.after_answer_s(100.0) == pytest.approx(0.5 + S.machine_talk_s)


def test_still_talking_is_decided_by_the_clock_without_a_new_event() -> None:
    detector = MachineDetector(100.0, S)
    detector.talking_started(100.4)
    assert detector.decide(102.3) is None
    assert detector.deadline() == pytest.approx(102.4)
    decision = detector.decide(102.4)
    assert decision is not None and decision.verdict is Verdict.MACHINE


def test_a_person_who_speaks_twice_with_a_real_pause_is_decided_on_the_first_words() -> None:
    # «Алло?» … nothing … «Алло!»: the pause alone says person; the second word changes nothing.
    decision = decide_all(100.0, talk((0.5, 0.9), (2.4, 2.8)), S, until=106.0)
    assert decision is not None and decision.verdict is Verdict.PERSON
    assert decision.after_answer_s(100.0) == pytest.approx(0.9 + S.pause_s)


def test_the_assistant_whose_first_word_is_short_but_goes_on_at_once_is_a_machine() -> None:
    # «Алло, здравствуйте!» then straight on: the 0.3 s gap is a breath, not a wait for an answer.
    decision = decide_all(100.0, talk((0.6, 1.1), (1.4, 2.1), (2.4, 4.0)), S, until=106.0)
    assert decision is not None and decision.verdict is Verdict.MACHINE


def test_nothing_heard_is_silent_and_not_a_machine() -> None:
    decision = decide_all(100.0, [], S, until=106.0)
    assert decision is not None and decision.verdict is Verdict.SILENT
    assert decision.after_answer_s(100.0) == pytest.approx(S.silence_s)


def test_before_any_threshold_there_is_no_verdict_and_a_verdict_never_changes() -> None:
    detector = MachineDetector(100.0, S)
    assert detector.decide(101.0) is None
    detector.talking_started(100.5)
    detector.talking_stopped(101.15, 400)
    first = detector.decide(101.7)
    assert first is not None and first.verdict is Verdict.PERSON
    detector.talking_started(101.8)
    assert detector.decide(110.0) == first


def test_an_utterance_that_ended_long_is_a_machine_even_if_its_stop_came_late() -> None:
    decision = decide_all(100.0, talk((0.3, 2.6)), S, until=106.0)
    assert decision is not None and decision.verdict is Verdict.MACHINE
    assert decision.after_answer_s(100.0) == pytest.approx(0.3 + S.machine_talk_s)
