"""How Asterisk's clock relates to the service's: its event stamps and queue_log lines, on the service's time line.

The service's Clock is the one time line of the product: deadlines, windows and reports are all on it.
Asterisk stamps its events (manager.conf `timestampevents`) and its queue_log with its own host's clock, which
may differ: by NTP drift in production, by hours in a demonstration whose clock is set to the clinic's morning.

    service time = Asterisk time + offset

The offset is measured, never assumed: each AMI Ping answer carries Asterisk's time, taken halfway between
the ping and its answer; every stamped event refines it, since an event cannot arrive before it happened
(arrival - stamp is the offset plus the wire's latency, so the smallest recent value is the best bound).
A stamp that disagrees with the estimate by more than `MAX_JUMP` is not believed (a garbage or replayed
frame): that event is timed by its arrival instead.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

MAX_JUMP = 300.0  # seconds
WINDOW = 256  # recent events that bound the offset


class PbxTimebase:
    def __init__(self) -> None:
        self._offset: float | None = None
        self._measured: float | None = None  # from the last ping
        self._recent: deque[tuple[int, float]] = deque()  # (sequence, arrival - stamp), increasing values
        self._seq = 0

    @property
    def offset(self) -> timedelta:
        """Service time minus Asterisk time; zero until the first measurement."""
        return timedelta(seconds=self._offset or 0.0)

    @property
    def known(self) -> bool:
        return self._offset is not None

    def reset(self) -> None:
        """A new link: Asterisk may have been restarted with another clock."""
        self._offset = self._measured = None
        self._recent.clear()

    def pinged(self, pbx_time: float, latency: float, now: datetime) -> None:
        """A Ping answered: Asterisk said `pbx_time` about `latency` seconds before `now`."""
        measured = now.timestamp() - latency - pbx_time
        self._measured = measured
        self._recent.clear()
        self._offset = measured

    def event_time(self, stamp: str | None, arrival: datetime) -> datetime:
        """When an event stamped `stamp` by Asterisk happened, on the service's time line."""
        pbx_time = _seconds(stamp)
        if pbx_time is None:
            return arrival
        bound = arrival.timestamp() - pbx_time
        if self._offset is not None and abs(bound - self._offset) > MAX_JUMP:
            return arrival
        self._observe(bound)
        return self.to_service(pbx_time)

    def to_service(self, pbx_time: float) -> datetime:
        return datetime.fromtimestamp(pbx_time + (self._offset or 0.0), UTC)

    def to_pbx(self, instant: datetime) -> float:
        return instant.timestamp() - (self._offset or 0.0)

    def _observe(self, bound: float) -> None:
        self._seq += 1
        recent = self._recent
        while recent and recent[-1][1] >= bound:
            recent.pop()
        recent.append((self._seq, bound))
        while recent[0][0] <= self._seq - WINDOW:
            recent.popleft()
        smallest = recent[0][1]
        # A ping's midpoint can sit above the true offset by half the round trip; events only ever lower it.
        self._offset = smallest if self._measured is None else min(self._measured, smallest)


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        value = float(stamp)
    except ValueError:
        return None
    return value if 0 < value < 1e11 else None
