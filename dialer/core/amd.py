"""Telling a machine from a person by the shape of what the far end says after answering.

The clinic's IVR keeps playing and listening for keys from the moment of answer; beside it, Asterisk's
TALK_DETECT reports each stretch of the far end's sound (ChannelTalkingStart, then ChannelTalkingStop with the
stretch's length). People pick up with a word or two and then wait for an answer; voicemails and voice assistants
speak on, sentence after sentence. So: a stretch of speech that goes on past `machine_talk_s` (short pauses
between words and sentences bridged) is a machine; speech that stops and leaves a pause of `pause_s` before it
has gone that long is a person; no sound at all for `silence_s` is nobody, and the IVR carries on as for a person.

Pure: times are seconds on any one clock (Asterisk's event timestamps in the service), "now" is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    PERSON = "person"
    MACHINE = "machine"
    SILENT = "silent"


@dataclass(frozen=True)
class AmdSettings:
    """The detector's thresholds, in seconds (measured by `python -m bench.amd`)."""

    machine_talk_s: float = 2.6
    pause_s: float = 0.7
    silence_s: float = 3.5
    # TALK_DETECT's own silence threshold: a stretch is reported as stopped this long after its sound ends.
    talk_detect_silence_ms: int = 250


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    at: float  # when the verdict could first be known, on the events' clock
    talk_s: float  # the first utterance's length as measured (pauses shorter than pause_s bridged)

    def after_answer_s(self, answered_at: float) -> float:
        return self.at - answered_at


@dataclass
class MachineDetector:
    """Fed one call's talk events in order; `decide(now)` says what is known by `now`, once for good."""

    answered_at: float
    settings: AmdSettings = field(default_factory=AmdSettings)
    _utterance_start: float | None = None
    _speaking_since: float | None = None
    _last_end: float | None = None
    _decision: Decision | None = None

    def talking_started(self, at: float) -> None:
        if self._decision is not None:
            return
        if self._utterance_start is None:
            self._utterance_start = at
        elif self._last_end is not None and at - self._last_end >= self.settings.pause_s:
            # The pause was long enough to decide on by itself; decide() settles it from _last_end.
            return
        self._speaking_since = at

    def talking_stopped(self, at: float, duration_ms: int) -> None:
        """`at` is the stop event's time; the sound itself ended `duration_ms` after its start."""
        if self._decision is not None or self._speaking_since is None:
            return
        end = self._speaking_since + duration_ms / 1000
        self._last_end = min(end, at)
        self._speaking_since = None

    def decide(self, now: float) -> Decision | None:
        if self._decision is None:
            self._decision = self._settle(now)
        return self._decision

    def deadline(self) -> float:
        """The next moment `decide` may change its answer without a new event (for a timer)."""
        s = self.settings
        if self._utterance_start is None:
            return self.answered_at + s.silence_s
        if self._speaking_since is not None:
            return self._utterance_start + s.machine_talk_s
        end = self._last_end if self._last_end is not None else self._utterance_start
        return min(end + s.pause_s, self._utterance_start + s.machine_talk_s)

    def _settle(self, now: float) -> Decision | None:
        s = self.settings
        start = self._utterance_start
        if start is None:
            if now - self.answered_at >= s.silence_s:
                return Decision(Verdict.SILENT, self.answered_at + s.silence_s, 0.0)
            return None
        machine_at = start + s.machine_talk_s
        if self._speaking_since is not None:
            if now >= machine_at:
                return Decision(Verdict.MACHINE, machine_at, s.machine_talk_s)
            return None
        end = self._last_end if self._last_end is not None else start
        if end - start >= s.machine_talk_s:
            return Decision(Verdict.MACHINE, machine_at, end - start)
        if now >= end + s.pause_s:
            return Decision(Verdict.PERSON, end + s.pause_s, end - start)
        return None


def decide_all(
    answered_at: float, events: list[tuple[str, float, int]], settings: AmdSettings, until: float
) -> Decision | None:
    """The verdict on a recorded call: events are ("start" | "stop", time, duration ms) in order, `until` the
    time the recording ends. Replays them as the service would have met them."""
    detector = MachineDetector(answered_at, settings)
    for kind, at, duration_ms in events:
        decided = detector.decide(at)
        if decided is not None:
            return decided
        if kind == "start":
            detector.talking_started(at)
        else:
            detector.talking_stopped(at, duration_ms)
    return detector.decide(until)
