"""A batch of call facts written to PostgreSQL in one transaction straight on asyncpg, PostgreSQL's counterpart of
fastbatch.py.

Through SQLAlchemy each statement of a batch pays its compilation-cache lookup and per-row parameter processing
(UtcDateTime, the bind names) before asyncpg sees it. Here the connection is the pool's own asyncpg connection,
each statement a prepared one sent with ``executemany`` (pipelined: one round trip per statement, not per row),
with plain tuples. The statements and the stored values are those of ``SqlAttemptStore.apply``'s SQLAlchemy path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import AttemptBatch, AttemptEnd, AttemptState, EventRow

T = TypeVar("T")

_OPEN = [AttemptState.DIALING.value, AttemptState.ANSWERED.value]
_ANSWER = "UPDATE attempts SET state = $1, answered_at = $2 WHERE attempt_id = $3 AND state = $4"
_DIGIT = "UPDATE attempts SET digit = $1, settled = $2 WHERE attempt_id = $3"
_LEG = "UPDATE attempts SET leg_status = $1, settled = $2 WHERE attempt_id = $3"
# text[], not varchar[]: asyncpg decodes text[] without asking the server, where a varchar[] parameter costs each new
# connection a type introspection query (~8 ms) on its first use.
_STILL_OPEN = "SELECT attempt_id FROM attempts WHERE attempt_id = ANY($1::text[]) AND state = ANY($2::text[])"
_END = (
    "UPDATE attempts SET state = $1, ended_at = $2, reason = $3, cause = $4, result = $5, linkedid = $6,"
    " digit = coalesce($7, digit) WHERE attempt_id = $8"
)
_LOG = (
    f"INSERT INTO attempt_events ({', '.join(EventRow.COLUMNS)})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(EventRow.COLUMNS) + 1))})"
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


async def _write(conn: Any, batch: AttemptBatch, log: Sequence[EventRow]) -> set[str]:
    dialing, answered = AttemptState.DIALING.value, AttemptState.ANSWERED.value
    if batch.answered:
        await conn.executemany(_ANSWER, [(answered, at, a, dialing) for a, at in batch.answered])
    if batch.digits:
        await conn.executemany(_DIGIT, [(d, s.value, a) for a, d, s in batch.digits])
    if batch.legs:
        await conn.executemany(_LEG, [(leg, s.value, a) for a, leg, s in batch.legs])
    ended = await _end_open(conn, batch.ends) if batch.ends else set()
    if log:
        await conn.executemany(_LOG, [r.values() for r in log])
    return ended


async def _end_open(conn: Any, ends: Sequence[AttemptEnd]) -> set[str]:
    """End the attempts still open; an attempt ended before (a replayed fact) is left as it is."""
    rows = await conn.fetch(_STILL_OPEN, [e.attempt_id for e in ends], _OPEN)
    still_open = {str(row[0]) for row in rows}
    todo = [e for e in ends if e.attempt_id in still_open]
    if todo:
        done = AttemptState.ENDED.value
        await conn.executemany(
            _END,
            [
                (done, e.at, e.reason, e.cause, e.result.value, e.linkedid, e.digit, e.attempt_id)
                for e in todo
            ],
        )
    return {e.attempt_id for e in todo}
