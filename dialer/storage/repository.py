"""All the stores over one engine, as the app hands them to the engine and the web layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.storage import schema
from dialer.storage.alerts import SqlAlertStore
from dialer.storage.appointments import SqlAppointmentStore
from dialer.storage.attempts import SqlAttemptStore
from dialer.storage.audit import SqlAuditLog
from dialer.storage.board import SqlBoardReads
from dialer.storage.callbacks import SqlCallbackStore
from dialer.storage.cards import SqlCardStore
from dialer.storage.db import create_engine, migrate
from dialer.storage.due import SqlDueStore
from dialer.storage.fastbatch import SqliteBatchWriter
from dialer.storage.inbound import SqlInboundStore
from dialer.storage.leases import SqlLeaseStore
from dialer.storage.pgbatch import PgBatchWriter
from dialer.storage.recalls import SqlOutboxStore, SqlRecallStore
from dialer.storage.reminders import SqlReminderStore
from dialer.storage.reports import SqlReportStore
from dialer.storage.sla import SqlSlaStore
from dialer.storage.sms import SqlSmsStore
from dialer.storage.upsert import insert_dialect
from dialer.storage.users import SqlUserStore
from dialer.storage.worklists import SqlWorklistStore
from dialer.storage.wrapups import SqlWrapupStore


@dataclass
class Storage:
    engine: AsyncEngine
    due: SqlDueStore
    attempts: SqlAttemptStore
    reminders: SqlReminderStore
    sms: SqlSmsStore
    leases: SqlLeaseStore
    appointments: SqlAppointmentStore
    callbacks: SqlCallbackStore
    inbound: SqlInboundStore
    sla: SqlSlaStore
    board: SqlBoardReads
    alerts: SqlAlertStore
    users: SqlUserStore
    cards: SqlCardStore
    wrapups: SqlWrapupStore
    reports: SqlReportStore
    recalls: SqlRecallStore
    outbox: SqlOutboxStore
    worklists: SqlWorklistStore
    audit: SqlAuditLog

    @classmethod
    async def open(cls, url: str, *, run_migrations: bool = True) -> Storage:
        engine = create_engine(url)
        if run_migrations:
            await migrate(engine)
        batches = SqliteBatchWriter.for_engine(engine) or PgBatchWriter.for_engine(engine)
        return cls(
            engine=engine,
            due=SqlDueStore(engine),
            attempts=SqlAttemptStore(engine, batches),
            reminders=SqlReminderStore(engine, batches),
            sms=SqlSmsStore(engine),
            leases=SqlLeaseStore(engine),
            appointments=SqlAppointmentStore(engine),
            callbacks=SqlCallbackStore(engine),
            inbound=SqlInboundStore(engine),
            sla=SqlSlaStore(engine),
            board=SqlBoardReads(engine),
            alerts=SqlAlertStore(engine),
            users=SqlUserStore(engine),
            cards=SqlCardStore(engine),
            wrapups=SqlWrapupStore(engine),
            reports=SqlReportStore(engine),
            recalls=SqlRecallStore(engine),
            outbox=SqlOutboxStore(engine),
            worklists=SqlWorklistStore(engine, batches),
            audit=SqlAuditLog(engine),
        )

    async def sync_clinics(self, clinics: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Keep the clinics table (id, name, zone) in step with the settings, for reports and other tools."""
        if not clinics:
            return
        async with self.engine.begin() as conn:
            stmt = insert_dialect(conn, schema.clinics)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["clinic_id"],
                    set_={
                        "name": stmt.excluded.name,
                        "timezone": stmt.excluded.timezone,
                        "updated_at": stmt.excluded.updated_at,
                    },
                ),
                [{"clinic_id": c, "name": n, "timezone": tz, "updated_at": now} for c, n, tz in clinics],
            )

    async def close(self) -> None:
        await self.attempts.close()
        await self.cards.close()
        await self.engine.dispose()
