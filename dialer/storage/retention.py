"""Patients' personal data kept no longer than needed (152-FZ, art. 5 and 21), and one patient forgotten on request.

`purge` applies the `[retention]` limits, each counted back from now; a row exactly at the limit stays:

attempts      attempts.phone and, for finished work, targets.phone blanked (the call's result stays for the
              figures); the call log (attempt_events) and delivered webhook events deleted
sms           sms_messages.phone and .body blanked (status stays); the delivery log (sms_events) deleted
missed_calls  inbound_calls.caller and, for closed tasks, callback_tasks.phone blanked (the service level stays)
appointments  visits (by the visit's time) deleted with their calls, SMS, follow-up answers, low-rating alerts,
              no-show reasons, the administrators' tasks of that time and the waiting-list offers of their slot;
              then patients nothing refers to any more
recalls       КОС cases closed (Записан, Отказ) that long ago, with their calls, SMS and webhook events
contacts      contacts («обращения») with their scorecards and complaints, wrap-up forms, and closed diary and
              waiting-list entries (with their calls)
comments      the free text of the same rows (and of complaints and no-show reasons) blanked earlier than the rows
              themselves
recordings    conversation recordings (by their start): the compressed file in the recordings folder, then its
              row; a scorecard of the call stays

`forget` (in dialer/storage/forgetting.py) erases everything about the people on one phone number: every row
holding that number, their patient ids (in any clinic) and what hangs off those rows; see `forget` for the tables.

Both return what they did, rows per table (`table` deleted, `table.column` blanked), for the caller to print
or audit; neither logs a name or a number. On SQLite, deleted rows are overwritten (secure_delete, set on
every connection) and the write-ahead log is checkpointed, so nothing forgotten stays in the files. On
PostgreSQL the old row versions stay on disk until VACUUM.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    delete,
    exists,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.recalls import RecallStatus
from dialer.core.records import TargetState, TaskState
from dialer.core.sms import SmsStatus
from dialer.core.worklist_states import DiaryState, WaitingState
from dialer.settings import RetentionSettings
from dialer.storage.erasure import (
    Erase,
    Erased,
    Keys,
    blank_columns,
    checkpoint,
    drop_rows,
    erase_diary,
    erase_offers,
    erase_recalls,
    erase_visits,
    erase_waiting,
    remove_recordings,
    slices,
)
from dialer.storage.journal_schema import (
    contacts,
    diary,
    offers,
    recalls,
    waiting_list,
    webhook_outbox,
    wrapups,
)
from dialer.storage.noshow_schema import noshow_reasons
from dialer.storage.quality_schema import call_scores, complaints, recordings
from dialer.storage.schema import (
    admin_tasks,
    appointments,
    attempt_events,
    attempts,
    callback_tasks,
    inbound_calls,
    patients,
    sms_events,
    sms_messages,
    targets,
)

CHUNK = 2000  # rows per transaction in a purge: the dialer's own writes wait no longer than that takes
CLOSED_RECALLS = (RecallStatus.BOOKED, RecallStatus.REFUSED)


# -- the purge ---------------------------------------------------------------------------------------------


class _Purge:
    """Runs each rule in transactions of at most CHUNK rows; dry, everything in one transaction rolled back."""

    def __init__(self, engine: AsyncEngine, shared: AsyncConnection | None) -> None:
        self.engine = engine
        self.shared = shared
        self.done: Counter[str] = Counter()

    @property
    def dry(self) -> bool:
        """A dry run shares one transaction it rolls back: nothing outside the database may change either."""
        return self.shared is not None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        if self.shared is not None:
            yield self.shared
        else:
            async with self.engine.begin() as conn:
                yield conn

    async def rule(self, keys: Select[Any], erase: Erase) -> None:
        while True:
            async with self._transaction() as conn:
                query = keys if self.shared is not None else keys.limit(CHUNK)
                found = [tuple(row) for row in await conn.execute(query)]
                if found:
                    self.done += await erase(conn, found)
            if self.shared is not None or len(found) < CHUNK:
                return


def _by_id(erase: Callable[[AsyncConnection, Sequence[Any]], Awaitable[Counter[str]]]) -> Erase:
    async def run(conn: AsyncConnection, keys: Keys) -> Counter[str]:
        return await erase(conn, [k[0] for k in keys])

    return run


async def _rules(run: _Purge, policy: RetentionSettings, now: datetime) -> None:
    cut = now - policy.attempts
    await run.rule(
        select(attempts.c.attempt_id).where(attempts.c.created_at < cut, attempts.c.phone != ""),
        blank_columns(attempts, "attempt_id", phone=""),
    )
    await run.rule(
        select(attempt_events.c.event_id).where(attempt_events.c.at < cut),
        drop_rows(attempt_events, "event_id"),
    )
    await run.rule(
        select(targets.c.target_id).where(
            targets.c.state == TargetState.DONE.value, targets.c.updated_at < cut, targets.c.phone != ""
        ),
        blank_columns(targets, "target_id", phone=""),
    )
    await run.rule(
        select(webhook_outbox.c.event_id).where(webhook_outbox.c.delivered_at < cut),
        drop_rows(webhook_outbox, "event_id"),
    )

    cut = now - policy.sms
    await run.rule(
        select(sms_messages.c.sms_key).where(
            sms_messages.c.created_at < cut,
            sms_messages.c.status != SmsStatus.PENDING,  # a message still to send keeps what it is to send
            or_(sms_messages.c.phone != "", sms_messages.c.body != ""),
        ),
        blank_columns(sms_messages, "sms_key", phone="", body=""),
    )
    await run.rule(
        select(sms_events.c.event_id).where(sms_events.c.at < cut), drop_rows(sms_events, "event_id")
    )

    cut = now - policy.missed_calls
    await run.rule(
        select(inbound_calls.c.call_id).where(inbound_calls.c.started_at < cut, inbound_calls.c.caller != ""),
        blank_columns(inbound_calls, "call_id", caller=""),
    )
    await run.rule(
        select(callback_tasks.c.task_id).where(
            callback_tasks.c.first_missed_at < cut,
            callback_tasks.c.state != TaskState.OPEN.value,
            callback_tasks.c.phone != "",
        ),
        blank_columns(callback_tasks, "task_id", phone=""),
    )

    await _visit_rules(run, now - policy.appointments)

    cut = now - policy.recalls
    closed = select(recalls.c.recall_id).where(
        recalls.c.status.in_(CLOSED_RECALLS), recalls.c.updated_at < cut
    )
    await run.rule(closed, _by_id(erase_recalls))

    await _contact_rules(run, now - policy.contacts, now - policy.comments)
    await _idle_patients(run, now - policy.appointments)


async def _recording_rule(run: _Purge, cut: datetime, folder: Path | None) -> None:
    """Old recordings: their files first (when the folder is known), then their rows."""

    async def erase(conn: AsyncConnection, keys: Keys) -> Counter[str]:
        ids = [k[0] for k in keys]
        done = 0
        for part in slices(ids):
            which = recordings.c.recording_id.in_(list(part))
            done += (await conn.execute(delete(recordings).where(which))).rowcount
        files = 0
        if folder is not None and not run.dry:
            files = remove_recordings(folder, [name for _, name in keys if name])
        return Counter({"recordings": done, "recording_files": files})

    await run.rule(
        select(recordings.c.recording_id, recordings.c.file_name).where(recordings.c.started_at < cut), erase
    )


async def _idle_patients(run: _Purge, cut: datetime) -> None:
    """Last, once the rest has gone: a patient row nothing refers to any more, not updated since the cut."""

    def refers(table: Table) -> ColumnElement[bool]:
        return exists().where(
            table.c.clinic_id == patients.c.clinic_id, table.c.patient_id == patients.c.patient_id
        )

    idle = select(patients.c.clinic_id, patients.c.patient_id).where(
        patients.c.updated_at < cut,
        *(~refers(t) for t in (appointments, recalls, contacts, waiting_list, diary)),
    )

    async def drop_patients(conn: AsyncConnection, keys: Keys) -> Counter[str]:
        done = 0
        for part in slices(keys):
            match = tuple_(patients.c.clinic_id, patients.c.patient_id).in_(part)
            done += (await conn.execute(delete(patients).where(match))).rowcount
        return Counter({"patients": done})

    await run.rule(idle, drop_patients)


async def _visit_rules(run: _Purge, cut: datetime) -> None:
    await run.rule(
        select(appointments.c.clinic_id, appointments.c.appointment_id).where(appointments.c.visit_at < cut),
        erase_visits,
    )
    await run.rule(
        select(admin_tasks.c.task_id).where(admin_tasks.c.created_at < cut), drop_rows(admin_tasks, "task_id")
    )
    past_slots = select(offers.c.offer_id).where(offers.c.slot_at < cut)
    await run.rule(past_slots, _by_id(erase_offers))


async def _contact_rules(run: _Purge, cut: datetime, comments_cut: datetime) -> None:
    # A contact's scorecard and complaint go with it (their comments may speak of the patient).
    old_contacts = select(contacts.c.contact_id).where(contacts.c.created_at < cut)
    await run.rule(
        select(call_scores.c.score_id).where(call_scores.c.contact_id.in_(old_contacts)),
        drop_rows(call_scores, "score_id"),
    )
    await run.rule(
        select(complaints.c.complaint_id).where(
            or_(complaints.c.contact_id.in_(old_contacts), complaints.c.created_at < cut)
        ),
        drop_rows(complaints, "complaint_id"),
    )
    await run.rule(old_contacts, drop_rows(contacts, "contact_id"))
    await run.rule(
        select(wrapups.c.wrapup_id).where(wrapups.c.started_at < cut), drop_rows(wrapups, "wrapup_id")
    )
    await run.rule(
        select(diary.c.entry_id).where(diary.c.state != DiaryState.OPEN.value, diary.c.created_at < cut),
        _by_id(erase_diary),
    )
    await run.rule(
        select(waiting_list.c.entry_id).where(
            waiting_list.c.state != WaitingState.OPEN.value, waiting_list.c.created_at < cut
        ),
        _by_id(erase_waiting),
    )
    await run.rule(
        select(contacts.c.contact_id).where(contacts.c.created_at < comments_cut, contacts.c.comment != ""),
        blank_columns(contacts, "contact_id", comment=""),
    )
    await run.rule(
        select(complaints.c.complaint_id).where(
            complaints.c.created_at < comments_cut, complaints.c.comment != ""
        ),
        blank_columns(complaints, "complaint_id", comment=""),
    )
    await run.rule(
        select(noshow_reasons.c.reason_id).where(
            noshow_reasons.c.recorded_at < comments_cut, noshow_reasons.c.comment != ""
        ),
        blank_columns(noshow_reasons, "reason_id", comment=""),
    )
    for table, still_open in ((diary, DiaryState.OPEN), (waiting_list, WaitingState.OPEN)):
        await run.rule(
            select(table.c.entry_id).where(
                table.c.state != still_open.value, table.c.created_at < comments_cut, table.c.comment != ""
            ),
            blank_columns(table, "entry_id", comment=""),
        )


async def purge(
    engine: AsyncEngine,
    policy: RetentionSettings,
    now: datetime,
    *,
    dry_run: bool = False,
    recordings_dir: Path | None = None,
) -> Erased:
    """Delete or anonymise what is older than each limit. Dry: count it, change nothing. With `recordings_dir`,
    the files of the old recordings go too (without it, only their rows)."""
    if dry_run:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            run = _Purge(engine, conn)
            try:
                await _rules(run, policy, now)
                await _recording_rule(run, now - policy.recordings, recordings_dir)
            finally:
                await transaction.rollback()
        return Erased(dict(run.done), dry_run=True)
    run = _Purge(engine, None)
    await _rules(run, policy, now)
    await _recording_rule(run, now - policy.recordings, recordings_dir)
    async with engine.connect() as conn:
        await checkpoint(conn)
    return Erased(dict(run.done))
