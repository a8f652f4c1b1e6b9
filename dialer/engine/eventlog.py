"""Batched writes of the append-only attempt log, off the intake's hot path."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from dialer.core.clock import Clock
from dialer.core.privacy import describe_error
from dialer.core.records import AttemptRow, EventRow
from dialer.core.stores import AttemptStore
from dialer.engine.loops import forever

log = logging.getLogger("dialer.engine")


class EventLog:
    def __init__(
        self, store: AttemptStore, clock: Clock, *, max_batch: int = 500, max_delay: float = 0.2
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._rows: list[EventRow] = []
        self._ready = asyncio.Event()
        self.written = 0

    def add(self, row: EventRow) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.max_batch:
            self._ready.set()

    def of_attempt(
        self,
        attempt: AttemptRow,
        kind: str,
        *,
        at: datetime | None = None,
        reason: int | None = None,
        cause: int | None = None,
        digit: str | None = None,
        linkedid: str | None = None,
        detail: str | None = None,
    ) -> None:
        """A line of the attempt's log; its channel's Uniqueid is the attempt id (the Originate's ChannelId)."""
        self.add(
            EventRow(
                clinic_id=attempt.clinic_id,
                attempt_id=attempt.attempt_id,
                at=at or self.clock.now(),
                kind=kind,
                uniqueid=attempt.attempt_id,
                linkedid=linkedid,
                reason=reason,
                cause=cause,
                digit=digit,
                detail=detail,
            )
        )

    @property
    def pending(self) -> int:
        return len(self._rows)

    def drain(self) -> list[EventRow]:
        """Hand the pending rows to a caller who writes them in its own transaction."""
        rows, self._rows = self._rows, []
        self.written += len(rows)
        return rows

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if rows:
            try:
                await self.store.append_events(rows)
                self.written += len(rows)
            except Exception as exc:
                # The log is a record, not a decision: keep the rows for the next flush rather than lose them.
                log.error("attempt log write failed (%s); will retry", describe_error(exc))
                self._rows = rows + self._rows

    async def run(self) -> None:
        async def turn() -> None:
            await self.clock.wait_for(self._ready, self.max_delay)
            self._ready.clear()
            await self.flush()

        try:
            await forever("attempt-log", turn, self.clock)
        finally:
            await self.flush()
