"""All the stores over one engine, as the app hands them to the engine and the web layer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.storage.appointments import SqlAppointmentStore
from dialer.storage.attempts import SqlAttemptStore
from dialer.storage.db import create_engine, migrate
from dialer.storage.due import SqlDueStore
from dialer.storage.leases import SqlLeaseStore
from dialer.storage.reminders import SqlReminderStore
from dialer.storage.sms import SqlSmsStore


@dataclass
class Storage:
    engine: AsyncEngine
    due: SqlDueStore
    attempts: SqlAttemptStore
    reminders: SqlReminderStore
    sms: SqlSmsStore
    leases: SqlLeaseStore
    appointments: SqlAppointmentStore

    @classmethod
    async def open(cls, url: str, *, run_migrations: bool = True) -> Storage:
        engine = create_engine(url)
        if run_migrations:
            await migrate(engine)
        return cls(
            engine=engine,
            due=SqlDueStore(engine),
            attempts=SqlAttemptStore(engine),
            reminders=SqlReminderStore(engine),
            sms=SqlSmsStore(engine),
            leases=SqlLeaseStore(engine),
            appointments=SqlAppointmentStore(engine),
        )

    async def close(self) -> None:
        await self.engine.dispose()
