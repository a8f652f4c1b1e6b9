"""Records the engine reads and writes through its ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from dialer.campaigns.planner import AttemptRecord, Settled
from dialer.campaigns.reminders import ReminderStatus
from dialer.core.errors import Conflict
from dialer.core.outcomes import CallResult
from dialer.core.recalls import RecallStatus
from dialer.core.sms import SmsStatus

ALL_CLINICS = "*"


class TaskKind(StrEnum):
    DIAL = "dial"
    SMS = "sms"


@dataclass(frozen=True)
class DueTask:
    task_id: str
    clinic_id: str
    kind: TaskKind
    campaign: str
    target_id: int
    due_at: datetime
    tries: int = 0


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


@dataclass(frozen=True)
class CallbackTask:
    task_id: int
    clinic_id: str
    phone: str
    state: str
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
    close_reason: str | None = None


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
    miss_reason: str | None
    task_id: int | None = None
    source: str = "live"
    queue_channel: str = ""


@dataclass(frozen=True)
class UserRow:
    user_id: int
    username: str
    display_name: str
    role: str  # operator | supervisor | admin
    password_hash: str
    interfaces: tuple[str, ...]  # an operator's phones, as the queue knows them (e.g. PJSIP/101)
    clinics: frozenset[str]  # the clinics they work for; ALL_CLINICS ("*"): every clinic; empty: none
    disabled: bool
    has_api_token: bool = False
    last_login_at: datetime | None = None

    @property
    def all_clinics(self) -> bool:
        return ALL_CLINICS in self.clinics

    @property
    def clinic_of_record(self) -> str:
        """The clinic this person's actions are filed under: their one clinic, else every clinic ("*")."""
        return next(iter(self.clinics)) if len(self.clinics) == 1 else ALL_CLINICS

    def holds(self, clinic_id: str) -> bool:
        """May this user see and act on this clinic's patients?"""
        return self.all_clinics or (bool(clinic_id) and clinic_id in self.clinics)


class UserExists(Conflict):
    """A user by this name exists already."""


class AuditAction(StrEnum):
    """What the audit log records. Other parts may record their own actions: the column is free text."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    EXPORT = "export"
    IMPORT = "import"
    WRAPUP = "wrapup"
    CANCEL = "cancel"
    USER_ADD = "user_add"
    USER_DISABLE = "user_disable"
    USER_ENABLE = "user_enable"
    USER_PASSWD = "user_passwd"
    USER_TOKEN = "user_token"
    USER_REVOKE_TOKEN = "user_revoke_token"

    @property
    def label(self) -> str:
        return AUDIT_LABELS[self]


AUDIT_LABELS = {
    AuditAction.LOGIN: "вход",
    AuditAction.LOGIN_FAILED: "неудачный вход",
    AuditAction.LOGOUT: "выход",
    AuditAction.EXPORT: "выгрузка",
    AuditAction.IMPORT: "загрузка",
    AuditAction.WRAPUP: "итог звонка",
    AuditAction.CANCEL: "отмена визита",
    AuditAction.USER_ADD: "пользователь создан",
    AuditAction.USER_DISABLE: "пользователь отключён",
    AuditAction.USER_ENABLE: "пользователь включён",
    AuditAction.USER_PASSWD: "пароль сменён",
    AuditAction.USER_TOKEN: "выдан API-токен",
    AuditAction.USER_REVOKE_TOKEN: "API-токен отозван",
}


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: who (a user name, or "cli:<system user>"), did what, in which clinic.

    `detail` holds ids, counts and masked numbers only; never a patient's name or phone number.
    """

    audit_id: int
    at: datetime
    actor: str
    action: str
    clinic_id: str
    detail: dict[str, Any]

    @property
    def label(self) -> str:
        try:
            return AuditAction(self.action).label
        except ValueError:
            return self.action


@dataclass(frozen=True)
class PatientCard:
    """Everything the operator's pop-up shows about one phone number (several patients: a family)."""

    phone: str
    patients: list[dict[str, Any]]
    visits: list[dict[str, Any]]
    callback: dict[str, Any] | None
    contacts: list[dict[str, Any]]
    waiting_list: list[dict[str, Any]]
    diary: list[dict[str, Any]]
    recall: dict[str, Any] | None = None  # an open KOS invitation, with the doctor's comment


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
    state: str


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


@dataclass(frozen=True)
class RecallRow:
    recall_id: int
    clinic_id: str
    external_id: str
    patient_id: str
    patient_name: str
    phone: str
    doctor: str
    comment: str
    target_day: date
    status: RecallStatus
    reason: str
    status_comment: str
    moves: int
    booked_day: date | None
    planned: bool

    def public(self) -> dict[str, Any]:
        """The row as the clinic's own system takes it back: the export, the API and the webhook."""
        return {
            "recall_id": self.external_id,
            "clinic": self.clinic_id,
            "patient_id": self.patient_id,
            "doctor": self.doctor,
            "status": self.status.value,
            "status_label": self.status.label,
            "reason": self.reason,
            "comment": self.status_comment,
            "target_date": self.target_day.isoformat(),
            "booked_date": self.booked_day.isoformat() if self.booked_day else None,
            "moves": self.moves,
        }
