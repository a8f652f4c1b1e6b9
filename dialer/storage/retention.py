"""Patients' personal data kept no longer than needed (152-FZ, art. 5 and 21), and one patient forgotten on request.

`purge` applies the `[retention]` limits, each counted back from now; a row exactly at the limit stays:

attempts      attempts.phone and, for finished work, targets.phone blanked (the call's result stays for the
              figures); the call log (attempt_events) and delivered webhook events deleted
sms           sms_messages.phone and .body blanked (status stays); the delivery log (sms_events) deleted
missed_calls  inbound_calls.caller and, for closed tasks, callback_tasks.phone blanked (the service level stays)
appointments  visits (by the visit's time) deleted with their calls, SMS, follow-up answers, low-rating alerts,
              the administrators' tasks of that time and the waiting-list offers of their slot; then patients
              nothing refers to any more
recalls       КОС cases closed (Записан, Отказ) that long ago, with their calls, SMS and webhook events
contacts      contacts («обращения»), wrap-up forms, and closed diary and waiting-list entries (with their calls)
comments      the free text of the same rows blanked earlier than the rows themselves

`forget` erases everything about the people on one phone number: every row holding that number, their
patient ids (in any clinic) and what hangs off those rows; see `forget` for the tables.

Both return what they did, rows per table (`table` deleted, `table.column` blanked), for the caller to print
or audit; neither logs a name or a number. On SQLite, deleted rows are overwritten (secure_delete, set on
every connection) and the write-ahead log is checkpointed, so nothing forgotten stays in the files. On
PostgreSQL the old row versions stay on disk until VACUUM.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
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
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.records import TargetState
from dialer.settings import RetentionSettings
from dialer.storage.erasure import (
    Erase,
    Erased,
    Keys,
    blank_columns,
    checkpoint,
    column_of,
    delete_in,
    drop_rows,
    erase_diary,
    erase_offers,
    erase_recalls,
    erase_targets,
    erase_visits,
    erase_waiting,
    slices,
    targets_by_subject,
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
CLOSED_RECALLS = ("booked", "refused")


# -- the purge ---------------------------------------------------------------------------------------------


class _Purge:
    """Runs each rule in transactions of at most CHUNK rows; dry, everything in one transaction rolled back."""

    def __init__(self, engine: AsyncEngine, shared: AsyncConnection | None) -> None:
        self.engine = engine
        self.shared = shared
        self.done: Counter[str] = Counter()

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
            sms_messages.c.status != "pending",  # a message still to send keeps what it is to send
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
            callback_tasks.c.state != "open",
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
    await run.rule(
        select(contacts.c.contact_id).where(contacts.c.created_at < cut), drop_rows(contacts, "contact_id")
    )
    await run.rule(
        select(wrapups.c.wrapup_id).where(wrapups.c.started_at < cut), drop_rows(wrapups, "wrapup_id")
    )
    await run.rule(
        select(diary.c.entry_id).where(diary.c.state != "open", diary.c.created_at < cut),
        _by_id(erase_diary),
    )
    await run.rule(
        select(waiting_list.c.entry_id).where(
            waiting_list.c.state != "open", waiting_list.c.created_at < cut
        ),
        _by_id(erase_waiting),
    )
    await run.rule(
        select(contacts.c.contact_id).where(contacts.c.created_at < comments_cut, contacts.c.comment != ""),
        blank_columns(contacts, "contact_id", comment=""),
    )
    for table in (diary, waiting_list):
        await run.rule(
            select(table.c.entry_id).where(
                table.c.state != "open", table.c.created_at < comments_cut, table.c.comment != ""
            ),
            blank_columns(table, "entry_id", comment=""),
        )


async def purge(
    engine: AsyncEngine, policy: RetentionSettings, now: datetime, *, dry_run: bool = False
) -> Erased:
    """Delete or anonymise what is older than each limit. Dry: count it, change nothing."""
    if dry_run:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            run = _Purge(engine, conn)
            try:
                await _rules(run, policy, now)
            finally:
                await transaction.rollback()
        return Erased(dict(run.done), dry_run=True)
    run = _Purge(engine, None)
    await _rules(run, policy, now)
    async with engine.connect() as conn:
        await checkpoint(conn)
    return Erased(dict(run.done))


# -- one patient, on request ---------------------------------------------------------------------------


async def _people(conn: AsyncConnection, phone: str) -> set[tuple[str, str]]:
    """(clinic, patient_id) of everyone any row on this number names."""
    found: set[tuple[str, str]] = set()
    for table in (patients, recalls, contacts, waiting_list, diary, targets):
        rows = await conn.execute(
            select(table.c.clinic_id, table.c.patient_id).where(
                table.c.phone == phone, table.c.patient_id != ""
            )
        )
        found |= {(r.clinic_id, r.patient_id) for r in rows if r.patient_id}
    return found


def _of(
    table: Table, phone: str, people: set[tuple[str, str]], phone_column: str = "phone"
) -> ColumnElement[bool]:
    mine = table.c[phone_column] == phone
    if not people or "patient_id" not in table.c:
        return mine
    return or_(mine, tuple_(table.c.clinic_id, table.c.patient_id).in_(sorted(people)))


async def _forget(conn: AsyncConnection, phone: str) -> Counter[str]:
    done: Counter[str] = Counter()
    people = await _people(conn, phone)
    visits: Keys = []
    if people:
        theirs = tuple_(appointments.c.clinic_id, appointments.c.patient_id).in_(sorted(people))
        rows = await conn.execute(
            select(appointments.c.clinic_id, appointments.c.appointment_id).where(theirs)
        )
        visits = [tuple(r) for r in rows]
    # Someone else offered this person's freed slot keeps the offer; only the link to the visit goes.
    for clinic, appointment in visits:
        slot = (offers.c.clinic_id == clinic) & (offers.c.appointment_id == appointment)
        for offer_id in await column_of(conn, select(offers.c.offer_id).where(slot)):
            unlinked = (
                update(offers)
                .where(offers.c.offer_id == offer_id)
                .values(appointment_id=f"forgotten-{offer_id}")
            )
            done["offers.appointment_id"] += (await conn.execute(unlinked)).rowcount
    done += await erase_visits(conn, visits)
    done += await erase_recalls(
        conn, await column_of(conn, select(recalls.c.recall_id).where(_of(recalls, phone, people)))
    )
    done += await erase_diary(
        conn, await column_of(conn, select(diary.c.entry_id).where(_of(diary, phone, people)))
    )
    done += await erase_waiting(
        conn, await column_of(conn, select(waiting_list.c.entry_id).where(_of(waiting_list, phone, people)))
    )
    task_ids = await column_of(conn, select(callback_tasks.c.task_id).where(callback_tasks.c.phone == phone))
    subjects = await conn.execute(
        select(callback_tasks.c.clinic_id, callback_tasks.c.task_id).where(
            callback_tasks.c.task_id.in_(task_ids)
        )
    )
    done += await erase_targets(
        conn, await targets_by_subject(conn, "callback", [(r.clinic_id, str(r.task_id)) for r in subjects])
    )
    done["inbound_calls"] += (
        await conn.execute(
            delete(inbound_calls).where(
                or_(inbound_calls.c.caller == phone, inbound_calls.c.task_id.in_(task_ids))
            )
        )
    ).rowcount
    done["callback_tasks"] += await delete_in(conn, callback_tasks, callback_tasks.c.task_id, task_ids)
    done += await erase_targets(
        conn, await column_of(conn, select(targets.c.target_id).where(_of(targets, phone, people)))
    )
    # Calls and SMS to this number that no target of theirs led to.
    stray = await column_of(conn, select(attempts.c.attempt_id).where(attempts.c.phone == phone))
    done["attempt_events"] += await delete_in(conn, attempt_events, attempt_events.c.attempt_id, stray)
    done["attempts"] += await delete_in(conn, attempts, attempts.c.attempt_id, stray)
    keys = await column_of(conn, select(sms_messages.c.sms_key).where(sms_messages.c.phone == phone))
    done["sms_events"] += await delete_in(conn, sms_events, sms_events.c.sms_key, keys)
    done["sms_messages"] += await delete_in(conn, sms_messages, sms_messages.c.sms_key, keys)
    done["contacts"] += (await conn.execute(delete(contacts).where(_of(contacts, phone, people)))).rowcount
    done["wrapups"] += (await conn.execute(delete(wrapups).where(wrapups.c.phone == phone))).rowcount
    if people:
        match = tuple_(admin_tasks.c.clinic_id, admin_tasks.c.patient_id).in_(sorted(people))
        done["admin_tasks"] += (await conn.execute(delete(admin_tasks).where(match))).rowcount
    done["webhook_outbox"] += await _erase_webhook_events(conn, people)
    done["patients"] += (await conn.execute(delete(patients).where(_of(patients, phone, people)))).rowcount
    return done


async def _erase_webhook_events(conn: AsyncConnection, people: set[tuple[str, str]]) -> int:
    """Events still waiting for the clinic's system name the patient by id in their payload."""
    if not people:
        return 0
    clinics = sorted({clinic for clinic, _ in people})
    rows = await conn.execute(
        select(webhook_outbox.c.event_id, webhook_outbox.c.clinic_id, webhook_outbox.c.payload).where(
            webhook_outbox.c.clinic_id.in_(clinics)
        )
    )
    ids = []
    for r in rows:
        try:
            patient = json.loads(r.payload).get("data", {}).get("patient_id")
        except (ValueError, AttributeError):
            patient = None
        if (r.clinic_id, patient) in people:
            ids.append(r.event_id)
    return await delete_in(conn, webhook_outbox, webhook_outbox.c.event_id, ids)


async def forget(engine: AsyncEngine, phone: str, *, dry_run: bool = False) -> Erased:
    """Erase everything about the people on `phone` (E.164), in one transaction: all of it or nothing.

    Covered: patients, appointments (with their reminder, follow-up and survey calls and SMS, follow-up
    answers, low-rating alerts naming them), recalls (with their rounds and webhook events), callback tasks
    and the inbound calls from the number, the diary and the waiting list (with their offers and calls),
    any other target, attempt or SMS on the number, contacts, wrap-up forms, administrators' tasks, and
    webhook events naming the patient. Another patient offered this person's freed slot keeps the offer,
    without the link to the erased visit.
    """
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            done = await _forget(conn, phone)
        except BaseException:
            await transaction.rollback()
            raise
        if dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
            await checkpoint(conn)
    return Erased({k: v for k, v in done.items() if v}, dry_run=dry_run)
