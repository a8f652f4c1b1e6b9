"""What happened on a call, classified from what Asterisk said about it."""

from __future__ import annotations

from enum import StrEnum


class CallResult(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    INVALID_NUMBER = "invalid_number"
    FAILED = "failed"
    # Answered by a voicemail or a voice assistant (dialer/core/amd.py): it heard the message, nobody was reached.
    MACHINE = "machine"

    @property
    def label(self) -> str:
        return _RESULT_LABELS[self]


_RESULT_LABELS = {
    CallResult.ANSWERED: "ответил",
    CallResult.BUSY: "занято",
    CallResult.NO_ANSWER: "не берёт трубку",
    CallResult.CONGESTION: "сеть перегружена",
    CallResult.INVALID_NUMBER: "номер не существует",
    CallResult.FAILED: "ошибка вызова",
    CallResult.MACHINE: "автоответчик",
}

# OriginateResponse Reason (Asterisk's AST_CONTROL_* derived codes).
REASON_ANSWERED = 4
_REASONS = {5: CallResult.BUSY, 3: CallResult.NO_ANSWER, 1: CallResult.NO_ANSWER, 8: CallResult.CONGESTION}

# Q.850 hangup causes. DialEnd says NOANSWER even for an unallocated number, so the cause decides.
_CAUSES = {
    1: CallResult.INVALID_NUMBER,  # unallocated number
    3: CallResult.INVALID_NUMBER,  # no route to destination
    22: CallResult.INVALID_NUMBER,  # number changed
    28: CallResult.INVALID_NUMBER,  # invalid number format
    17: CallResult.BUSY,  # user busy
    21: CallResult.BUSY,  # call rejected: the patient declined it
    18: CallResult.NO_ANSWER,  # no user responding
    19: CallResult.NO_ANSWER,  # no answer
    20: CallResult.NO_ANSWER,  # subscriber absent (phone off)
    34: CallResult.CONGESTION,  # no circuit available
    38: CallResult.CONGESTION,  # network out of order
    41: CallResult.CONGESTION,  # temporary failure
    42: CallResult.CONGESTION,  # switching equipment congestion
    44: CallResult.CONGESTION,  # requested channel not available
}


def classify(*, answered: bool, reason: int | None, cause: int | None) -> CallResult:
    """Classify a finished call. An answer wins; then an informative hangup cause; then the Originate reason."""
    if answered or reason == REASON_ANSWERED:
        return CallResult.ANSWERED
    if cause is not None and cause in _CAUSES:
        return _CAUSES[cause]
    if reason is not None and reason in _REASONS:
        return _REASONS[reason]
    return CallResult.FAILED


def to_int(value: str | None) -> int | None:
    """AMI numbers arrive as text and sometimes as garbage; garbage becomes None, never an exception."""
    if value is None:
        return None
    text = value.strip()
    digits = text[1:] if text.startswith("-") else text
    # isascii: "²" and other Unicode digits pass isdigit() but int() refuses them.
    if not digits or not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)
