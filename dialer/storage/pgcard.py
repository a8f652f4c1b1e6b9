"""The pop-up card read on PostgreSQL in one statement, one round trip: PostgreSQL's counterpart of
sqlitecard.py.

Through SQLAlchemy the card's seven queries are seven round trips to the server, plus the transaction's BEGIN
and ROLLBACK: each one a wait on the event loop, which under a busy AMI intake is what makes a pop-up late. Here
each of the seven becomes an ``ARRAY(SELECT ROW(...))`` column of one SELECT, sent on the pool's own asyncpg
connection outside a transaction (asyncpg keeps it prepared), and asyncpg returns each array as typed records.
The rows, their order and their limits are those of cards.py's queries.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.cards import (
    CardCallback,
    CardContact,
    CardDiaryEntry,
    CardPatient,
    CardRecall,
    CardVisit,
    CardWaiting,
)
from dialer.core.recalls import RecallStatus
from dialer.core.records import TaskState
from dialer.core.worklist_states import DiaryState, WaitingState

Row = TypeVar("Row")

# $1 the phone, $2 the call's clinic (NULL: every clinic), $3 now.
_OF = "($2::varchar IS NULL OR {t}.clinic_id = $2::varchar)"
_PEOPLE = f"FROM patients p WHERE p.phone = $1 AND {_OF.format(t='p')}"


def _row(alias: str, row: type[Any]) -> str:
    return "ROW(" + ", ".join(f"{alias}.{f.name}" for f in fields(row)) + ")"


def card_statement(next_visits: int, last_contacts: int) -> str:
    return f"""
SELECT
 ARRAY(SELECT {_row("p", CardPatient)} {_PEOPLE} ORDER BY p.name),
 ARRAY(SELECT {_row("a", CardVisit)} FROM appointments a
       WHERE a.patient_id IN (SELECT p.patient_id {_PEOPLE}) AND a.visit_at >= $3 AND {_OF.format(t="a")}
       ORDER BY a.visit_at LIMIT {next_visits} * GREATEST(1, (SELECT count(*) {_PEOPLE}))),
 ARRAY(SELECT {_row("c", CardCallback)} FROM callback_tasks c
       WHERE c.phone = $1 AND c.state = '{TaskState.OPEN.value}' AND {_OF.format(t="c")}
       ORDER BY c.deadline_at LIMIT 1),
 ARRAY(SELECT {_row("k", CardContact)} FROM contacts k WHERE k.phone = $1 AND {_OF.format(t="k")}
       ORDER BY k.created_at DESC LIMIT {last_contacts}),
 ARRAY(SELECT {_row("w", CardWaiting)} FROM waiting_list w
       WHERE w.phone = $1 AND w.state = '{WaitingState.OPEN.value}' AND {_OF.format(t="w")}),
 ARRAY(SELECT {_row("d", CardDiaryEntry)} FROM diary d
       WHERE d.phone = $1 AND d.state = '{DiaryState.OPEN.value}' AND {_OF.format(t="d")}),
 ARRAY(SELECT {_row("r", CardRecall)} FROM recalls r
       WHERE r.phone = $1 AND r.status = '{RecallStatus.CALL.value}' AND {_OF.format(t="r")}
       ORDER BY r.target_day LIMIT 1)
"""


def _typed(records: list[Any] | None, row: type[Row]) -> list[Row]:
    names = [f.name for f in fields(row)]  # type: ignore[arg-type]
    return [row(**dict(zip(names, record, strict=True))) for record in records or ()]


@dataclass(frozen=True)
class CardRows:
    """The seven row sets of one card, typed as cards.py's queries return them."""

    people: list[CardPatient]
    visits: list[CardVisit]
    tasks: list[CardCallback]
    recent: list[CardContact]
    waiting: list[CardWaiting]
    planned: list[CardDiaryEntry]
    invitations: list[CardRecall]

    @classmethod
    def of_arrays(cls, found: Any) -> CardRows:
        return cls(
            _typed(found[0], CardPatient),
            _typed(found[1], CardVisit),
            _typed(found[2], CardCallback),
            _typed(found[3], CardContact),
            _typed(found[4], CardWaiting),
            _typed(found[5], CardDiaryEntry),
            _typed(found[6], CardRecall),
        )


class PgCardReader:
    """Reads cards from the engine's PostgreSQL database. Made with ``for_engine``."""

    def __init__(self, engine: AsyncEngine, statement: str) -> None:
        self.engine = engine
        self.statement = statement

    @classmethod
    def for_engine(cls, engine: AsyncEngine, next_visits: int, last_contacts: int) -> PgCardReader | None:
        """A reader where the engine is PostgreSQL over asyncpg; None elsewhere (the SQLAlchemy path stays)."""
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "asyncpg":
            return None
        return cls(engine, card_statement(next_visits, last_contacts))

    async def rows(self, phone: str, now: datetime, clinic_id: str | None) -> CardRows:
        async with self.engine.connect() as conn:
            fairy = await conn.get_raw_connection()
            driver: Any = fairy.driver_connection  # asyncpg.Connection, from the engine's pool
            return CardRows.of_arrays(await driver.fetchrow(self.statement, phone, clinic_id, now))
