"""The clinic's clock for a bench run or a test: 11:00 on a working day in the clinic's zone, whatever the
host's hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dialer.core.calendar import WorkCalendar, working_morning
from dialer.core.clock import RehearsalClock


@dataclass(frozen=True)
class ClinicTime:
    """The clinic's clock for one run: 11:00 on a working day in the clinic's zone, whatever the host's hour.

    The service under test or measurement gets the same setting (`rehearsal()` in its TOML, or `clock()` in
    process), so the run and the service share one time line, and windows written as "now + 30 s" mean the
    same to both.
    """

    tz: ZoneInfo
    start: datetime  # the clinic's time when the host's clock read `host_start`
    host_start: datetime

    @classmethod
    def morning(
        cls, tz_name: str = "Europe/Moscow", at: time = time(11, 0), calendar: WorkCalendar | None = None
    ) -> ClinicTime:
        tz = ZoneInfo(tz_name)
        host = datetime.now(UTC)
        return cls(tz, working_morning(host, tz, calendar or WorkCalendar(skip_holidays=False), at), host)

    @property
    def offset(self) -> timedelta:
        return self.start - self.host_start

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def local_now(self) -> datetime:
        return self.now().astimezone(self.tz)

    @property
    def today(self) -> date:
        return self.local_now().date()

    def clock(self) -> RehearsalClock:
        return RehearsalClock(self.offset)

    def hhmmss(self, seconds: float) -> str:
        """The clinic's local time `seconds` from now, for a window or opening hours in a config."""
        return (self.local_now() + timedelta(seconds=seconds)).strftime("%H:%M:%S")

    def rehearsal(self) -> str:
        """The config section that puts the service on this clock."""
        return (
            "[rehearsal]\n"
            f'clinic_time = "{self.start.isoformat()}"\n'
            f'at_host_time = "{self.host_start.isoformat()}"\n'
        )
