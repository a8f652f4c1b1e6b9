"""In-memory implementations of the engine's storage ports and of the SmsGateway port, for the flow tests.

Each keeps the contract its protocol states (dialer/core/stores.py, dialer/core/ports.py) and that the SQL
stores keep: a due task moves only while pending, an attempt ended once stays ended, an SMS key is one message
ever, a closed callback task stays closed. Nothing here sleeps or reads the time: the callers pass `now`.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from dialer.core.clock import Clock
from dialer.core.ports import OutgoingSms, SmsError, SmsReceipt
from dialer.core.recalls import RecallChange, RecallRecord, RecallStatus, rounds_for_today, status_change
from dialer.core.records import (
    AttemptBatch,
    AttemptEnd,
    AttemptRow,
    AttemptState,
    CallbackTask,
    CloseReason,
    DaySummary,
    DueTask,
    EventRow,
    InboundCallRow,
    MissTaken,
    ReminderStatus,
    ReminderTarget,
    SmsRow,
    TaskState,
    WorkShare,
)
from dialer.core.sms import SmsStatus, advance

_OPEN = (AttemptState.DIALING, AttemptState.ANSWERED)


class TargetIds:
    """One sequence of target ids for every campaign, as the `targets` table gives them: an attempt's
    history is looked up by target id alone."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def take(self) -> int:
        return next(self._next)


# -- due tasks ---------------------------------------------------------------------------------------


@dataclass
class DueRow:
    task: DueTask
    state: str = "pending"  # pending | running | done | cancelled
    claimed_by: str | None = None


class MemoryDueStore:
    def __init__(self) -> None:
        self.rows: dict[str, DueRow] = {}

    async def schedule(self, task: DueTask) -> None:
        row = self.rows.get(task.task_id)
        if row is None:
            self.rows[task.task_id] = DueRow(task)
        elif row.state in ("pending", "cancelled"):
            row.task = replace(row.task, due_at=task.due_at)
            row.state = "pending"

    async def claim_due(self, now: datetime, rooms: Mapping[WorkShare, int], worker: str) -> list[DueTask]:
        due = sorted(
            (r for r in self.rows.values() if r.state == "pending" and r.task.due_at <= now),
            key=lambda r: (r.task.due_at, r.task.task_id),
        )
        taken: list[DueTask] = []
        for row in due:
            if sum(t.share == row.task.share for t in taken) < rooms.get(row.task.share, 0):
                row.state, row.claimed_by = "running", worker
                taken.append(row.task)
        return taken

    async def next_due_at(self, shares: Collection[WorkShare]) -> datetime | None:
        pending = (r.task for r in self.rows.values() if r.state == "pending")
        return min((t.due_at for t in pending if t.share in shares), default=None)

    async def finish(self, task_id: str, *, cancelled: bool = False) -> None:
        self.rows[task_id].state = "cancelled" if cancelled else "done"

    async def retry_later(self, task_id: str, due_at: datetime) -> None:
        row = self.rows[task_id]
        row.task = replace(row.task, due_at=due_at, tries=row.task.tries + 1)
        row.state, row.claimed_by = "pending", None

    async def requeue_running(self) -> int:
        running = [r for r in self.rows.values() if r.state == "running"]
        for row in running:
            row.state, row.claimed_by = "pending", None
        return len(running)

    async def pending_count(self, kind: str | None = None) -> int:
        return sum(
            1
            for r in self.rows.values()
            if r.state in ("pending", "running") and (kind is None or r.task.kind.value == kind)
        )

    async def pending_by_share(self) -> dict[tuple[str, str], int]:
        counts: Counter[tuple[str, str]] = Counter(
            (r.task.kind.value, r.task.campaign) for r in self.rows.values() if r.state == "pending"
        )
        return dict(counts)

    def states(self, prefix: str = "") -> dict[str, str]:
        return {k: r.state for k, r in self.rows.items() if k.startswith(prefix)}


# -- attempts ----------------------------------------------------------------------------------------


class MemoryAttemptStore:
    def __init__(self) -> None:
        self.rows: dict[str, AttemptRow] = {}
        self.ends: dict[str, AttemptEnd] = {}
        self.answered_at: dict[str, datetime] = {}
        self.log: list[EventRow] = []
        self.writes: list[tuple[str, str]] = []  # (what, attempt id), in commit order

    async def create(self, row: AttemptRow, log: Sequence[EventRow] = ()) -> None:
        if row.attempt_id in self.rows:
            raise KeyError(f"attempt {row.attempt_id} exists already (primary key)")
        self.rows[row.attempt_id] = row
        self.log.extend(log)
        self.writes.append(("create", row.attempt_id))

    async def get(self, attempt_id: str) -> AttemptRow | None:
        return self.rows.get(attempt_id)

    async def history(self, target_id: int) -> list[AttemptRow]:
        return sorted((r for r in self.rows.values() if r.target_id == target_id), key=lambda r: r.n)

    async def open_attempts(self) -> list[AttemptRow]:
        return [r for r in self.rows.values() if r.state in _OPEN]

    async def apply(self, batch: AttemptBatch, log: Sequence[EventRow] = ()) -> set[str]:
        for attempt_id, at in batch.answered:
            row = self.rows.get(attempt_id)
            if row is not None and row.state is AttemptState.DIALING:
                self.rows[attempt_id] = replace(row, state=AttemptState.ANSWERED)
                self.answered_at[attempt_id] = at
        for attempt_id, digit, settled in batch.digits:
            if attempt_id in self.rows:
                self.rows[attempt_id] = replace(self.rows[attempt_id], digit=digit, settled=settled)
        for attempt_id, leg, settled in batch.legs:
            if attempt_id in self.rows:
                self.rows[attempt_id] = replace(self.rows[attempt_id], leg_status=leg, settled=settled)
        ended: set[str] = set()
        for end in batch.ends:
            row = self.rows.get(end.attempt_id)
            if row is None or row.state not in _OPEN:
                continue  # ended before (a replayed fact): left as it is
            kept = end.digit if end.digit is not None else row.digit
            self.rows[end.attempt_id] = replace(row, state=AttemptState.ENDED, result=end.result, digit=kept)
            self.ends[end.attempt_id] = end
            ended.add(end.attempt_id)
            self.writes.append(("end", end.attempt_id))
        self.log.extend(log)
        return ended

    async def unplaced(
        self, attempt_id: str, at: datetime, log: Sequence[EventRow] = ()
    ) -> AttemptRow | None:
        self.log.extend(log)
        row = self.rows.get(attempt_id)
        if row is None or row.state not in _OPEN:
            return None
        self.rows[attempt_id] = row = replace(row, state=AttemptState.UNPLACED)
        self.writes.append(("unplaced", attempt_id))
        return row

    async def append_events(self, rows: Sequence[EventRow]) -> None:
        self.log.extend(rows)

    def of_target(self, target_id: int) -> list[AttemptRow]:
        return sorted((r for r in self.rows.values() if r.target_id == target_id), key=lambda r: r.n)

    def log_of(self, attempt_id: str) -> list[EventRow]:
        return [e for e in self.log if e.attempt_id == attempt_id]


# -- SMS ---------------------------------------------------------------------------------------------


class MemorySmsStore:
    def __init__(self) -> None:
        self.rows: dict[str, SmsRow] = {}
        self.errors: dict[str, str] = {}

    async def create(self, row: SmsRow) -> SmsRow:
        return self.rows.setdefault(row.sms_key, row)

    async def get(self, sms_key: str) -> SmsRow | None:
        return self.rows.get(sms_key)

    async def accepted(self, sms_key: str, provider_id: str, status: SmsStatus, now: datetime) -> None:
        row = self.rows[sms_key]
        self.rows[sms_key] = replace(row, provider_id=provider_id, status=advance(row.status, status))

    async def failed(
        self, sms_key: str, error: str, now: datetime, *, status: SmsStatus = SmsStatus.FAILED
    ) -> None:
        self.rows[sms_key] = replace(self.rows[sms_key], status=status)
        self.errors[sms_key] = error

    async def apply_status(
        self, provider: str, provider_id: str, status: SmsStatus, error: str, now: datetime, key: str = ""
    ) -> SmsRow | None:
        # As the SQL store: with `key`, only that message, and only if the id is its own or not known yet.
        for sms_key, row in self.rows.items():
            ours = row.provider_id == provider_id or (bool(key) and row.provider_id is None)
            if row.provider == provider and ours and (not key or sms_key == key):
                self.rows[sms_key] = replace(row, status=advance(row.status, status))
                return self.rows[sms_key]
        return None

    async def unsettled(self) -> list[SmsRow]:
        return [r for r in self.rows.values() if not r.status.is_final]

    async def for_target(self, target_id: int) -> SmsRow | None:
        rows = [r for r in self.rows.values() if r.target_id == target_id]
        return max(rows, key=lambda r: r.created_at) if rows else None


@dataclass(frozen=True)
class SentSms:
    at: datetime
    sms: OutgoingSms
    provider_id: str


class MemorySmsGateway:
    """An SMS gateway that takes every message (or refuses, when told to) and remembers what it took."""

    name = "memory"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[SentSms] = []
        self.refuse: SmsError | None = None  # the next sends raise this while it is set
        self.status = SmsStatus.QUEUED

    async def send(self, sms: OutgoingSms) -> SmsReceipt:
        if self.refuse is not None:
            raise self.refuse
        provider_id = f"M{len(self.sent) + 1:04d}"
        self.sent.append(SentSms(self.clock.now(), sms, provider_id))
        return SmsReceipt(provider_id, self.status)

    async def find_sent(self, sms: OutgoingSms, since: datetime) -> SmsReceipt | None:
        for sent in self.sent:
            if sent.sms.key == sms.key and sent.at >= since:
                return SmsReceipt(sent.provider_id, self.status)
        return None

    async def fetch_status(self, provider_id: str) -> SmsStatus:
        return self.status

    async def close(self) -> None:
        return None


# -- reminders ---------------------------------------------------------------------------------------


@dataclass
class Appointment:
    clinic_id: str
    appointment_id: str
    patient_id: str
    phone: str
    visit_at: datetime
    visit_day: date  # in the clinic's zone
    doctor: str = "Иванова Мария Петровна"
    high_value: bool = False
    consent_call: bool = True
    consent_sms: bool = True
    do_not_call: bool = False
    status: ReminderStatus = ReminderStatus.PENDING
    digit: str | None = None


@dataclass
class _Target:
    clinic_id: str
    subject_id: str
    state: str = "active"
    stop_reason: str | None = None


@dataclass(frozen=True)
class AdminTask:
    target_id: int
    kind: str
    source: str
    comment: str
    at: datetime


class MemoryReminderStore:
    def __init__(self, ids: TargetIds, sms: MemorySmsStore) -> None:
        self.ids = ids
        self.sms = sms
        self.appointments: dict[tuple[str, str], Appointment] = {}
        self.targets: dict[int, _Target] = {}
        self.admin_tasks: list[AdminTask] = []

    def add(self, appointment: Appointment) -> None:
        self.appointments[(appointment.clinic_id, appointment.appointment_id)] = appointment

    def appointment_of(self, target_id: int) -> Appointment:
        t = self.targets[target_id]
        return self.appointments[(t.clinic_id, t.subject_id)]

    async def target(self, target_id: int) -> ReminderTarget | None:
        t = self.targets.get(target_id)
        if t is None:
            return None
        a = self.appointments[(t.clinic_id, t.subject_id)]
        sms = await self.sms.for_target(target_id)
        return ReminderTarget(
            target_id=target_id,
            clinic_id=a.clinic_id,
            appointment_id=a.appointment_id,
            patient_id=a.patient_id,
            phone=a.phone,
            visit_at=a.visit_at,
            doctor=a.doctor,
            high_value=a.high_value,
            consent_call=a.consent_call,
            consent_sms=a.consent_sms,
            do_not_call=a.do_not_call,
            status=a.status,
            active=t.state == "active",
            sms_status=sms.status if sms else None,
        )

    async def ensure_targets(
        self, visit_day: date, now: datetime, clinics: Collection[str] | None = None
    ) -> list[int]:
        have = {(t.clinic_id, t.subject_id) for t in self.targets.values()}
        created = []
        for key, a in sorted(self.appointments.items()):
            if (
                a.visit_day != visit_day
                or (clinics is not None and a.clinic_id not in clinics)
                or key in have
            ):
                continue
            target_id = self.ids.take()
            self.targets[target_id] = _Target(a.clinic_id, a.appointment_id)
            created.append(target_id)
        return created

    async def active_targets(
        self, visit_day: date | None = None, clinics: Collection[str] | None = None
    ) -> list[int]:
        return sorted(
            target_id
            for target_id, t in self.targets.items()
            if t.state == "active"
            and (visit_day is None or self.appointment_of(target_id).visit_day == visit_day)
            and (clinics is None or t.clinic_id in clinics)
        )

    async def set_status(
        self, target_id: int, status: ReminderStatus | None, digit: str | None, now: datetime
    ) -> None:
        a = self.appointment_of(target_id)
        if status is not None:
            a.status = status
        if digit is not None:
            a.digit = digit

    async def finish(self, target_id: int, status: ReminderStatus, reason: str, now: datetime) -> None:
        self.appointment_of(target_id).status = status
        t = self.targets[target_id]
        t.state, t.stop_reason = "done", reason

    async def open_admin_task(
        self, target_id: int, kind: str, source: str, comment: str, now: datetime
    ) -> None:
        if not any(
            x.target_id == target_id and (x.kind, x.source) == (kind, source) for x in self.admin_tasks
        ):
            self.admin_tasks.append(AdminTask(target_id, kind, source, comment, now))

    async def day_summary(self, visit_day: date, clinic_id: str | None = None) -> DaySummary:
        day = [a for a in self.appointments.values() if a.visit_day == visit_day]
        day = [a for a in day if clinic_id is None or a.clinic_id == clinic_id]
        statuses: dict[str, int] = {}
        for a in day:
            statuses[a.status.value] = statuses.get(a.status.value, 0) + 1
        active = sum(
            1
            for t in self.targets.values()
            if t.state == "active" and self.appointments[(t.clinic_id, t.subject_id)] in day
        )
        return DaySummary(statuses=statuses, attempts={}, sms={}, active_targets=active)


# -- callbacks and inbound calls ---------------------------------------------------------------------


class MemoryCallbackStore:
    def __init__(self, ids: TargetIds, calls: MemoryInboundStore) -> None:
        self.ids = ids
        self.calls = calls
        self.tasks: dict[int, CallbackTask] = {}
        self._task_ids = itertools.count(1)
        self.declining_sms: set[tuple[str, str]] = set()  # (clinic, phone) of patients who said no to SMS

    async def open_task(self, clinic_id: str, phone: str) -> CallbackTask | None:
        return next(
            (
                t
                for t in self.tasks.values()
                if (t.clinic_id, t.phone, t.state) == (clinic_id, phone, TaskState.OPEN)
            ),
            None,
        )

    async def record_miss(self, call: InboundCallRow, task: CallbackTask, now: datetime) -> MissTaken | None:
        if not await self.calls.record(call):
            return None
        existing = await self.open_task(task.clinic_id, task.phone)
        if existing is None:
            task_id = next(self._task_ids)
            stored = replace(
                task, task_id=task_id, state=TaskState.OPEN, missed_count=1, target_id=self.ids.take()
            )
        else:
            stored = replace(
                existing,
                missed_count=existing.missed_count + 1,
                last_missed_at=max(existing.last_missed_at, task.last_missed_at),
            )
        self.tasks[stored.task_id] = stored
        self.calls.calls[call.call_id] = replace(call, task_id=stored.task_id)
        return MissTaken(stored, opened=existing is None)

    async def declines_sms(self, clinic_id: str, phone: str) -> bool:
        return (clinic_id, phone) in self.declining_sms

    async def task(self, task_id: int) -> CallbackTask | None:
        return self.tasks.get(task_id)

    async def task_for_target(self, target_id: int) -> CallbackTask | None:
        return next((t for t in self.tasks.values() if t.target_id == target_id), None)

    async def first_attempt(self, task_id: int, at: datetime) -> None:
        t = self.tasks[task_id]
        if t.first_attempt_at is None:
            self.tasks[task_id] = replace(t, first_attempt_at=at)

    async def close(self, task_id: int, state: TaskState, reason: CloseReason, at: datetime) -> bool:
        t = self.tasks[task_id]
        if t.state is not TaskState.OPEN:
            return False
        contacted = at if state is TaskState.CONTACTED else t.contacted_at
        self.tasks[task_id] = replace(
            t, state=state, close_reason=reason, closed_at=at, contacted_at=contacted
        )
        return True

    async def open_tasks(self, clinic_id: str | None = None) -> list[CallbackTask]:
        return sorted(
            (
                t
                for t in self.tasks.values()
                if t.state is TaskState.OPEN and (clinic_id is None or t.clinic_id == clinic_id)
            ),
            key=lambda t: t.deadline_at,
        )


class MemoryInboundStore:
    def __init__(self) -> None:
        self.calls: dict[str, InboundCallRow] = {}
        self.marks: dict[str, datetime] = {}
        self.gaps: dict[int, tuple[str, datetime, str, datetime | None]] = {}

    async def record(self, row: InboundCallRow) -> bool:
        if row.call_id in self.calls:
            return False
        self.calls[row.call_id] = row
        return True

    async def known(self, call_ids: Collection[str]) -> set[str]:
        return {c for c in call_ids if c in self.calls}

    async def open_gap(self, clinic_id: str, at: datetime, reason: str) -> int:
        gap_id = len(self.gaps) + 1
        self.gaps[gap_id] = (clinic_id, at, reason, None)
        return gap_id

    async def mark(self, name: str, at: datetime) -> None:
        self.marks[name] = at

    async def mark_of(self, name: str) -> datetime | None:
        return self.marks.get(name)

    async def close_gaps(
        self, at: datetime, clinic_ids: Collection[str] | None = None
    ) -> list[tuple[int, datetime]]:
        closed = []
        for gap_id, (clinic_id, started, reason, ended) in self.gaps.items():
            if ended is None and (clinic_ids is None or clinic_id in clinic_ids):
                self.gaps[gap_id] = (clinic_id, started, reason, at)
                closed.append((gap_id, started))
        return closed


# -- KOS recalls -------------------------------------------------------------------------------------


@dataclass
class _Round:
    recall_id: int
    day: date
    clinic_id: str
    created_at: datetime
    state: str = "active"
    stop_reason: str | None = None


@dataclass
class MemoryRecallStore:
    """The RecallStore KosSource reads (dialer/engine/kos.py): rounds of calls per recall and date."""

    ids: TargetIds
    recalls: dict[int, RecallRecord] = field(default_factory=dict)
    rounds: dict[int, _Round] = field(default_factory=dict)
    webhook: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: RecallRecord) -> None:
        self.recalls[row.recall_id] = row

    async def plan_day(
        self, clinic_id: str, day: date, limit: int, day_start: datetime, now: datetime
    ) -> list[int]:
        today = {
            (r.recall_id, r.day): tid
            for tid, r in self.rounds.items()
            if r.clinic_id == clinic_id and r.created_at >= day_start
        }
        due = sorted(
            (
                r
                for r in self.recalls.values()
                if r.clinic_id == clinic_id
                and r.status is RecallStatus.CALL
                and r.planned
                and r.target_day <= day
            ),
            key=lambda r: (r.target_day, r.recall_id),
        )
        earlier = {(r.recall_id, r.day): tid for tid, r in self.rounds.items()}
        active = {key: self.rounds[tid].state == "active" for key, tid in earlier.items()}
        for recall_id, round_day in rounds_for_today(
            [(r.recall_id, r.target_day) for r in due], today, active, limit
        ):
            carried = earlier.get((recall_id, round_day))
            if carried is None:
                carried = self.ids.take()
                self.rounds[carried] = _Round(recall_id, round_day, clinic_id, now)
            today[(recall_id, round_day)] = carried
        return [tid for tid in today.values() if self.rounds[tid].state == "active"]

    async def by_target(self, target_id: int) -> tuple[RecallRecord, bool, datetime] | None:
        r = self.rounds.get(target_id)
        if r is None:
            return None
        recall = self.recalls[r.recall_id]
        current = r.state == "active" and recall.target_day == r.day and recall.status is RecallStatus.CALL
        return recall, current, r.created_at

    async def close_round(self, target_id: int, reason: str, now: datetime) -> None:
        r = self.rounds[target_id]
        r.state, r.stop_reason = "done", reason

    async def change(
        self, recall_id: int, change: RecallChange, *, now: datetime, close_target: int, event: dict[str, Any]
    ) -> None:
        fields: dict[str, Any] = status_change(change)
        row = self.recalls[recall_id] = replace(self.recalls[recall_id], **fields)
        r = self.rounds[close_target]
        r.state, r.stop_reason = "done", change.status.value
        self.webhook.append({**event, **row.public()})
