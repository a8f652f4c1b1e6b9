"""Which callback may take the next free administrator ahead of the callers waiting in the queue. Pure.

A callback normally waits until nobody waits in its clinic's queue: a live caller comes first. But a first
callback that is still waiting close to its deadline would be late because of that queue: from `margin` before
its deadline it goes ahead of the queue's callers, and the administrator is held for it (paused in the queue)
before Asterisk offers them the next caller. Only a first attempt does: a repeat has already reached the
patient's phone once in time. Once the deadline has passed, the callback is late whatever happens, and the live
caller keeps their turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.core.queues import AdminState

# The pause reason the service gives the administrators it holds for a callback; at start-up, members paused
# with it are the service's own, left over from a run that ended, and are unpaused.
PAUSE_REASON = "перезвон"


@dataclass(frozen=True)
class WaitingCallback:
    key: str  # the attempt waiting for an administrator
    clinic_id: str
    deadline: datetime
    first_attempt: bool  # no attempt was made on this task yet
    open_now: bool  # the clinic may call now (its opening and calling hours)


def jumps_queue(callback: WaitingCallback, now: datetime, margin: timedelta) -> bool:
    """Whether this callback goes ahead of the queue's callers now; a zero margin turns this off."""
    if margin <= timedelta(0) or not callback.first_attempt or not callback.open_now:
        return False
    return callback.deadline - margin <= now < callback.deadline


def next_ahead_of_queue(
    waiting: Iterable[WaitingCallback], now: datetime, margin: timedelta
) -> WaitingCallback | None:
    """The callback to hand the next free administrator to ahead of the queue: the nearest deadline first
    (then the key, so that the choice is the same every time); None when none may go ahead."""
    urgent = [c for c in waiting if jumps_queue(c, now, margin)]
    return min(urgent, key=lambda c: (c.deadline, c.key), default=None)


@dataclass(frozen=True)
class AheadOfQueue:
    """A callback that took an administrator ahead of the queue's callers."""

    at: datetime
    clinic_id: str
    task_id: int
    interface: str


class AheadLog:
    """The latest callbacks served ahead of the queue, per clinic, for the senior administrator's board."""

    def __init__(self, keep: int = 200) -> None:
        self._keep = keep
        self._by_clinic: dict[str, list[AheadOfQueue]] = {}

    def add(self, entry: AheadOfQueue) -> None:
        entries = self._by_clinic.setdefault(entry.clinic_id, [])
        entries.append(entry)
        del entries[: -self._keep]

    def since(self, clinic_id: str, start: datetime) -> list[AheadOfQueue]:
        return [e for e in self._by_clinic.get(clinic_id, []) if e.at >= start]


def queue_stays_staffed(states: Mapping[str, AdminState], interface: str) -> bool:
    """Whether the queue still has someone to wait for once this administrator is paused: a queue that sends
    its callers away when all its members are paused (`leavewhenempty = paused`) must never be emptied by us."""
    return any(
        state not in (AdminState.PAUSED, AdminState.OFFLINE)
        for other, state in states.items()
        if other != interface
    )
