"""Erasing rows together with what hangs off them: a target with its calls, SMS and their logs; a visit, a КОС
case, a diary or waiting-list entry with their targets. Shared by the retention purge (dialer/storage/retention.py)
and by forgetting a patient (dialer/storage/forgetting.py). Every function works inside the caller's transaction
and returns the rows it erased per table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.storage.journal_schema import (
    diary,
    feedback,
    freed_slots,
    offers,
    recalls,
    waiting_list,
    webhook_outbox,
)
from dialer.storage.noshow_schema import noshow_reasons
from dialer.storage.schema import (
    alerts,
    appointments,
    attempt_events,
    attempts,
    due_tasks,
    sms_events,
    sms_messages,
    targets,
)

# Campaigns whose target subject is a visit's appointment_id; the others: kos "recall_id:day", diary
# "entry_id:day", offer "offer_id", callback "task_id" (see the stores that open them).
VISIT_CAMPAIGNS = ("reminders", "followup", "survey")
SLICE = 500  # values per IN (...)

Keys = list[tuple[Any, ...]]
Erase = Callable[[AsyncConnection, Keys], Awaitable[Counter[str]]]


@dataclass(frozen=True)
class Erased:
    """What a purge or a forget did (or, dry, would do): rows per table; `table.column` for blanked fields."""

    counts: dict[str, int]
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def slices(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), SLICE):
        yield values[start : start + SLICE]


async def column_of(conn: AsyncConnection, query: Select[Any]) -> list[Any]:
    return [row[0] for row in await conn.execute(query)]


async def delete_in(conn: AsyncConnection, table: Table, column: Any, values: Sequence[Any]) -> int:
    done = 0
    for part in slices(values):
        done += (await conn.execute(delete(table).where(column.in_(part)))).rowcount
    return done


async def update_in(
    conn: AsyncConnection, table: Table, column: Any, values: Sequence[Any], blank: dict[str, Any]
) -> int:
    done = 0
    for part in slices(values):
        done += (await conn.execute(update(table).where(column.in_(part)).values(**blank))).rowcount
    return done


def blank_columns(table: Table, key: str, **blank: Any) -> Erase:
    """Erase = set these columns to their blank value on the rows with these keys."""

    async def run(conn: AsyncConnection, keys: Keys) -> Counter[str]:
        done = await update_in(conn, table, table.c[key], [k[0] for k in keys], blank)
        return Counter({f"{table.name}.{name}": done for name in blank})

    return run


def drop_rows(table: Table, key: str) -> Erase:
    async def run(conn: AsyncConnection, keys: Keys) -> Counter[str]:
        return Counter({table.name: await delete_in(conn, table, table.c[key], [k[0] for k in keys])})

    return run


# -- what hangs off a row ------------------------------------------------------------------------------


async def erase_targets(conn: AsyncConnection, target_ids: Sequence[int]) -> Counter[str]:
    """Targets with their calls (and the calls' log and answers), due work and SMS (and their log)."""
    done: Counter[str] = Counter()
    if not target_ids:
        return done
    attempt_ids: list[str] = []
    sms_keys: list[str] = []
    for part in slices(target_ids):
        attempt_ids += await column_of(
            conn, select(attempts.c.attempt_id).where(attempts.c.target_id.in_(part))
        )
        sms_keys += await column_of(
            conn, select(sms_messages.c.sms_key).where(sms_messages.c.target_id.in_(part))
        )
    done["attempt_events"] += await delete_in(conn, attempt_events, attempt_events.c.attempt_id, attempt_ids)
    done["feedback"] += await delete_in(conn, feedback, feedback.c.attempt_id, attempt_ids)
    done["attempts"] += await delete_in(conn, attempts, attempts.c.target_id, target_ids)
    done["due_tasks"] += await delete_in(conn, due_tasks, due_tasks.c.target_id, target_ids)
    done["sms_events"] += await delete_in(conn, sms_events, sms_events.c.sms_key, sms_keys)
    done["sms_messages"] += await delete_in(conn, sms_messages, sms_messages.c.sms_key, sms_keys)
    done["targets"] += await delete_in(conn, targets, targets.c.target_id, target_ids)
    return done


async def targets_by_subject(
    conn: AsyncConnection, campaign: str, subjects: Iterable[tuple[str, str]], *, prefix: bool = False
) -> list[int]:
    """Targets of `campaign` about these (clinic, subject) pairs; with `prefix`, subjects "subject:…"."""
    found: list[int] = []
    pairs = list(subjects)
    for part in slices(pairs):
        if prefix:
            match: ColumnElement[bool] = or_(
                *(
                    (targets.c.clinic_id == clinic)
                    & targets.c.subject_id.startswith(f"{subject}:", autoescape=True)
                    for clinic, subject in part
                )
            )
        else:
            match = tuple_(targets.c.clinic_id, targets.c.subject_id).in_(part)
        found += await column_of(
            conn, select(targets.c.target_id).where(targets.c.campaign == campaign, match)
        )
    return found


async def erase_visits(conn: AsyncConnection, visits: Keys) -> Counter[str]:
    """Visits (clinic, appointment_id) with their calls, SMS, follow-up answers, low-rating alerts, no-show
    reasons and freed slots not yet offered."""
    done: Counter[str] = Counter()
    pairs = [(str(c), str(a)) for c, a in visits]
    target_ids: list[int] = []
    for campaign in VISIT_CAMPAIGNS:
        target_ids += await targets_by_subject(conn, campaign, pairs)
    done += await erase_targets(conn, target_ids)
    for part in slices(pairs):
        done["feedback"] += (
            await conn.execute(
                delete(feedback).where(tuple_(feedback.c.clinic_id, feedback.c.appointment_id).in_(part))
            )
        ).rowcount
    done["alerts"] += await _erase_rating_alerts(conn, pairs)
    for part in slices(pairs):
        # Why they did not come: the comment may speak of the patient.
        of_visits = tuple_(noshow_reasons.c.clinic_id, noshow_reasons.c.appointment_id).in_(part)
        done["noshow_reasons"] += (await conn.execute(delete(noshow_reasons).where(of_visits))).rowcount
    for part in slices(pairs):
        freed = tuple_(freed_slots.c.clinic_id, freed_slots.c.appointment_id).in_(part)
        done["freed_slots"] += (await conn.execute(delete(freed_slots).where(freed))).rowcount
    for part in slices(pairs):
        match = tuple_(appointments.c.clinic_id, appointments.c.appointment_id).in_(part)
        done["appointments"] += (await conn.execute(delete(appointments).where(match))).rowcount
    return done


async def _erase_rating_alerts(conn: AsyncConnection, visits: Sequence[tuple[str, str]]) -> int:
    """Low-rating alerts name the visit ("оценка 2 из 5, запись <appointment_id>")."""
    wanted = {(clinic, f"запись {appointment}") for clinic, appointment in visits}
    clinics = sorted({clinic for clinic, _ in visits})
    rows = await conn.execute(
        select(alerts.c.alert_id, alerts.c.clinic_id, alerts.c.detail).where(
            alerts.c.kind == "low_rating", alerts.c.clinic_id.in_(clinics)
        )
    )
    ids = [r.alert_id for r in rows if (r.clinic_id, r.detail.rpartition(", ")[2]) in wanted]
    return await delete_in(conn, alerts, alerts.c.alert_id, ids)


async def erase_recalls(conn: AsyncConnection, recall_ids: Sequence[int]) -> Counter[str]:
    """КОС cases with their rounds' calls and SMS, and their webhook events ("kos:<recall_id>:<time>")."""
    done: Counter[str] = Counter()
    rows = list(
        await conn.execute(
            select(recalls.c.recall_id, recalls.c.clinic_id).where(recalls.c.recall_id.in_(recall_ids))
        )
    )
    subjects = [(r.clinic_id, str(r.recall_id)) for r in rows]
    done += await erase_targets(conn, await targets_by_subject(conn, "kos", subjects, prefix=True))
    for r in rows:
        match = webhook_outbox.c.event_key.startswith(f"kos:{r.recall_id}:", autoescape=True)
        done["webhook_outbox"] += (await conn.execute(delete(webhook_outbox).where(match))).rowcount
    done["recalls"] += await delete_in(conn, recalls, recalls.c.recall_id, recall_ids)
    return done


async def erase_diary(conn: AsyncConnection, entry_ids: Sequence[int]) -> Counter[str]:
    return await _erase_with_targets(conn, diary, "entry_id", "diary", entry_ids, prefix=True)


async def erase_offers(conn: AsyncConnection, offer_ids: Sequence[int]) -> Counter[str]:
    return await _erase_with_targets(conn, offers, "offer_id", "offer", offer_ids)


async def _erase_with_targets(
    conn: AsyncConnection,
    table: Table,
    id_column: str,
    campaign: str,
    ids: Sequence[int],
    *,
    prefix: bool = False,
) -> Counter[str]:
    """The rows of `table` with these ids, and the targets of `campaign` whose subject is such an id (with
    `prefix`, "id:…")."""
    key = table.c[id_column]
    rows = await conn.execute(select(table.c.clinic_id, key).where(key.in_(ids)))
    subjects = [(r.clinic_id, str(r[1])) for r in rows]
    done = await erase_targets(conn, await targets_by_subject(conn, campaign, subjects, prefix=prefix))
    done[table.name] += await delete_in(conn, table, key, ids)
    return done


async def erase_waiting(conn: AsyncConnection, entry_ids: Sequence[int]) -> Counter[str]:
    offer_ids: list[int] = []
    for part in slices(entry_ids):
        offer_ids += await column_of(conn, select(offers.c.offer_id).where(offers.c.entry_id.in_(part)))
    done = await erase_offers(conn, offer_ids)
    done["waiting_list"] += await delete_in(conn, waiting_list, waiting_list.c.entry_id, entry_ids)
    return done


async def checkpoint(conn: AsyncConnection) -> None:
    """SQLite: copy the write-ahead log into the database and empty it, so erased pages do not linger there."""
    if conn.dialect.name == "sqlite":
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def remove_recordings(folder: Path, names: Sequence[str]) -> int:
    """Delete recordings' files (names relative to the recordings folder); how many there were. A name that
    would lead out of the folder is left alone: the folder is the only place the service deletes from."""
    root = folder.resolve()
    removed = 0
    for name in names:
        path = (folder / name).resolve()
        if not path.is_relative_to(root):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed
