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
    UNAVAILABLE = "unavailable"  # switched off or out of reach: the network said so
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
    CallResult.UNAVAILABLE: "абонент недоступен",
    CallResult.MACHINE: "автоответчик",
}

# A second leg's status (beside Asterisk's DIALSTATUS values) for a number the network says does not exist.
UNALLOCATED = "UNALLOCATED"

# OriginateResponse Reason (Asterisk's AST_CONTROL_* derived codes).
REASON_ANSWERED = 4
REASON_REFUSED = 0  # over a SIP trunk every refusal by the far end arrives as 0: the Hangup tells which
REASON_GAVE_UP = 3  # the Originate's own ring timeout: the clinic stopped ringing, whatever the trunk said
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
    20: CallResult.UNAVAILABLE,  # subscriber absent (phone off)
    34: CallResult.CONGESTION,  # no circuit available
    38: CallResult.CONGESTION,  # network out of order
    41: CallResult.CONGESTION,  # temporary failure
    42: CallResult.CONGESTION,  # switching equipment congestion
    44: CallResult.CONGESTION,  # requested channel not available
}


# SIP final responses (the Hangup's TechCause on a PJSIP channel): finer than the Q.850 cause they map to, which
# folds 480 "switched off" into 19 "no answer".
_SIP = {
    404: CallResult.INVALID_NUMBER,  # not found
    410: CallResult.INVALID_NUMBER,  # gone
    484: CallResult.INVALID_NUMBER,  # address incomplete
    604: CallResult.INVALID_NUMBER,  # does not exist anywhere
    486: CallResult.BUSY,
    600: CallResult.BUSY,  # busy everywhere
    603: CallResult.BUSY,  # declined: the patient refused this call, not the number
    480: CallResult.UNAVAILABLE,  # temporarily unavailable: switched off, out of reach
    408: CallResult.NO_ANSWER,  # request timeout: nobody picked up
    500: CallResult.CONGESTION,
    502: CallResult.CONGESTION,
    503: CallResult.CONGESTION,
    504: CallResult.CONGESTION,
}
# Causes a refusal after early media can carry when the far end played an announcement and then gave up.
_AFTER_ANNOUNCEMENT = {None, 0, 16, 18, 19, 20, 31}


def classify(
    *,
    answered: bool,
    reason: int | None,
    cause: int | None,
    sip: int | None = None,
    early_media: bool = False,
) -> CallResult:
    """Classify a finished call. An answer wins, then the clinic's own ring timeout (Asterisk then reports a 480 of
    its own making); then the SIP response, an announcement heard before a refusal, the hangup cause, and last the
    Originate reason."""
    if answered or reason == REASON_ANSWERED:
        return CallResult.ANSWERED
    if reason == REASON_GAVE_UP:
        return CallResult.NO_ANSWER
    if sip is not None and sip in _SIP:
        return _SIP[sip]
    if early_media and reason in (None, REASON_REFUSED) and cause in _AFTER_ANNOUNCEMENT:
        # The network spoke (a recorded "switched off") and then refused the call without a telling code.
        return CallResult.UNAVAILABLE
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
