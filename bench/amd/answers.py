"""The labelled set: which answer each number gets from the carrier's 7997 prefix (dialer/sandbox/carrier_dialplan.py
ANSWER_KINDS) and what it truly is."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

from dialer.sandbox.carrier_dialplan import ANSWER_PREFIX
from dialer.sandbox.carrier_sounds import ANSWERS, VOICES


class Truth(StrEnum):
    PERSON = "person"
    VOICEMAIL = "voicemail"
    ASSISTANT = "assistant"
    SILENT = "silent"

    @property
    def is_machine(self) -> bool:
        return self in (Truth.VOICEMAIL, Truth.ASSISTANT)


_KIND = {Truth.PERSON: "1", Truth.SILENT: "7", Truth.VOICEMAIL: "8", Truth.ASSISTANT: "9"}
# Texts per kind: the bench's own, plus (voicemail, assistant) the greeting the carrier's outcome 8 / 9 plays.
_TEXTS = {
    Truth.PERSON: len(ANSWERS["amd-person"]),
    Truth.VOICEMAIL: len(ANSWERS["amd-voicemail"]) + 1,
    Truth.ASSISTANT: len(ANSWERS["amd-assistant"]) + 1,
    Truth.SILENT: 1,
}
# How many of each; pauses before the first word cycle through 0.0-0.9 s.
DEFAULT_COUNTS = {Truth.PERSON: 120, Truth.VOICEMAIL: 105, Truth.ASSISTANT: 75, Truth.SILENT: 45}


@dataclass(frozen=True)
class Answer:
    truth: Truth
    text: int
    voice: int
    pause_tenths: int
    serial: int

    @property
    def number(self) -> str:
        kind = _KIND[self.truth]
        return f"{ANSWER_PREFIX}{kind}{self.text}{self.voice}{self.pause_tenths}{self.serial:03d}"

    @property
    def label(self) -> str:
        return f"{self.truth}-{self.text}-v{self.voice}-p{self.pause_tenths}"


def labelled_set(counts: dict[Truth, int] = DEFAULT_COUNTS) -> list[Answer]:
    """Every text in every voice in turn, the pause varying, interleaved by kind so that concurrent calls mix."""
    per_kind: list[list[Answer]] = []
    serial = itertools.count()
    for truth, count in counts.items():
        combos = itertools.cycle(itertools.product(range(_TEXTS[truth]), range(len(VOICES))))
        pauses = itertools.cycle((0, 3, 6, 9, 1, 4, 7, 2, 5, 8))
        per_kind.append(
            [
                Answer(truth, t, v, next(pauses), next(serial) % 1000)
                for t, v in itertools.islice(combos, count)
            ]
        )
    mixed = itertools.chain.from_iterable(itertools.zip_longest(*per_kind))
    return [a for a in mixed if a is not None]
