"""Filling a real dialer database with one person's data in every table that can hold it, as the service would
write it (a visit with its reminder call and SMS, a КОС case, a missed call with its callback, contacts, the
diary, the waiting list …), for the retention and erasure tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.ids import AttemptId
from dialer.storage import journal_schema, noshow_schema, quality_schema, schema

# Columns that name a patient or point at one: a table with any of them must be covered by `fill` (and so by
# the erasure tests). The staff's own tables (users, sessions) name administrators, not patients; the audit
# log records what staff did, with ids and masked numbers only (checked by the accounts tests), and is kept for
# accountability; "name" alone is also a clinic's, a lease's or a mark's.
PERSONAL_COLUMNS = frozenset(
    {"phone", "caller", "patient_name", "patient_id", "appointment_id", "subject_id", "target_id",
     "attempt_id", "sms_key", "entry_id", "task_id", "payload", "detail", "comment"}
)  # fmt: skip
STAFF = frozenset({"users", "sessions", "user_clinics", "audit_log"})


@dataclass
class Person:
    """One patient, with values distinctive enough to be searched for in the whole database."""

    tag: str  # e.g. "X": every id made from it is unique in the database
    phone: str
    name: str
    clinic: str = "c1"
    ids: dict[str, Any] = field(default_factory=dict)  # what was inserted: table -> key

    @property
    def patient_id(self) -> str:
        return f"PID-{self.tag}-4711"

    @property
    def appointment_id(self) -> str:
        return f"APPT-{self.tag}-0815"

    @property
    def recall_ref(self) -> str:
        return f"KOS-{self.tag}-0042"

    def traces(self) -> list[str]:
        """What must not be found anywhere once this person is forgotten."""
        return [self.phone, self.phone[1:], self.name, self.patient_id, self.appointment_id, self.recall_ref]


class Db:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, table: Table, **values: Any) -> Any:
        async with self.engine.begin() as conn:
            result = await conn.execute(insert(table).values(**values))
            key = result.inserted_primary_key
        return key[0] if key is not None and len(key) == 1 else key

    async def rows(self, table: Table) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(table))]

    async def where_found(self, *needles: str) -> dict[str, list[str]]:
        """For each needle, every "table.column" where some row's text contains it."""
        found: dict[str, list[str]] = {n: [] for n in needles}
        for table in journal_schema.all_tables().sorted_tables:
            for row in await self.rows(table):
                for k, v in row.items():
                    for n in needles:
                        if isinstance(v, str) and n in v:
                            found[n].append(f"{table.name}.{k}")
        return found


async def add_target(
    db: Db, p: Person, campaign: str, subject: str, at: datetime, *, state: str = "done", calls: int = 1
) -> int:
    target = await db.add(
        schema.targets,
        clinic_id=p.clinic,
        campaign=campaign,
        subject_id=subject,
        patient_id=p.patient_id if campaign != "callback" else "",
        phone=p.phone,
        state=state,
        created_at=at,
        updated_at=at,
    )
    for n in range(1, calls + 1):
        attempt = f"{campaign}:{target}:{n}"
        await db.add(
            schema.attempts,
            attempt_id=attempt,
            clinic_id=p.clinic,
            target_id=target,
            n=n,
            phone=p.phone,
            trunk="main",
            state="ended",
            created_at=at,
            ended_at=at,
            result="answered",
        )
        await db.add(
            schema.attempt_events,
            clinic_id=p.clinic,
            attempt_id=attempt,
            at=at,
            kind="originate",
            detail=p.phone,
        )
    await db.add(
        schema.due_tasks,
        task_id=AttemptId(campaign, target, 1).due_task_id,
        clinic_id=p.clinic,
        kind="dial",
        campaign=campaign,
        target_id=target,
        due_at=at,
        state="done",
        updated_at=at,
    )
    key = f"{campaign}:{target}:sms"
    await db.add(
        schema.sms_messages,
        sms_key=key,
        clinic_id=p.clinic,
        target_id=target,
        phone=p.phone,
        body=f"Клиника: ждём вас. {p.name}",
        provider="smsaero",
        provider_id=f"9{target}",
        status="delivered",
        created_at=at,
        updated_at=at,
    )
    await db.add(
        schema.sms_events, clinic_id=p.clinic, sms_key=key, at=at, status="delivered", detail=p.phone
    )
    return int(target)


async def fill(db: Db, p: Person, at: datetime) -> None:
    """This person in every table that can hold a patient's data, all written at `at`."""
    day = at.date()
    await db.add(
        schema.patients,
        clinic_id=p.clinic,
        patient_id=p.patient_id,
        name=p.name,
        phone=p.phone,
        updated_at=at,
    )
    await db.add(
        schema.appointments,
        clinic_id=p.clinic,
        appointment_id=p.appointment_id,
        patient_id=p.patient_id,
        visit_at=at,
        visit_day=day,
        doctor="Иванова М. П.",
        imported_at=at,
        updated_at=at,
    )
    await db.add(
        noshow_schema.noshow_reasons,
        clinic_id=p.clinic,
        appointment_id=p.appointment_id,
        reason="other",
        comment=f"{p.name} уехала к родным",
        source="staff",
        recorded_by=1,
        recorded_at=at,
    )
    reminder = await add_target(db, p, "reminders", p.appointment_id, at)
    await add_target(db, p, "followup", p.appointment_id, at)
    await db.add(
        journal_schema.freed_slots,  # cancelled on the reminder call; its slot not yet offered
        clinic_id=p.clinic,
        appointment_id=p.appointment_id,
        freed_at=at,
    )
    await db.add(
        journal_schema.feedback,
        clinic_id=p.clinic,
        appointment_id=p.appointment_id,
        kind="survey",
        digit="1",
        attempt_id=f"survey-of-{p.tag}",
        at=at,
    )
    await db.add(
        schema.alerts,
        clinic_id=p.clinic,
        kind="low_rating",
        raised_at=at,
        detail=f"оценка 1 из 5, запись {p.appointment_id}",
    )
    await db.add(
        schema.admin_tasks,
        clinic_id=p.clinic,
        kind="reschedule",
        subject_id=p.appointment_id,
        patient_id=p.patient_id,
        source=f"reminders:{reminder}:1",
        comment=f"перезвонить {p.name}",
        created_at=at,
    )
    recall = await db.add(
        journal_schema.recalls,
        clinic_id=p.clinic,
        external_id=p.recall_ref,
        patient_id=p.patient_id,
        patient_name=p.name,
        phone=p.phone,
        doctor="Петров А. Н.",
        target_day=day,
        status="booked",
        created_at=at,
        updated_at=at,
    )
    await add_target(db, p, "kos", f"{recall}:{day.isoformat()}", at)
    payload = {"event": "kos.status", "data": {"recall_id": p.recall_ref, "patient_id": p.patient_id}}
    await db.add(
        journal_schema.webhook_outbox,
        clinic_id=p.clinic,
        event_key=f"kos:{recall}:{at.timestamp():.6f}",
        kind="kos.status",
        payload=json.dumps(payload),
        next_at=at,
        delivered_at=at,
    )
    task = await db.add(
        schema.callback_tasks,
        clinic_id=p.clinic,
        phone=p.phone,
        state="contacted",
        reason="abandoned",
        first_call_id=f"L-{p.tag}",
        first_missed_at=at,
        last_missed_at=at,
        starts_at=at,
        deadline_at=at + timedelta(minutes=15),
        closed_at=at,
    )
    await add_target(db, p, "callback", str(task), at)
    await db.add(
        schema.inbound_calls,
        call_id=f"L-{p.tag}",
        clinic_id=p.clinic,
        caller=p.phone,
        started_at=at,
        ended_at=at,
        miss_reason="abandoned",
        task_id=task,
    )
    contact = await db.add(
        journal_schema.contacts,
        clinic_id=p.clinic,
        phone=p.phone,
        patient_id=p.patient_id,
        direction="out",
        result="booked",
        call_ref=f"call-{p.tag}",
        comment=f"{p.name} просила перезвонить",
        created_at=at,
    )
    await db.add(
        quality_schema.recordings,
        clinic_id=p.clinic,
        call_ref=f"call-{p.tag}",
        kind="inbound",
        member="PJSIP/101",
        phone=p.phone,
        file_name=f"{p.clinic}/recording-{p.tag}.ogg",
        started_at=at,
    )
    await db.add(
        quality_schema.call_scores,
        clinic_id=p.clinic,
        contact_id=contact,
        user_id=1,
        total=90,
        items=json.dumps({"greeting": {"points": 10, "comment": f"назвала {p.name} по имени"}}),
        comment=f"хорошо с {p.name}",
        scored_at=at,
    )
    await db.add(
        quality_schema.complaints,
        clinic_id=p.clinic,
        contact_id=contact,
        user_id=1,
        complaint_class="B",
        comment=f"{p.name} ждала долго",
        created_at=at,
    )
    await db.add(
        journal_schema.wrapups,
        clinic_id=p.clinic,
        user_id=1,
        call_ref=f"call-{p.tag}",
        phone=p.phone,
        direction="in",
        started_at=at,
        state="saved",
    )
    entry = await db.add(
        journal_schema.diary,
        clinic_id=p.clinic,
        phone=p.phone,
        patient_id=p.patient_id,
        due_day=day,
        comment=f"позвонить {p.name}",
        state="done",
        created_at=at,
    )
    await add_target(db, p, "diary", f"{entry}:{day.isoformat()}", at)
    waiting = await db.add(
        journal_schema.waiting_list,
        clinic_id=p.clinic,
        phone=p.phone,
        patient_id=p.patient_id,
        doctor="Петров А. Н.",
        comment=f"{p.name}: утром",
        state="booked",
        created_at=at,
    )
    offer = await db.add(
        journal_schema.offers,
        clinic_id=p.clinic,
        appointment_id=f"freed-slot-for-{p.tag}",
        doctor="Петров А. Н.",
        slot_at=at,
        entry_id=waiting,
        created_at=at,
    )
    await add_target(db, p, "offer", str(offer), at)
    p.ids.update(recall=recall, task=task, diary=entry, waiting=waiting, offer=offer)
