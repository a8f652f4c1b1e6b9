"""One patient forgotten on request (152-FZ, art. 21): everything about the people on one phone number.

Every row holding that number, their patient ids (in any clinic) and what hangs off those rows; see `forget`
for the tables. The time limits of the retention purge are in dialer/storage/retention.py.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from sqlalchemy import ColumnElement, Table, delete, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.storage.erasure import (
    Erased,
    Keys,
    checkpoint,
    column_of,
    delete_in,
    erase_diary,
    erase_recalls,
    erase_targets,
    erase_visits,
    erase_waiting,
    remove_recordings,
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

People = set[tuple[str, str]]


async def _people(conn: AsyncConnection, phone: str) -> People:
    """(clinic, patient_id) of everyone any row on this number names."""
    found: People = set()
    for table in (patients, recalls, contacts, waiting_list, diary, targets):
        rows = await conn.execute(
            select(table.c.clinic_id, table.c.patient_id).where(
                table.c.phone == phone, table.c.patient_id != ""
            )
        )
        found |= {(r.clinic_id, r.patient_id) for r in rows if r.patient_id}
    return found


def _of(table: Table, phone: str, people: People, phone_column: str = "phone") -> ColumnElement[bool]:
    mine = table.c[phone_column] == phone
    if not people or "patient_id" not in table.c:
        return mine
    return or_(mine, tuple_(table.c.clinic_id, table.c.patient_id).in_(sorted(people)))


async def _forget(conn: AsyncConnection, phone: str, files: list[str]) -> Counter[str]:
    """Erase the rows; the names of the recordings' files to delete once the rows are gone go into `files`."""
    people = await _people(conn, phone)
    done = await _erase_their_visits(conn, people)
    done += await erase_recalls(
        conn, await column_of(conn, select(recalls.c.recall_id).where(_of(recalls, phone, people)))
    )
    done += await erase_diary(
        conn, await column_of(conn, select(diary.c.entry_id).where(_of(diary, phone, people)))
    )
    done += await erase_waiting(
        conn, await column_of(conn, select(waiting_list.c.entry_id).where(_of(waiting_list, phone, people)))
    )
    done += await _erase_callbacks(conn, phone)
    done += await erase_targets(
        conn, await column_of(conn, select(targets.c.target_id).where(_of(targets, phone, people)))
    )
    done += await _erase_stray(conn, phone)
    done += await _erase_quality(conn, phone, people, files)
    done["contacts"] += (await conn.execute(delete(contacts).where(_of(contacts, phone, people)))).rowcount
    done["wrapups"] += (await conn.execute(delete(wrapups).where(wrapups.c.phone == phone))).rowcount
    if people:
        match = tuple_(admin_tasks.c.clinic_id, admin_tasks.c.patient_id).in_(sorted(people))
        done["admin_tasks"] += (await conn.execute(delete(admin_tasks).where(match))).rowcount
    done["webhook_outbox"] += await _erase_webhook_events(conn, people)
    done["patients"] += (await conn.execute(delete(patients).where(_of(patients, phone, people)))).rowcount
    return done


async def _erase_quality(conn: AsyncConnection, phone: str, people: People, files: list[str]) -> Counter[str]:
    """Their conversations' recordings, and the scorecards and complaints of their contacts (their comments may
    speak of the patient)."""
    done: Counter[str] = Counter()
    theirs = await column_of(conn, select(contacts.c.contact_id).where(_of(contacts, phone, people)))
    done["call_scores"] += await delete_in(conn, call_scores, call_scores.c.contact_id, theirs)
    done["complaints"] += await delete_in(conn, complaints, complaints.c.contact_id, theirs)
    recorded = (
        await conn.execute(
            select(recordings.c.recording_id, recordings.c.file_name).where(recordings.c.phone == phone)
        )
    ).all()
    files.extend(r.file_name for r in recorded if r.file_name)
    ids = [r.recording_id for r in recorded]
    done["recordings"] += await delete_in(conn, recordings, recordings.c.recording_id, ids)
    return done


async def _erase_their_visits(conn: AsyncConnection, people: People) -> Counter[str]:
    """Their visits. Someone else offered this person's freed slot keeps the offer; only the link to the visit goes."""
    done: Counter[str] = Counter()
    visits: Keys = []
    if people:
        theirs = tuple_(appointments.c.clinic_id, appointments.c.patient_id).in_(sorted(people))
        rows = await conn.execute(
            select(appointments.c.clinic_id, appointments.c.appointment_id).where(theirs)
        )
        visits = [tuple(r) for r in rows]
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
    return done


async def _erase_callbacks(conn: AsyncConnection, phone: str) -> Counter[str]:
    """The callback tasks for the number with their calls, and the inbound calls from it."""
    done: Counter[str] = Counter()
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
    return done


async def _erase_stray(conn: AsyncConnection, phone: str) -> Counter[str]:
    """Calls and SMS to this number that no target of theirs led to."""
    done: Counter[str] = Counter()
    stray = await column_of(conn, select(attempts.c.attempt_id).where(attempts.c.phone == phone))
    done["attempt_events"] += await delete_in(conn, attempt_events, attempt_events.c.attempt_id, stray)
    done["attempts"] += await delete_in(conn, attempts, attempts.c.attempt_id, stray)
    keys = await column_of(conn, select(sms_messages.c.sms_key).where(sms_messages.c.phone == phone))
    done["sms_events"] += await delete_in(conn, sms_events, sms_events.c.sms_key, keys)
    done["sms_messages"] += await delete_in(conn, sms_messages, sms_messages.c.sms_key, keys)
    return done


async def _erase_webhook_events(conn: AsyncConnection, people: People) -> int:
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


async def forget(
    engine: AsyncEngine, phone: str, *, dry_run: bool = False, recordings_dir: Path | None = None
) -> Erased:
    """Erase everything about the people on `phone` (E.164), in one transaction: all of it or nothing.

    Covered: patients, appointments (with their reminder, follow-up and survey calls and SMS, follow-up answers,
    low-rating alerts naming them, the reasons they did not come), recalls (with their rounds and webhook events),
    callback tasks and the inbound calls from the number, the diary and the waiting list (with their offers and
    calls), any other target, attempt or SMS on the number, contacts, wrap-up forms, administrators' tasks, and
    webhook events naming the patient, recordings of their conversations (with `recordings_dir`, their files too,
    once the rows are gone), and the scorecards and complaints of their contacts. Another patient offered this
    person's freed slot keeps the offer, without the link to the erased visit.
    """
    files: list[str] = []
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            done = await _forget(conn, phone, files)
        except BaseException:
            await transaction.rollback()
            raise
        if dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
            await checkpoint(conn)
            if recordings_dir is not None:
                done["recording_files"] += remove_recordings(recordings_dir, files)
    return Erased({k: v for k, v in done.items() if v}, dry_run=dry_run)
