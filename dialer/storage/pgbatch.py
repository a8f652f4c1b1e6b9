"""A batch of call facts written to PostgreSQL in one transaction straight on asyncpg, PostgreSQL's counterpart of
fastbatch.py.

Through SQLAlchemy each statement of a batch pays its compilation-cache lookup and per-row parameter processing
(UtcDateTime, the bind names) before asyncpg sees it. Here the connection is the pool's own asyncpg connection:
each kind of change is one statement over the whole batch (its rows unnested from arrays), and the log rows go in
by COPY. The stored values are those of ``SqlAttemptStore.apply``'s SQLAlchemy path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import AttemptBatch, AttemptEnd, AttemptState, EventRow

T = TypeVar("T")

_OPEN = [AttemptState.DIALING.value, AttemptState.ANSWERED.value]
# Each change is one statement over all of the batch's rows, passed as one array per column and joined with
# unnest: PostgreSQL runs it once, where executemany runs it once per row (an update by the primary key costs
# ~30 µs a row that way on this schema). The arrays are text[]: asyncpg sends text[] without asking the server
# how, where a varchar[] or integer[] parameter costs each new connection a type introspection query (~8 ms) on
# its first use; the statement casts each column back.
_ANSWER = (
    "UPDATE attempts AS a SET state = $1, answered_at = v.at::timestamptz"
    " FROM unnest($2::text[], $3::text[]) AS v(attempt_id, at)"
    " WHERE a.attempt_id = v.attempt_id AND a.state = $4"
)
_DIGIT = (
    "UPDATE attempts AS a SET digit = v.digit, settled = v.settled"
    " FROM unnest($1::text[], $2::text[], $3::text[]) AS v(attempt_id, digit, settled)"
    " WHERE a.attempt_id = v.attempt_id"
)
_LEG = (
    "UPDATE attempts AS a SET leg_status = v.leg, settled = v.settled"
    " FROM unnest($1::text[], $2::text[], $3::text[]) AS v(attempt_id, leg, settled)"
    " WHERE a.attempt_id = v.attempt_id"
)
_STILL_OPEN = "SELECT attempt_id FROM attempts WHERE attempt_id = ANY($1::text[]) AND state = ANY($2::text[])"
_END = (
    "UPDATE attempts AS a SET state = $1, ended_at = v.at::timestamptz, reason = v.reason::integer,"
    " cause = v.cause::integer, result = v.result, linkedid = v.linkedid, digit = coalesce(v.digit, a.digit)"
    " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"
    " AS v(attempt_id, at, reason, cause, result, linkedid, digit)"
    " WHERE a.attempt_id = v.attempt_id"
)


class PgBatchWriter:
    """Writes ``AttemptBatch``es to the engine's PostgreSQL database. Made with ``for_engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> PgBatchWriter | None:
        """A writer where the engine is PostgreSQL over asyncpg; None elsewhere (the SQLAlchemy path stays)."""
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "asyncpg":
            return None
        return cls(engine)

    async def apply(self, batch: AttemptBatch, log: Sequence[EventRow]) -> set[str]:
        """One transaction: the batch's changes and the log rows. Returns the attempts this batch ended."""
        if batch.empty and not log:
            return set()
        async with self.engine.connect() as conn:
            fairy = await conn.get_raw_connection()
            driver: Any = fairy.driver_connection  # asyncpg.Connection, from the engine's pool
            async with driver.transaction():
                return await _write(driver, batch, log)

    async def close(self) -> None:
        """Nothing of its own to close: the connections are the engine's."""

    async def run(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Another store's writes in one transaction straight on asyncpg: `work` gets the asyncpg connection."""
        async with self.engine.connect() as conn:
            fairy = await conn.get_raw_connection()
            driver: Any = fairy.driver_connection
            async with driver.transaction():
                return await work(driver)


def numbered(sql: str) -> str:
    """A qmark-style statement (sqlite3's) in asyncpg's $1, $2 … style; no statement here quotes a '?'."""
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]


def as_text(value: object) -> str | None:
    """A value as the text an unnested text[] column carries, cast back by the statement."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def text_columns(rows: Iterable[tuple[Any, ...]]) -> list[list[str | None]]:
    """The rows as one text array per column, for a statement that unnests them."""
    return [[as_text(value) for value in column] for column in zip(*rows, strict=True)]


def _last_per_attempt(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per attempt (the first field), the last one given: what one UPDATE per row, in order, leaves."""
    return list({row[0]: row for row in rows}.values())


async def _write(conn: Any, batch: AttemptBatch, log: Sequence[EventRow]) -> set[str]:
    dialing, answered = AttemptState.DIALING.value, AttemptState.ANSWERED.value
    if batch.answered:
        # The first answer per attempt: the statement only moves a call still dialling, so a later one never
        # counted.
        first: dict[str, datetime] = {}
        for attempt_id, at in batch.answered:
            first.setdefault(attempt_id, at)
        await conn.execute(_ANSWER, answered, *text_columns(first.items()), dialing)
    if batch.digits:
        rows = _last_per_attempt((a, d, s.value) for a, d, s in batch.digits)
        await conn.execute(_DIGIT, *text_columns(rows))
    if batch.legs:
        rows = _last_per_attempt((a, leg, s.value) for a, leg, s in batch.legs)
        await conn.execute(_LEG, *text_columns(rows))
    ended = await _end_open(conn, batch.ends) if batch.ends else set()
    if log:
        await conn.copy_records_to_table(
            "attempt_events", records=[r.values() for r in log], columns=EventRow.COLUMNS
        )
    return ended


async def _end_open(conn: Any, ends: Sequence[AttemptEnd]) -> set[str]:
    """End the attempts still open; an attempt ended before (a replayed fact) is left as it is."""
    rows = await conn.fetch(_STILL_OPEN, [e.attempt_id for e in ends], _OPEN)
    still_open = {str(row[0]) for row in rows}
    todo = [e for e in ends if e.attempt_id in still_open]
    if todo:
        values = _last_per_attempt(
            (e.attempt_id, e.at, e.reason, e.cause, e.result.value, e.linkedid, e.digit) for e in todo
        )
        await conn.execute(_END, AttemptState.ENDED.value, *text_columns(values))
    return {e.attempt_id for e in todo}
