"""The weekly listening (§12 of the checklist): the calls the senior administrator listens to with each
administrator, 5 to 10 of the week's, drawn at random but spread over the kinds of calls and their results.

The draw is a pure function of the week, a seed and the week's contacts: the same inputs propose the same calls,
so the list the supervisor saw on Monday is still the list on Friday.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

MIN_CALLS = 5
MAX_CALLS = 10
LONG_CALL_SECONDS = 300.0  # a conversation of 5 minutes or more is «длинный»: worth hearing where it went

KOS_FLAG = "КОС"
DIARY_FLAG = "ЕЖ."


@dataclass(frozen=True)
class ListenCall:
    """One contact of the week, as much of it as the draw needs."""

    contact_id: int
    user_id: int
    direction: str  # in | out
    flags: tuple[str, ...]
    result: str  # booked | call_again | refused | no_result
    talk_seconds: float | None
    created_at: datetime

    @property
    def kind(self) -> str:
        """inbound, callback, kos or diary: the administrator's outgoing calls that are neither KOS nor diary
        calls are the callbacks of missed calls."""
        if KOS_FLAG in self.flags:
            return "kos"
        if DIARY_FLAG in self.flags:
            return "diary"
        return "callback" if self.direction == "out" else "inbound"


# The strata a good week's listening covers, in the order they are filled: one call of each, when the week has one.
STRATA: tuple[tuple[str, str, Callable[[ListenCall], bool]], ...] = (
    ("booked", "запись", lambda c: c.result == "booked"),
    ("refused", "отказ", lambda c: c.result == "refused"),
    ("callback", "перезвон", lambda c: c.kind == "callback"),
    ("kos", "КОС", lambda c: c.kind == "kos"),
    ("long", "длинный", lambda c: (c.talk_seconds or 0.0) >= LONG_CALL_SECONDS),
)
STRATUM_LABELS: dict[str, str] = {key: label for key, label, _ in STRATA} | {"random": "случайный"}


@dataclass(frozen=True)
class Proposed:
    """A call proposed for listening, and why: the stratum it was drawn for, or "random"."""

    call: ListenCall
    why: str


def week_start(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def week_bounds(monday: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The week from Monday 00:00 to the next Monday 00:00, in the clinic's zone."""
    start = datetime.combine(monday, datetime.min.time(), zone)
    return start, datetime.combine(monday + timedelta(days=7), datetime.min.time(), zone)


def _rng(monday: date, seed: int, user_id: int) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across processes, unlike hash().
    return random.Random(f"{monday.isoformat()}:{seed}:{user_id}")


def propose(
    calls: Iterable[ListenCall],
    *,
    user_id: int,
    monday: date,
    zone: ZoneInfo,
    seed: int,
    size: int = MAX_CALLS,
) -> list[Proposed]:
    """The calls of this administrator's week to listen to: first one of each stratum the week has (a booking, a
    refusal, a callback, a KOS call, a long call), then random others up to `size` (clamped to 5..10)."""
    start, end = week_bounds(monday, zone)
    own = sorted(
        (c for c in calls if c.user_id == user_id and start <= c.created_at < end),
        key=lambda c: c.contact_id,
    )
    wanted = min(max(size, MIN_CALLS), MAX_CALLS)
    rng = _rng(monday, seed, user_id)
    chosen: list[Proposed] = []
    taken: set[int] = set()
    for key, _, fits in STRATA:
        pool = [c for c in own if fits(c) and c.contact_id not in taken]
        if pool and len(chosen) < wanted:
            pick = rng.choice(pool)
            chosen.append(Proposed(pick, key))
            taken.add(pick.contact_id)
    rest = [c for c in own if c.contact_id not in taken]
    fill = rng.sample(rest, min(len(rest), wanted - len(chosen)))
    chosen.extend(Proposed(c, "random") for c in fill)
    return sorted(chosen, key=lambda p: p.call.created_at)


def propose_all(
    calls: Sequence[ListenCall], *, monday: date, zone: ZoneInfo, seed: int
) -> dict[int, list[Proposed]]:
    """Each administrator's proposed calls, for every administrator with a call that week."""
    users = sorted({c.user_id for c in calls})
    return {u: propose(calls, user_id=u, monday=monday, zone=zone, seed=seed) for u in users}
