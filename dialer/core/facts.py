"""Call facts: what the tracker concludes from AMI events. Plain frozen values, consumed by the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dialer.core.outcomes import CallResult


@dataclass(frozen=True, slots=True)
class CallStarted:
    attempt_id: str
    at: datetime
    channel: str


@dataclass(frozen=True, slots=True)
class CallAnswered:
    attempt_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DigitPressed:
    attempt_id: str
    digit: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DigitIgnored:
    """A second key pressed right after the one the IVR took ("12" in one go): not an answer, only logged."""

    attempt_id: str
    digit: str
    taken: str
    at: datetime


@dataclass(frozen=True, slots=True)
class JoinedQueue:
    attempt_id: str
    queue: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallEnded:
    attempt_id: str
    at: datetime
    answered: bool
    reason: int | None
    cause: int | None
    result: CallResult
    linkedid: str
    sip: int | None = None  # the SIP response that ended an unanswered call over a trunk


@dataclass(frozen=True, slots=True)
class PatientLeg:
    """A call's second leg is decided: Asterisk's DIALSTATUS (ANSWER, NOANSWER, BUSY…) for a callback's patient,
    CONNECTED or DROPPED for a progressive call waiting for an administrator."""

    attempt_id: str
    status: str
    at: datetime
    member: str = ""  # the administrator's queue interface, when a queue connected the patient


@dataclass(frozen=True, slots=True)
class FarEndTalk:
    """TALK_DETECT on an attempt's channel: the far end started making sound, or stopped after `duration_ms`."""

    attempt_id: str
    at: datetime
    talking: bool
    duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class MachineAnswered:
    """The dialplan's machine branch took the call (UserEvent DialerMachine): a voicemail or an assistant."""

    attempt_id: str
    at: datetime


Fact = (
    CallStarted
    | CallAnswered
    | DigitPressed
    | DigitIgnored
    | PatientLeg
    | JoinedQueue
    | CallEnded
    | FarEndTalk
    | MachineAnswered
)
