"""The storage ports the engine needs, split by concern. dialer.storage implements them."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from dialer.core.appointments import AppointmentRecord
from dialer.core.cards import PatientCard
from dialer.core.inbound import InboundEnded
from dialer.core.recalls import RecallRecord
from dialer.core.records import (
    AttemptBatch,
    AttemptRow,
    CallbackTask,
    CloseReason,
    ContactRecord,
    DaySummary,
    DueTask,
    EventRow,
    InboundCallRow,
    MissTaken,
    OutcomeRow,
    ReminderStatus,
    ReminderTarget,
    SmsRow,
    TaskState,
    UpsertCounts,
    WorkShare,
    WrapupRow,
)
from dialer.core.sms import SmsStatus
from dialer.core.staff import AuditEntry, UserRow
from dialer.core.supervision import DayMetrics, MissedCall, UnreachedVisit


class DueStore(Protocol):
    async def schedule(self, task: DueTask) -> None:
        """Insert the task, or move a still-pending one to the new due_at. A finished task stays finished."""
        ...

    async def claim_due(self, now: datetime, rooms: Mapping[WorkShare, int], worker: str) -> list[DueTask]:
        """Claim for `worker` the tasks due by `now`, oldest first within each share, at most its room."""
        ...

    async def next_due_at(self, shares: Collection[WorkShare]) -> datetime | None:
        """The earliest due_at among the pending tasks of these shares."""
        ...

    async def finish(self, task_id: str, *, cancelled: bool = False) -> None: ...

    async def retry_later(self, task_id: str, due_at: datetime) -> None: ...

    async def requeue_running(self) -> int:
        """After a restart: tasks claimed by a dead run go back to pending."""
        ...

    async def pending_count(self, kind: str | None = None) -> int: ...

    async def pending_by_share(self) -> dict[tuple[str, str], int]:
        """How many tasks wait, by (kind, campaign) as stored: a kind or campaign the code no longer knows too."""
        ...


class AttemptStore(Protocol):
    async def create(self, row: AttemptRow, log: Sequence[EventRow] = ()) -> None:
        """Write the attempt as "dialing" (with pending log rows) and commit, before any Originate goes out."""
        ...

    async def get(self, attempt_id: str) -> AttemptRow | None: ...

    async def history(self, target_id: int) -> list[AttemptRow]: ...

    async def open_attempts(self) -> list[AttemptRow]: ...

    async def apply(self, batch: AttemptBatch, log: Sequence[EventRow] = ()) -> set[str]:
        """Commit answers, digits and ends with the pending log rows in one transaction. Returns the ids
        that this batch ended (an attempt already ended is left alone)."""
        ...

    async def unplaced(
        self, attempt_id: str, at: datetime, log: Sequence[EventRow] = ()
    ) -> AttemptRow | None: ...

    async def append_events(self, rows: Sequence[EventRow]) -> None: ...


class ReminderStore(Protocol):
    async def target(self, target_id: int) -> ReminderTarget | None: ...

    async def ensure_targets(
        self, visit_day: date, now: datetime, clinics: Collection[str] | None = None
    ) -> list[int]:
        """Create the reminder targets of that day's appointments that have none yet; return the new ids."""
        ...

    async def active_targets(
        self, visit_day: date | None = None, clinics: Collection[str] | None = None
    ) -> list[int]: ...

    async def set_status(
        self, target_id: int, status: ReminderStatus | None, digit: str | None, now: datetime
    ) -> None: ...

    async def finish(self, target_id: int, status: ReminderStatus, reason: str, now: datetime) -> None:
        """Set the final status and close the target, together."""
        ...

    async def open_admin_task(
        self, target_id: int, kind: str, source: str, comment: str, now: datetime
    ) -> None: ...

    async def day_summary(self, visit_day: date, clinic_id: str | None = None) -> DaySummary: ...


class SmsStore(Protocol):
    async def create(self, row: SmsRow) -> SmsRow:
        """Insert the message, or return the existing one with that key (the idempotency guarantee)."""
        ...

    async def get(self, sms_key: str) -> SmsRow | None: ...

    async def accepted(self, sms_key: str, provider_id: str, status: SmsStatus, now: datetime) -> None: ...

    async def failed(
        self, sms_key: str, error: str, now: datetime, *, status: SmsStatus = SmsStatus.FAILED
    ) -> None: ...

    async def apply_status(
        self, provider: str, provider_id: str, status: SmsStatus, error: str, now: datetime, key: str = ""
    ) -> SmsRow | None: ...

    async def unsettled(self) -> list[SmsRow]: ...

    async def for_target(self, target_id: int) -> SmsRow | None: ...


class LeaseStore(Protocol):
    async def acquire(self, name: str, holder: str, now: datetime, ttl_seconds: float) -> str | None:
        """Take the lease, or return who holds it."""
        ...

    async def release(self, name: str, holder: str) -> None: ...


class AppointmentStore(Protocol):
    async def upsert(self, records: Sequence[AppointmentRecord], now: datetime) -> UpsertCounts: ...

    async def days(self) -> list[date]: ...

    async def doctors(self, visit_day: date | None = None) -> list[str]: ...

    async def outcomes(self, visit_day: date, clinic_id: str | None = None) -> list[OutcomeRow]: ...

    async def cancel(self, clinic_id: str, appointment_id: str, now: datetime) -> bool: ...


class RecallImportStore(Protocol):
    async def upsert(self, records: Sequence[RecallRecord], now: datetime) -> UpsertCounts: ...

    async def export(self, clinic_id: str | None = None) -> list[RecallRecord]: ...


class CallbackStore(Protocol):
    async def open_task(self, clinic_id: str, phone: str) -> CallbackTask | None: ...

    async def record_miss(self, call: InboundCallRow, task: CallbackTask, now: datetime) -> MissTaken | None:
        """Store the missed call once, with `task` (and its calling target) opened for it, or the miss counted
        into the caller's open task, all or nothing; None when the call was stored before."""
        ...

    async def declines_sms(self, clinic_id: str, phone: str) -> bool:
        """Whether a patient of the clinic on this number has said no to SMS: a number on file twice (a family's
        one phone) is not texted when any of them declined."""
        ...

    async def task(self, task_id: int) -> CallbackTask | None: ...

    async def task_for_target(self, target_id: int) -> CallbackTask | None: ...

    async def first_attempt(self, task_id: int, at: datetime) -> None: ...

    async def close(self, task_id: int, state: TaskState, reason: CloseReason, at: datetime) -> bool:
        """Close an open task (and its target); False if it was closed already."""
        ...

    async def open_tasks(self, clinic_id: str | None = None) -> list[CallbackTask]: ...


class HeldCallsSpool(Protocol):
    """Where the finished calls the database refused are kept until it takes them, so that a restart meanwhile
    loses none: outside the database, which is the thing away."""

    def save(self, calls: Collection[InboundEnded]) -> None:
        """Keep exactly these calls (none: nothing kept). Raises OSError when it cannot."""
        ...

    def load(self) -> list[InboundEnded]:
        """The calls kept by the last `save`, also of an earlier run."""
        ...


class InboundStore(Protocol):
    async def record(self, row: InboundCallRow) -> bool:
        """Store a finished inbound call once; False if this call id was already stored."""
        ...

    async def known(self, call_ids: Collection[str]) -> set[str]: ...

    async def open_gap(self, clinic_id: str, at: datetime, reason: str) -> int: ...

    async def mark(self, name: str, at: datetime) -> None: ...

    async def mark_of(self, name: str) -> datetime | None: ...

    async def close_gaps(
        self, at: datetime, clinic_ids: Collection[str] | None = None
    ) -> list[tuple[int, datetime]]:
        """Close the open gaps of these clinics, or of every clinic when None (a single Asterisk's link is
        every clinic's); returns (gap id, started_at) of each closed."""
        ...


class UserStore(Protocol):
    async def by_name(self, username: str) -> UserRow | None: ...

    async def by_id(self, user_id: int) -> UserRow | None: ...

    async def by_api_token(self, token_hash: str) -> UserRow | None: ...

    async def all(self) -> list[UserRow]: ...

    async def interface_names(self) -> dict[str, str]:
        """Each phone interface with its user's display name: the name of the user last by username where two
        users list the same interface, as `all`'s order gives it."""
        ...

    async def open_session(
        self, token_hash: str, user_id: int, csrf: str, now: datetime, expires: datetime
    ) -> None: ...

    async def session(self, token_hash: str, now: datetime) -> tuple[UserRow, str] | None: ...

    async def close_session(self, token_hash: str) -> None: ...

    async def live_sessions(self, token_hashes: Collection[str], now: datetime) -> dict[str, datetime]:
        """Of these sessions, the ones still open (of a user not disabled), with when each expires."""
        ...

    async def live_tokens(self, token_hashes: Collection[str]) -> set[str]:
        """Of these API tokens, the ones that still belong to a user who is not disabled."""
        ...

    async def set_disabled(self, username: str, disabled: bool) -> int | None:
        """Disable (ending every session) or enable a user; the sessions ended, or None if no such user."""
        ...

    async def set_password(self, username: str, password_hash: str) -> int | None:
        """Change the password and end every session; the sessions ended, or None if no such user."""
        ...

    async def rehash_password(self, username: str, password_hash: str) -> bool:
        """Store the same password hashed at the current cost; sessions stay. False if no such user."""
        ...

    async def set_api_token(self, username: str, token_hash: str | None) -> bool:
        """Replace (or, with None, revoke) the user's API token; False if no such user."""
        ...


class AuditLog(Protocol):
    """Who did what: logins, exports, imports, status changes, changes to users.

    `actor` is a user name or "cli:<system user>"; `clinic_id` is "" when no clinic applies and "*" for
    several; `detail` holds ids, counts and masked phone numbers (dialer.core.privacy.mask_phone) only: never
    a patient's name or phone number, never a password.
    """

    async def record(
        self, actor: str, action: str, clinic_id: str, detail: Mapping[str, object], now: datetime
    ) -> None: ...

    async def entries(
        self, *, since: datetime | None = None, actor: str | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """The newest entries first."""
        ...


class WrapupStore(Protocol):
    async def open(self, row: WrapupRow) -> WrapupRow: ...

    async def ended(self, wrapup_id: int, at: datetime) -> None: ...

    async def get(self, wrapup_id: int) -> WrapupRow | None: ...

    async def pending(self, user_id: int) -> list[WrapupRow]: ...

    async def save(self, wrapup_id: int, contact: ContactRecord) -> bool: ...


class CardStore(Protocol):
    async def card(self, phone: str, now: datetime, clinic_id: str | None = None) -> PatientCard:
        """What is known about this number; with a clinic, only that clinic's records."""
        ...


class ReportStore(Protocol):
    async def day_metrics(
        self, clinic_id: str, start: datetime, end: datetime, day: date, user_id: int | None = None
    ) -> DayMetrics: ...

    async def missed_calls(
        self, clinic_id: str, start: datetime, end: datetime, user_id: int | None = None
    ) -> list[MissedCall]: ...

    async def unreached(self, clinic_id: str, visit_day: date) -> list[UnreachedVisit]: ...

    async def operators(self, clinic_id: str) -> list[tuple[int, str]]: ...
