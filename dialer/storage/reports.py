"""The supervisor's daily report and drill-down lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.campaigns.kinds import CampaignKind
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptState, ReminderStatus
from dialer.core.staff import ALL_CLINICS, Role
from dialer.core.supervision import CallbackAttempt, DayMetrics, MissedCall, UnreachedVisit
from dialer.storage.journal_schema import contacts
from dialer.storage.quality_reports import QualityFigures, quality_figures
from dialer.storage.schema import (
    appointments,
    attempts,
    callback_tasks,
    inbound_calls,
    targets,
    user_clinics,
    users,
)
from dialer.storage.targets import REMINDER_TARGET

# Visits whose reminder ended without the patient's decision: the list an administrator calls by hand.
_UNREACHED = (ReminderStatus.NOT_REACHED, ReminderStatus.REACHED, ReminderStatus.INVALID_NUMBER)


class SqlReportStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def day_metrics(
        self, clinic_id: str, start: datetime, end: datetime, day: date, user_id: int | None = None
    ) -> DayMetrics:
        return await self.period_metrics(clinic_id, start, end, day, 1, user_id)

    async def period_metrics(
        self,
        clinic_id: str,
        start: datetime,
        end: datetime,
        first_day: date,
        days: int,
        user_id: int | None = None,
    ) -> DayMetrics:
        who = [contacts.c.user_id == user_id] if user_id is not None else []
        in_day = [
            contacts.c.clinic_id == clinic_id,
            contacts.c.created_at >= start,
            contacts.c.created_at < end,
            *who,
        ]
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        func.count(),
                        func.count().filter(contacts.c.result == "booked"),
                        func.avg(contacts.c.talk_seconds),
                        func.avg(contacts.c.wrap_seconds),
                    ).where(*in_day)
                )
            ).one()
            # The period's ended calls are read once for both counts, from their index alone: a reminder's
            # call is told by its id, which names its campaign. Looking each confirming call's target up
            # instead was 15,000 lookups a day on a chain's busiest clinic, most of the report's time.
            reminder = or_(
                *(attempts.c.attempt_id.like(p) for p in AttemptId.like_campaign(CampaignKind.REMINDERS))
            )
            calls = (
                await conn.execute(
                    select(
                        func.count().filter(and_(attempts.c.digit == "1", reminder)),
                        func.count().filter(attempts.c.result == CallResult.MACHINE.value),
                    ).where(
                        attempts.c.clinic_id == clinic_id,
                        attempts.c.ended_at >= start,
                        attempts.c.ended_at < end,
                    )
                )
            ).one()
            confirmations, machines = calls[0], calls[1]
            visits = (
                await conn.execute(
                    select(
                        func.count().filter(appointments.c.attended.is_not(None)),
                        func.count().filter(appointments.c.attended.is_(False)),
                    ).where(
                        appointments.c.clinic_id == clinic_id,
                        appointments.c.visit_day >= first_day,
                        appointments.c.visit_day < first_day + timedelta(days=days),
                    )
                )
            ).one()
            quality = await self.quality(conn, clinic_id, start, end, user_id)
        contacts_n, booked = int(row[0]), int(row[1])
        return DayMetrics(
            contacts=contacts_n,
            bookings=booked,
            conversion_pct=round(100.0 * booked / contacts_n, 1) if contacts_n else 0.0,
            confirmations=int(confirmations or 0),
            visits_known=int(visits[0]),
            no_show=int(visits[1]),
            no_show_pct=round(100.0 * visits[1] / visits[0], 1) if visits[0] else None,
            aht_seconds=round(float(row[2]), 1) if row[2] is not None else None,
            acw_seconds=round(float(row[3]), 1) if row[3] is not None else None,
            machines=int(machines or 0),
            **quality,
        )

    async def quality(
        self, conn: AsyncConnection, clinic_id: str, start: datetime, end: datetime, user_id: int | None
    ) -> QualityFigures:
        """Complaints by class and the mean scorecard of the period."""
        return await quality_figures(conn, clinic_id, start, end, user_id)

    async def missed_calls(
        self, clinic_id: str, start: datetime, end: datetime, user_id: int | None = None
    ) -> list[MissedCall]:
        query = (
            select(
                inbound_calls.c.call_id,
                inbound_calls.c.started_at,
                inbound_calls.c.caller,
                inbound_calls.c.hidden,
                inbound_calls.c.miss_reason,
                inbound_calls.c.waited,
                inbound_calls.c.queue,
                callback_tasks.c.task_id,
                callback_tasks.c.state,
                callback_tasks.c.close_reason,
                callback_tasks.c.deadline_at,
                callback_tasks.c.first_attempt_at,
                callback_tasks.c.contacted_at,
                callback_tasks.c.target_id,
            )
            .select_from(
                inbound_calls.outerjoin(callback_tasks, callback_tasks.c.task_id == inbound_calls.c.task_id)
            )
            .where(
                inbound_calls.c.clinic_id == clinic_id,
                inbound_calls.c.miss_reason.is_not(None),
                inbound_calls.c.started_at >= start,
                inbound_calls.c.started_at < end,
            )
            .order_by(inbound_calls.c.started_at)
        )
        async with self.engine.connect() as conn:
            rows = [MissedCall(**r._mapping) for r in await conn.execute(query)]
            history = await _attempt_history(conn, [r.target_id for r in rows if r.target_id is not None])
            if user_id is not None:
                handled = await _phones_handled(conn, user_id, start, end)
                rows = [r for r in rows if r.caller in handled]
        return [
            replace(r, attempts=tuple(history.get(r.target_id, []))) if r.target_id is not None else r
            for r in rows
        ]

    async def unreached(self, clinic_id: str, visit_day: date) -> list[UnreachedVisit]:
        query = (
            select(
                appointments.c.appointment_id,
                appointments.c.visit_at,
                appointments.c.doctor,
                appointments.c.reminder_status,
                func.count(attempts.c.attempt_id).label("attempts"),
                func.count(attempts.c.attempt_id)
                .filter(attempts.c.result == CallResult.MACHINE.value)
                .label("machines"),
            )
            .select_from(
                appointments.outerjoin(targets, REMINDER_TARGET).outerjoin(
                    attempts,
                    and_(
                        attempts.c.target_id == targets.c.target_id,
                        attempts.c.state != AttemptState.UNPLACED.value,
                    ),
                )
            )
            .where(
                appointments.c.clinic_id == clinic_id,
                appointments.c.visit_day == visit_day,
                appointments.c.reminder_status.in_([s.value for s in _UNREACHED]),
            )
            .group_by(
                appointments.c.appointment_id,
                appointments.c.visit_at,
                appointments.c.doctor,
                appointments.c.reminder_status,
            )
            .order_by(appointments.c.visit_at)
        )
        async with self.engine.connect() as conn:
            return [UnreachedVisit(**r._mapping) for r in await conn.execute(query)]

    async def operators(self, clinic_id: str) -> list[tuple[int, str]]:
        """The operators who work for this clinic (or for every clinic)."""
        async with self.engine.connect() as conn:
            return [
                (int(r.user_id), str(r.display_name))
                for r in await conn.execute(
                    select(users.c.user_id, users.c.display_name)
                    .distinct()
                    .select_from(users.join(user_clinics, user_clinics.c.user_id == users.c.user_id))
                    .where(
                        users.c.role == Role.OPERATOR.value,
                        user_clinics.c.clinic_id.in_((clinic_id, ALL_CLINICS)),
                    )
                    .order_by(users.c.display_name)
                )
            ]


async def _attempt_history(conn: AsyncConnection, target_ids: list[int]) -> dict[int, list[CallbackAttempt]]:
    """The callback calls of each target, in order."""
    history: dict[int, list[CallbackAttempt]] = {}
    if target_ids:
        for a in await conn.execute(
            select(
                attempts.c.target_id,
                attempts.c.n,
                attempts.c.created_at,
                attempts.c.result,
                attempts.c.leg_status,
            )
            .where(attempts.c.target_id.in_(target_ids))
            .order_by(attempts.c.n)
        ):
            history.setdefault(a.target_id, []).append(CallbackAttempt(**a._mapping))
    return history


async def _phones_handled(conn: AsyncConnection, user_id: int, start: datetime, end: datetime) -> set[str]:
    """The numbers this user had a contact with in the period."""
    query = select(contacts.c.phone).where(
        contacts.c.user_id == user_id, contacts.c.created_at >= start, contacts.c.created_at < end
    )
    return set((await conn.execute(query)).scalars())
