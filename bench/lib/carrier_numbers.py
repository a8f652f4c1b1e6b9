"""Numbers on the sandbox's carrier (dialer/sandbox/carrier_dialplan.py), built from what the far end should do.

The carrier reads a number from its end: the last digit is the outcome, the one before it the key a person
presses, the third from the end the voice (mod 3), the fourth when an early presser presses. Benches and tests
build their patients here so that a number says what it is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dialer.sandbox.carrier_dialplan import GONE_AT_ONCE_PREFIX, TWO_KEYS_PREFIX

TRUNK_DIAL = "PJSIP/{number}@trunk"


class FarEnd(StrEnum):
    """The carrier's outcomes, by the last digit they answer to."""

    UNALLOCATED = "0"
    PERSON = "1"
    BUSY = "2"
    RINGS_OUT = "3"
    CONGESTION = "4"
    SWITCHED_OFF = "5"
    EARLY_PRESSER = "6"
    SILENT = "7"
    VOICEMAIL = "8"
    ASSISTANT = "9"


@dataclass(frozen=True)
class CarrierPatient:
    """One far end: `key` is what a person presses ("0": nothing), `voice` 0-2 picks voice, speed and line noise,
    `press_at` is an early presser's second after answering (0 and 1: at once); `gone_at_once` makes an early
    presser hang up right after the key instead of 6 s later, and a silent answer after 4 s instead of 40; for an
    early presser only, `then` is a second key pressed in the same go."""

    far_end: FarEnd
    key: str = "0"
    voice: int = 0
    press_at: int = 0
    gone_at_once: bool = False
    then: str = ""

    def number(self, serial: int) -> str:
        """A Russian mobile number (+7 92S SSS TTTT; +7 94S SSS TTTT when `gone_at_once`; +7 95S SSK TTTT for two
        keys, `serial` 0-999 then) unique by `serial` (0-9999), ending in the carrier's digits."""
        if not 0 <= serial <= 9999:
            raise ValueError(f"serial {serial} is outside 0-9999")
        if not (len(self.key) == 1 and self.key.isdigit()):
            raise ValueError(f"key {self.key!r} is not one phone key")
        if not (0 <= self.voice <= 2 and 0 <= self.press_at <= 9):
            raise ValueError("voice is 0-2 and press_at 0-9")
        if self.gone_at_once and self.far_end not in (FarEnd.EARLY_PRESSER, FarEnd.SILENT):
            raise ValueError("only an early presser or a silent answer hangs up early")
        tail = f"{self.press_at}{self.voice}{self.key}{self.far_end.value}"
        if self.then:
            if self.far_end is not FarEnd.EARLY_PRESSER or self.gone_at_once:
                raise ValueError("two keys: only an early presser who stays 6 s")
            if not (len(self.then) == 1 and self.then.isdigit()) or serial > 999:
                raise ValueError("two keys: `then` is one phone key and the serial 0-999")
            return f"+{TWO_KEYS_PREFIX}{serial:03d}{self.then}{tail}"
        prefix = GONE_AT_ONCE_PREFIX if self.gone_at_once else "792"
        return f"+{prefix}{serial:04d}{tail}"
