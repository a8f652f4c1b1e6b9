"""When each campaign's list of the day is built: reminders per clinic at its list-build time, the
administrators' lists (КОС, the diary, waiting-list offers) and the post-visit IVRs every sweep.

Lists imported while the service runs (e.g. by `dialer import` from cron) are picked up within a sweep (the
minute sweep of engine/daily.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import date, datetime, time

from dialer.campaigns.plan import reminder_call_day
from dialer.core.clock import Clock
from dialer.core.stores import AppointmentStore
from dialer.settings import ClinicSettings, Settings

PlanVisitDay = Callable[[date, Collection[str]], Awaitable[int]]
PlanToday = Callable[[], Awaitable[int]]


class DayLists:
    """Builds the lists whose time has come, then wakes the worker that dials them."""

    def __init__(
        self,
        *,
        settings: Settings,
        appointments: AppointmentStore,
        plan_reminders: PlanVisitDay,
        plan_worklists: PlanToday,
        plan_post_visit: PlanToday,
        wake: Callable[[], None],
        clock: Clock,
    ) -> None:
        self._settings = settings
        self._appointments = appointments
        self._plan_reminders = plan_reminders
        self._plan_worklists = plan_worklists
        self._plan_post_visit = plan_post_visit
        self._wake = wake
        self._clock = clock

    async def prepare_due_days(self) -> None:
        """Build the reminder lists whose calling day has come (and whose list-build time has passed)."""
        now = self._clock.now()
        for day in await self._appointments.days():
            due = [
                c.id
                for c in self._settings.clinics.values()
                if list_is_due(day, now, c, self._settings.list_build_time(c.id))
            ]
            if due:
                await self._plan_reminders(day, due)
        await self._plan_worklists()
        await self._plan_post_visit()
        self._wake()

    async def on_imported(self, days: set[date]) -> None:
        await self.prepare_due_days()

    async def on_recalls(self) -> None:
        await self._plan_worklists()
        self._wake()


def list_is_due(day: date, now: datetime, clinic: ClinicSettings, build_time: time) -> bool:
    """A visit day's list is built once its calling day has come and the clinic's list-build time has passed."""
    local = now.astimezone(clinic.timezone)
    if day < local.date():
        return False
    call_day = reminder_call_day(day, clinic.calendar)
    if day == local.date() or call_day is None or call_day < local.date():
        return True
    return call_day == local.date() and local.time() >= build_time
