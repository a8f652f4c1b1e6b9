"""The rows of a clinic's live board, read on one connection.

The board is built every second for each clinic a supervisor watches. Read store by store, each of its six
reads took a connection of its own, and with it a pool checkout and a rollback on return (with a ping on
PostgreSQL) and, on SQLite, the hand-offs to aiosqlite's thread: round trips that wait for the event loop on a
busy service. Here the same statements run one after the other on one connection.

The reminder funnel is read apart, on its own connection: it is counted beside the board, not at each build
(dialer/engine/funnel_watch.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.core.board_reads import BoardRows
from dialer.core.records import DaySummary
from dialer.core.sla_sums import HourStart
from dialer.storage.alerts import active_alerts
from dialer.storage.callbacks import open_tasks
from dialer.storage.reminders import day_summary
from dialer.storage.sla import call_sums, task_stats
from dialer.storage.users import interface_names


class SqlBoardReads:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def board_rows(
        self, clinic_id: str, hours: Sequence[HourStart], end: datetime, target: float
    ) -> BoardRows:
        async with self.engine.connect() as conn:
            sums = await call_sums(conn, clinic_id, hours, end, target)
            tasks = await task_stats(conn, clinic_id, hours[0].at, end) if hours else []
            return BoardRows(
                sums=sums,
                tasks=tasks,
                open_tasks=await open_tasks(conn, clinic_id),
                alerts=await active_alerts(conn, clinic_id),
                names=await interface_names(conn),
            )

    async def funnel(self, clinic_id: str, visit_day: date) -> DaySummary:
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A count in the background takes one core: PostgreSQL would otherwise give it parallel
                # workers, and on a small server they take every core from the pages and the call intake.
                await conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
            return await day_summary(conn, visit_day, clinic_id)
