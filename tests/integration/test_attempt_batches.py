"""The SQLite fast path of `SqlAttemptStore.apply` (dialer/storage/fastbatch.py) against the SQLAlchemy path, on
real database files, no Asterisk: the same batches give the same returned sets and the very same stored bytes,
read back through SQLAlchemy as the same instants; and a writer holding the database is waited for.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptBatch, AttemptEnd, AttemptRow, AttemptState, EventRow, Settled
from dialer.storage.attempts import SqlAttemptStore
from dialer.storage.db import create_engine
from dialer.storage.fastbatch import SqliteBatchWriter
from dialer.storage.repository import Storage
from dialer.storage.schema import attempt_events, attempts, targets

CLINIC = "c1"
MOSCOW = timezone(timedelta(hours=3))
T0 = datetime(
    2026, 11, 25, 13, 0, 0, tzinfo=MOSCOW
)  # not UTC, and no microseconds: both must be stored alike
IDS = [f"reminders:1:{n}" for n in range(1, 6)]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def end(attempt_id: str, seconds: float, result: CallResult, digit: str | None = None) -> AttemptEnd:
    answered = result is CallResult.ANSWERED
    return AttemptEnd(
        attempt_id, at(seconds), 16 if answered else 3, 16, result, answered, f"L-{attempt_id}", digit
    )


def logged(attempt_id: str, seconds: float, kind: str, **fields: Any) -> EventRow:
    return EventRow(CLINIC, attempt_id, at(seconds), kind, **fields)


# Every statement of a batch at least once: answers, digits, legs, ends (with and without a digit, of answered and
# of dialing attempts), an attempt twice in one batch, replayed facts for attempts already ended, a batch of log
# rows only, an empty batch.
BATCHES: list[tuple[AttemptBatch, list[EventRow]]] = [
    (
        AttemptBatch(
            # Twice in one batch: the first answer counts, the last key and the last leg stand.
            answered=[
                (IDS[0], at(1.5)),
                (IDS[1], at(2.000001).astimezone(UTC)),
                (IDS[3], at(2.5)),
                (IDS[3], at(2.7)),
            ],
            digits=[
                (IDS[0], "1", Settled.CONFIRMED),
                (IDS[2], "4", Settled.OPEN),
                (IDS[2], "7", Settled.OPEN),
            ],
            legs=[
                (IDS[2], "BUSY", Settled.OPEN),
                (IDS[4], "NOANSWER", Settled.OPEN),
                (IDS[4], "BUSY", Settled.OPEN),
            ],
        ),
        [
            logged(IDS[0], 0.25, "channel", detail="Local"),
            logged(IDS[0], 1.5, "answered", uniqueid="1795600746.1", linkedid="1795600746.1"),
            logged(IDS[0], 3.123456, "digit", digit="1", detail="Смирнова Анна"),
        ],
    ),
    (
        AttemptBatch(
            ends=[
                end(IDS[0], 20, CallResult.ANSWERED),
                end(IDS[1], 21.5, CallResult.ANSWERED, digit="5"),
                end(IDS[2], 22, CallResult.BUSY),
                end(IDS[4], 23, CallResult.NO_ANSWER),
                end(IDS[4], 24, CallResult.BUSY),  # twice in one batch: the last stands
            ]
        ),
        [logged(IDS[0], 20, "ended", reason=16, cause=16), logged(IDS[2], 22, "ended", reason=3, cause=17)],
    ),
    (
        AttemptBatch(
            answered=[(IDS[0], at(30))],  # ended already: the answer does not apply
            ends=[end(IDS[0], 40, CallResult.FAILED), end(IDS[3], 41, CallResult.CONGESTION, digit="2")],
        ),
        [],
    ),
    (AttemptBatch(), [logged(IDS[3], 50, "note", detail="log rows only")]),
    (AttemptBatch(), []),
]


# What BATCHES leave: (state, result, digit, settled, leg status) per attempt.
STATES_AFTER = {
    IDS[0]: (AttemptState.ENDED, CallResult.ANSWERED, "1", Settled.CONFIRMED, None),
    IDS[1]: (AttemptState.ENDED, CallResult.ANSWERED, "5", Settled.OPEN, None),
    IDS[2]: (AttemptState.ENDED, CallResult.BUSY, "7", Settled.OPEN, "BUSY"),
    IDS[3]: (AttemptState.ENDED, CallResult.CONGESTION, "2", Settled.OPEN, None),
    IDS[4]: (AttemptState.ENDED, CallResult.BUSY, None, Settled.OPEN, "BUSY"),
}


def states_of(history: list[AttemptRow]) -> dict[str, tuple[object, ...]]:
    return {r.attempt_id: (r.state, r.result, r.digit, r.settled, r.leg_status) for r in history}


async def open_storage(path: Path) -> Storage:
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    async with storage.engine.begin() as conn:
        await conn.execute(
            insert(targets).values(
                target_id=1,
                clinic_id=CLINIC,
                campaign="reminders",
                subject_id="A-1",
                patient_id="P-1",
                phone="+79161234567",
                created_at=T0,
                updated_at=T0,
            )
        )
    for n, attempt_id in enumerate(IDS, start=1):
        await storage.attempts.create(
            AttemptRow(attempt_id, CLINIC, 1, n, "+79161234567", "sim", AttemptState.DIALING, at(n / 7))
        )
    return storage


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[tuple[Storage, Storage]]:
    fast, reference = await open_storage(tmp_path / "fast.db"), await open_storage(tmp_path / "reference.db")
    try:
        yield fast, reference
    finally:
        await fast.close()
        await reference.close()


def raw(path: Path, query: str) -> list[tuple[Any, ...]]:
    """What the file holds, as SQLite gives it back without SQLAlchemy: the stored text of every datetime."""
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


async def read_back(storage: Storage) -> tuple[list[AttemptRow], list[dict[str, Any]], list[dict[str, Any]]]:
    async with storage.engine.connect() as conn:
        rows = await conn.execute(select(attempts).order_by(attempts.c.attempt_id))
        log = await conn.execute(select(attempt_events).order_by(attempt_events.c.event_id))
        return await storage.attempts.history(1), [r._asdict() for r in rows], [r._asdict() for r in log]


async def test_the_fast_path_stores_what_the_sqlalchemy_path_stores(
    both: tuple[Storage, Storage], tmp_path: Path
) -> None:
    fast, reference = both
    assert fast.attempts.batches is not None
    sqlalchemy_path = SqlAttemptStore(reference.engine)
    for batch, log in BATCHES:
        assert await fast.attempts.apply(batch, log) == await sqlalchemy_path.apply(batch, log)

    for query in (
        "SELECT * FROM attempts ORDER BY attempt_id",
        "SELECT * FROM attempt_events ORDER BY event_id",
    ):
        assert raw(tmp_path / "fast.db", query) == raw(tmp_path / "reference.db", query)
    assert raw(tmp_path / "fast.db", "SELECT answered_at, ended_at FROM attempts ORDER BY attempt_id")[
        :2
    ] == [
        (
            "2026-11-25 10:00:01.500000",
            "2026-11-25 10:00:20.000000",
        ),  # the first answer and end, not the replayed
        ("2026-11-25 10:00:02.000001", "2026-11-25 10:00:21.500000"),
    ]

    history, rows, events = await read_back(fast)
    assert (history, rows, events) == await read_back(reference)
    assert await fast.attempts.get(IDS[1]) == history[1]
    # Read back through SQLAlchemy's UtcDateTime: aware, in UTC, the instants written.
    assert rows[0]["answered_at"] == at(1.5) and rows[0]["answered_at"].tzinfo is UTC
    assert (rows[1]["answered_at"], rows[1]["ended_at"]) == (at(2.000001), at(21.5))
    assert (rows[2]["answered_at"], rows[2]["ended_at"]) == (None, at(22))
    assert [(r["kind"], r["at"]) for r in events] == [
        ("channel", at(0.25)),
        ("answered", at(1.5)),
        ("digit", at(3.123456)),
        ("ended", at(20)),
        ("ended", at(22)),
        ("note", at(50)),
    ]
    assert states_of(history) == STATES_AFTER
    assert rows[3]["answered_at"] == at(2.5) and rows[4]["ended_at"] == at(24)


async def test_a_writer_holding_the_database_is_waited_for(both: tuple[Storage, Storage]) -> None:
    storage, _ = both
    hold = 0.5
    async with (
        storage.engine.begin() as other
    ):  # another writer, on one of the engine's aiosqlite connections
        await other.execute(
            insert(attempt_events).values(clinic_id=CLINIC, attempt_id=IDS[0], at=T0, kind="other")
        )
        started = time.monotonic()
        applying = asyncio.create_task(
            storage.attempts.apply(
                AttemptBatch(ends=[end(IDS[0], 20, CallResult.NO_ANSWER)]), [logged(IDS[0], 20, "ended")]
            )
        )
        await asyncio.sleep(hold)  # the point: for this long the write waits behind the other writer
        assert not applying.done()  # waiting for the write lock, not failed
    assert await applying == {IDS[0]}
    assert time.monotonic() - started >= hold
    (row,) = [r for r in await storage.attempts.history(1) if r.attempt_id == IDS[0]]
    assert row.state is AttemptState.ENDED
    _, _, events = await read_back(storage)
    assert [r["kind"] for r in events] == ["other", "ended"]


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://", "postgresql+asyncpg://u:p@localhost/dialer"],
)
async def test_no_fast_path_where_a_second_connection_would_not_share_the_database(url: str) -> None:
    engine = create_engine(url)
    try:
        assert SqliteBatchWriter.for_engine(engine) is None
    finally:
        await engine.dispose()
