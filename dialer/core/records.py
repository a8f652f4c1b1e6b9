"""The records the service reads and writes through its ports: due tasks, reminders, attempts and their log,
SMS, callback tasks, inbound calls, wrap-ups and what the operator's pop-up shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from dialer.core.inbound import MissReason
from dialer.core.outcomes import CallResult
from dialer.core.sms import SmsStatus

Row = TypeVar("Row")


def _changed(row: Row, changes: dict[str, Any]) -> Row:
    """A copy of a frozen row with some fields changed. dataclasses.replace does the same through the class's
    __init__ and costs about four times as much; the desk and the flow copy a row for each fact they read. The
    rows copied so have no __post_init__ to skip."""
    copy: Row = object.__new__(type(row))
    copy.__dict__.update(row.__dict__, **changes)
    return copy


class TaskKind(StrEnum):
    DIAL = "dial"
    SMS = "sms"


class DueState(StrEnum):
    """A due task's life: waiting for its time, claimed by a worker, finished, or called off."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


class TargetState(StrEnum):
    """A calling target (one patient, one campaign subject): still being worked, or finished."""

    ACTIVE = "active"
    DONE = "done"


@dataclass(frozen=True)
class DueTask:
    task_id: str
    clinic_id: str
    kind: TaskKind
    campaign: str
    target_id: int
    due_at: datetime
    tries: int = 0

    @property
    def share(self) -> WorkShare:
        return (self.kind, self.campaign)


# One flow's dial or SMS tasks: the worker gives each its own room, so that a backlog in one (callbacks waiting
# for a free administrator) never holds back another (a reminder window).
WorkShare = tuple[TaskKind, str]


class ReminderStatus(StrEnum):
    """The appointment's reminder status, as the administrators see it."""

    PENDING = "pending"
    CALLING = "calling"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    TO_ADMIN = "to_admin"
    REACHED = "reached_unconfirmed"
    NOT_REACHED = "not_reached"
    INVALID_NUMBER = "invalid_number"
    DO_NOT_CALL = "do_not_call"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def is_final(self) -> bool:
        return self not in (ReminderStatus.PENDING, ReminderStatus.CALLING)


_STATUS_LABELS = {
    ReminderStatus.PENDING: "ожидает звонка",
    ReminderStatus.CALLING: "идёт обзвон",
    ReminderStatus.CONFIRMED: "подтверждён",
    ReminderStatus.CANCELLED: "отменён пациентом",
    ReminderStatus.TO_ADMIN: "соединён с администратором",
    ReminderStatus.REACHED: "дозвонились, без ответа в меню",
    ReminderStatus.NOT_REACHED: "не дозвонились",
    ReminderStatus.INVALID_NUMBER: "неверный номер",
    ReminderStatus.DO_NOT_CALL: "не звонить (нет согласия)",
}


@dataclass(frozen=True)
class ReminderTarget:
    """Everything the reminder flow needs about one appointment's reminder."""

    target_id: int
    clinic_id: str
    appointment_id: str
    patient_id: str
    phone: str
    visit_at: datetime
    doctor: str
    high_value: bool
    consent_call: bool
    consent_sms: bool
    do_not_call: bool
    status: ReminderStatus
    active: bool
    sms_status: SmsStatus | None

    def with_status(self, status: ReminderStatus, *, active: bool | None = None) -> ReminderTarget:
        return _changed(self, {"status": status, "active": self.active if active is None else active})


class Settled(StrEnum):
    """How an answered call ended the conversation, as far as the plan is concerned."""

    OPEN = "open"  # not answered, or answered without a decision: the plan goes on
    CONFIRMED = "confirmed"  # a decision that a later reconfirm window may still revisit
    FINAL = "final"  # nothing more to do by phone


@dataclass(frozen=True)
class AttemptRecord:
    n: int
    started_at: datetime
    result: CallResult | None  # None while the call is in flight
    settled: Settled = Settled.OPEN


class AttemptState(StrEnum):
    DIALING = "dialing"
    ANSWERED = "answered"
    ENDED = "ended"
    UNPLACED = "unplaced"  # Asterisk never had it: not counted as a call


@dataclass(frozen=True)
class AttemptRow:
    attempt_id: str
    clinic_id: str
    target_id: int
    n: int
    phone: str
    trunk: str
    state: AttemptState
    created_at: datetime
    result: CallResult | None = None
    digit: str | None = None
    settled: Settled = Settled.OPEN
    leg_status: str | None = None

    def answered(self) -> AttemptRow:
        return _changed(self, {"state": AttemptState.ANSWERED})

    def with_digit(self, digit: str, settled: Settled) -> AttemptRow:
        return _changed(self, {"digit": digit, "settled": settled})

    def with_leg(self, leg_status: str, settled: Settled) -> AttemptRow:
        return _changed(self, {"leg_status": leg_status, "settled": settled})

    def ended(self, result: CallResult) -> AttemptRow:
        return _changed(self, {"state": AttemptState.ENDED, "result": result})

    def as_record(self) -> AttemptRecord:
        in_flight = self.state in (AttemptState.DIALING, AttemptState.ANSWERED)
        return AttemptRecord(self.n, self.created_at, None if in_flight else self.result, self.settled)


@dataclass(frozen=True)
class AttemptEnd:
    attempt_id: str
    at: datetime
    reason: int | None
    cause: int | None
    result: CallResult
    answered: bool
    linkedid: str
    digit: str | None = None


@dataclass
class AttemptBatch:
    """Attempt changes that commit together."""

    answered: list[tuple[str, datetime]] = field(default_factory=list)
    digits: list[tuple[str, str, Settled]] = field(default_factory=list)
    legs: list[tuple[str, str, Settled]] = field(default_factory=list)
    ends: list[AttemptEnd] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.answered or self.digits or self.legs or self.ends)


@dataclass(frozen=True)
class EventRow:
    """One line of the append-only attempt log."""

    clinic_id: str
    attempt_id: str
    at: datetime
    kind: str
    uniqueid: str | None = None
    linkedid: str | None = None
    reason: int | None = None
    cause: int | None = None
    digit: str | None = None
    detail: str | None = None

    # The columns of the log's INSERT, in this order (dialer/storage/fastbatch.py, pgbatch.py).
    COLUMNS: ClassVar[tuple[str, ...]] = (
        "clinic_id",
        "attempt_id",
        "at",
        "kind",
        "uniqueid",
        "linkedid",
        "reason",
        "cause",
        "digit",
        "detail",
    )

    def values(self, stamp: Callable[[datetime], object] = lambda at: at) -> tuple[object, ...]:
        """The row's values in COLUMNS order, its time as `stamp` makes it (a driver's own form)."""
        return (
            self.clinic_id,
            self.attempt_id,
            stamp(self.at),
            self.kind,
            self.uniqueid,
            self.linkedid,
            self.reason,
            self.cause,
            self.digit,
            self.detail,
        )


@dataclass(frozen=True)
class OutboxEvent:
    """A status change queued for the clinic's own system, until its webhook is taken."""

    event_id: int
    event_key: str  # the idempotency key the receiver sees
    kind: str
    payload: str  # the JSON body's data, as queued
    attempts: int


@dataclass(frozen=True)
class SmsRow:
    sms_key: str
    clinic_id: str
    target_id: int | None
    phone: str
    body: str
    provider: str
    status: SmsStatus
    created_at: datetime
    provider_id: str | None = None


@dataclass(frozen=True)
class DaySummary:
    """One visit day's reminders at a glance: the progress line and the final table."""

    statuses: dict[str, int]
    attempts: dict[str, int]
    sms: dict[str, int]
    active_targets: int
    machines: int = 0  # calls answered by a voicemail or a voice assistant

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def in_flight(self) -> int:
        return self.attempts.get("dialing", 0) + self.attempts.get("answered", 0)


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int


@dataclass(frozen=True)
class OutcomeRow:
    """One appointment's reminder outcome, as exported."""

    clinic_id: str
    appointment_id: str
    visit_at: datetime
    status: str
    attempts: int
    last_result: str
    digit: str
    sms_status: str


class TaskState(StrEnum):
    """Where a missed call's callback task stands."""

    OPEN = "open"
    CONTACTED = "contacted"
    NOT_REACHED = "not_reached"

    @property
    def label(self) -> str:
        return {"open": "ждёт перезвона", "contacted": "связались", "not_reached": "не дозвонились"}[
            self.value
        ]


class CloseReason(StrEnum):
    """Why a callback task was closed."""

    CALLBACK_ANSWERED = "callback_answered"
    PATIENT_CALLED_IN = "patient_called_in"
    STAFF_CALL = "staff_call"
    NOT_REACHED = "not_reached"

    @property
    def label(self) -> str:
        return _CLOSE_LABELS[self]


_CLOSE_LABELS = {
    CloseReason.CALLBACK_ANSWERED: "пациент ответил на перезвон",
    CloseReason.PATIENT_CALLED_IN: "пациент перезвонил сам, ему ответили",
    CloseReason.STAFF_CALL: "администратор дозвонился сам",
    CloseReason.NOT_REACHED: "не дозвонились: две попытки и SMS",
}


@dataclass(frozen=True)
class CallbackTask:
    task_id: int
    clinic_id: str
    phone: str
    state: TaskState
    reason: str
    missed_count: int
    first_call_id: str
    first_missed_at: datetime
    last_missed_at: datetime
    starts_at: datetime
    deadline_at: datetime
    after_hours: bool
    target_id: int | None
    first_attempt_at: datetime | None = None
    contacted_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: CloseReason | None = None


@dataclass(frozen=True)
class MissTaken:
    """A missed call stored with its callback task: a task opened for it (`opened`), or the caller's open one."""

    task: CallbackTask
    opened: bool


class InboundSource(StrEnum):
    """How the service learnt of an inbound call: live from the AMI stream, or recovered after a gap."""

    LIVE = "live"
    QUEUE_LOG = "queue_log"  # read back from Asterisk's queue_log
    LINK_GAP = "link_gap"  # seen only in part while the link was down


@dataclass(frozen=True)
class InboundCallRow:
    call_id: str
    clinic_id: str
    did: str
    queue: str
    caller: str
    hidden: bool
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    waited: float
    answered_by: str
    miss_reason: MissReason | None
    task_id: int | None = None
    source: InboundSource = InboundSource.LIVE
    queue_channel: str = ""


class WrapupState(StrEnum):
    """An operator's wrap-up of a call: still to fill in, or saved."""

    PENDING = "pending"
    SAVED = "saved"


@dataclass(frozen=True)
class WrapupRow:
    wrapup_id: int
    clinic_id: str
    user_id: int
    call_ref: str
    phone: str
    direction: str  # in | out
    reason: str  # inbound | reminder | callback | direct: why the call happened
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    state: WrapupState


@dataclass(frozen=True)
class ContactRecord:
    """An «обращение» as the operator recorded it, with what it puts in the diary or on the waiting list."""

    clinic_id: str
    phone: str
    patient_id: str | None
    direction: str
    flags: tuple[str, ...]
    user_id: int | None
    call_ref: str
    result: str
    reason: str
    comment: str
    follow_up: date | None
    talk_seconds: float | None
    wrap_seconds: float | None
    created_at: datetime
    diary_day: date | None = None
    diary_comment: str = ""
    waiting_doctor: str | None = None
    waiting_day: date | None = None
    waiting_comment: str = ""
