"""When things happen in the generated chain: instants in the clinics' working hours, local days."""

from __future__ import annotations

import random
from bisect import bisect_left
from datetime import date, datetime, timedelta

from bench.webdb.volume import (
    HOURS,
    WEEKDAY,
    ZONE,
)


class WorkingHours:
    """Draws instants in the clinics' working hours over the window, weighted by weekday and hour, never after
    the clinic's now."""

    def __init__(self, rng: random.Random, now: datetime, days: int) -> None:
        self.rng = rng
        self.now = now.timestamp()
        today = now.astimezone(ZONE).date()
        self.first_day = today - timedelta(days=days - 1)
        self.today = today
        self.slots: list[float] = []  # start of each (day, hour) slot, epoch seconds
        cum: list[float] = []
        total = 0.0
        for d in range(days):
            day = self.first_day + timedelta(days=d)
            for hour, weight in HOURS.items():
                start = datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).timestamp()
                if start >= self.now:
                    continue
                share = min(1.0, (self.now - start) / 3600.0)  # the current hour, partly
                total += weight * WEEKDAY[day.weekday()] * share
                self.slots.append(start)
                cum.append(total)
        self.cum = cum
        self.total = total

    def instant(self) -> float:
        i = bisect_left(self.cum, self.rng.random() * self.total)
        start = self.slots[min(i, len(self.slots) - 1)]
        return min(start + self.rng.random() * 3600.0, self.now - 1.0)

    def instants(self, n: int) -> list[float]:
        return sorted(self.instant() for _ in range(n))


def local_at(day: date, hour: float) -> float:
    h, rest = divmod(hour * 3600.0, 3600.0)
    return datetime(day.year, day.month, day.day, int(h), tzinfo=ZONE).timestamp() + rest


def local_day(instant: float) -> date:
    return datetime.fromtimestamp(instant, ZONE).date()
