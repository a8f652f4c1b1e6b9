"""A batch of call facts written to SQLite in one hand-off to a thread, on a connection of its own.

Through SQLAlchemy's asyncio layer and aiosqlite a batch is a chain of ~18 hand-offs to aiosqlite's thread, and
while the event loop parses AMI each of them waits for the GIL; SQLAlchemy's per-row parameter processing costs
nearly as much again (bench/README.md, Benchmark 1). Here the whole transaction is one synchronous function in
one ``asyncio.to_thread``, with plain tuples: a small batch costs ~0.1 ms instead of ~0.6. The statements and the
stored values are those of ``SqlAttemptStore.apply``'s SQLAlchemy path, which PostgreSQL keeps.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.records import AttemptBatch, AttemptEnd, AttemptState, EventRow
from dialer.storage.db import sqlite_pragmas
from dialer.storage.types import sqlite_instant

# As the engine's connections (db.py): a writer holding the database is waited for, not failed on.
BUSY_TIMEOUT_SECONDS = 10.0

_OPEN = (AttemptState.DIALING.value, AttemptState.ANSWERED.value)
_ANSWER = "UPDATE attempts SET state = ?, answered_at = ? WHERE attempt_id = ? AND state = ?"
_DIGIT = "UPDATE attempts SET digit = ?, settled = ? WHERE attempt_id = ?"
_LEG = "UPDATE attempts SET leg_status = ?, settled = ? WHERE attempt_id = ?"
_STILL_OPEN = "SELECT attempt_id FROM attempts WHERE attempt_id IN ({ids}) AND state IN (?, ?)"
_END = (
    "UPDATE attempts SET state = ?, ended_at = ?, reason = ?, cause = ?, result = ?, linkedid = ?,"
    " digit = coalesce(?, digit) WHERE attempt_id = ?"
)
_LOG = (
    f"INSERT INTO attempt_events ({', '.join(EventRow.COLUMNS)})"
    f" VALUES ({', '.join('?' * len(EventRow.COLUMNS))})"
)

Stamp = Callable[[datetime], str]
T = TypeVar("T")


class SqliteBatchWriter:
    """Writes ``AttemptBatch``es to one SQLite file. Open with ``for_engine``; close once, when done."""

    def __init__(self, path: str, stamp: Stamp) -> None:
        self.path = path
        self._stamp = stamp
        self._conn: sqlite3.Connection | None = None
        # Pool threads take turns on the one connection; a cancelled caller's transaction still runs to its end.
        self._lock = threading.Lock()

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> SqliteBatchWriter | None:
        """A writer on the engine's database file; None where the SQLAlchemy path must stay: not SQLite, a
        database a second connection would not share (in memory), or URL options it would not honour."""
        url = engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.query:
            return None
        return cls(url.database, sqlite_instant)

    async def apply(self, batch: AttemptBatch, log: Sequence[EventRow]) -> set[str]:
        """One transaction: the batch's changes and the log rows. Returns the attempts this batch ended."""
        if batch.empty and not log:
            return set()
        return await asyncio.to_thread(self._apply, batch, log)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    async def run(self, work: Callable[[sqlite3.Connection, Stamp], T]) -> T:
        """Another store's writes in one transaction on this connection, in one hand-off to a thread: `work`
        gets the connection and the stamp that stores times as SQLAlchemy does."""
        return await asyncio.to_thread(self._transaction, work)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Another store's reads, in one hand-off to a thread, on one snapshot of the database."""
        return await asyncio.to_thread(self._transaction, lambda conn, stamp: work(conn), "BEGIN")

    def _apply(self, batch: AttemptBatch, log: Sequence[EventRow]) -> set[str]:
        return self._transaction(lambda conn, stamp: self._write(conn, batch, log))

    def _transaction(
        self, work: Callable[[sqlite3.Connection, Stamp], T], begin: str = "BEGIN IMMEDIATE"
    ) -> T:
        with self._lock:
            conn = self._connection()
            # IMMEDIATE: the write lock is waited for (busy timeout) before the still-open SELECT, so that a
            # writer committing in between can not fail this transaction's first write (SQLITE_BUSY_SNAPSHOT).
            conn.execute(begin)
            try:
                result = work(conn, self._stamp)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    def _write(self, conn: sqlite3.Connection, batch: AttemptBatch, log: Sequence[EventRow]) -> set[str]:
        stamp = self._stamp
        dialing, answered = AttemptState.DIALING.value, AttemptState.ANSWERED.value
        if batch.answered:
            conn.executemany(_ANSWER, [(answered, stamp(at), a, dialing) for a, at in batch.answered])
        if batch.digits:
            conn.executemany(_DIGIT, [(d, s.value, a) for a, d, s in batch.digits])
        if batch.legs:
            conn.executemany(_LEG, [(leg, s.value, a) for a, leg, s in batch.legs])
        ended = self._end_open(conn, batch.ends) if batch.ends else set()
        if log:
            conn.executemany(_LOG, [r.values(stamp) for r in log])
        return ended

    def _end_open(self, conn: sqlite3.Connection, ends: Sequence[AttemptEnd]) -> set[str]:
        """End the attempts still open; an attempt ended before (a replayed fact) is left as it is."""
        ids = [e.attempt_id for e in ends]
        query = _STILL_OPEN.format(ids=", ".join("?" * len(ids)))
        still_open = {row[0] for row in conn.execute(query, (*ids, *_OPEN))}
        todo = [e for e in ends if e.attempt_id in still_open]
        if todo:
            stamp, done = self._stamp, AttemptState.ENDED.value
            conn.executemany(
                _END,
                [
                    (done, stamp(e.at), e.reason, e.cause, e.result.value, e.linkedid, e.digit, e.attempt_id)
                    for e in todo
                ],
            )
        return {e.attempt_id for e in todo}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # isolation_level None: the transaction is ours to begin and end, nothing implicit.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            sqlite_pragmas(conn, None)
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
