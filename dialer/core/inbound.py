"""Inbound call facts: what the inbound tracker (core/inbound_tracker.py) concludes from AMI events, and why a
call was missed. Plain frozen values, consumed by the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

HIDDEN = frozenset({"", "<unknown>", "unknown", "anonymous", "restricted", "private", "<none>"})


class MissReason(StrEnum):
    ABANDONED = "abandoned"
    QUEUE_TIMEOUT = "queue_timeout"
    NOT_ANSWERED = "not_answered"  # direct dial to an extension or ring group: no answer or busy
    IVR_HANGUP = "ivr_hangup"
    AFTER_HOURS = "after_hours"
    ENDED_UNSEEN = "ended_unseen"  # ended while the AMI link was down, not seen answered

    @property
    def label(self) -> str:
        return _MISS_LABELS[self]


_MISS_LABELS = {
    MissReason.ABANDONED: "не дождался ответа в очереди",
    MissReason.QUEUE_TIMEOUT: "никто не ответил за время ожидания",
    MissReason.NOT_ANSWERED: "внутренний номер не ответил или занят",
    MissReason.IVR_HANGUP: "положил трубку в голосовом меню",
    MissReason.AFTER_HOURS: "звонок в нерабочее время",
    MissReason.ENDED_UNSEEN: "завершился, пока не было связи с АТС; ответа не видели",
}


@dataclass(frozen=True, slots=True)
class InboundStarted:
    call_id: str
    context: str
    did: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallerQueued:
    call_id: str
    queue: str
    caller: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallerLeftQueue:
    call_id: str
    queue: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentRinging:
    """An administrator's phone rings for this call (the pop-up's trigger)."""

    call_id: str
    queue: str
    interface: str
    member: str
    caller: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentStopped:
    """An administrator's phone stopped ringing for this call; `answered` if they took it."""

    call_id: str
    interface: str
    answered: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class InboundAnswered:
    call_id: str
    caller: str
    by: str
    waited: float
    at: datetime


@dataclass(frozen=True, slots=True)
class InboundEnded:
    call_id: str
    context: str
    did: str
    queue: str
    caller: str  # as Asterisk gave it; empty when hidden
    started_at: datetime
    ended_at: datetime
    answered_at: datetime | None
    answered_by: str
    waited: float  # seconds until answered, or until the caller gave up
    miss: MissReason | None
    queue_channel: str = ""  # the Uniqueid that waited in the queue (queue_log's callid)
    unseen: bool = False  # its end was not seen (the link was down): `ended_at` is when it was last seen
    channels: tuple[str, ...] = ()  # for an unseen end: the call's channels, to find it in queue_log


@dataclass(frozen=True, slots=True)
class StaffCallAnswered:
    """An administrator's own outbound call was answered by this number (a contact with the patient)."""

    number: str
    at: datetime


InboundFact = (
    InboundStarted
    | CallerQueued
    | CallerLeftQueue
    | AgentRinging
    | AgentStopped
    | InboundAnswered
    | InboundEnded
    | StaffCallAnswered
)
NO_FACTS: tuple[InboundFact, ...] = ()


def caller_number(raw: str) -> str:
    """The caller's digits, or "" when the number is hidden."""
    text = raw.strip()
    if text.lower() in HIDDEN:
        return ""
    digits = "".join(c for c in text if c.isdigit())
    return digits if len(digits) >= 5 else ""
