"""The clinic's day: how the day's calls spread over its hours, and whether 5 administrators can carry an hour.

Pure: no I/O. The Omsk centre's seed (seeds/002) gives the day (about 1,000 calls, up to 15% unanswered, talks
of 5-7 minutes) but not its hours; the hourly shares below are an assumed clinic profile (a morning peak when
the lines open, a lull at lunch, a small evening tail), to be replaced by the clinic's own statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Share of the day's inbound calls per local hour (08:00-20:00 the clinic's time).
HOURLY_SHARE: dict[int, float] = {
    8: 0.09,
    9: 0.12,
    10: 0.12,
    11: 0.11,
    12: 0.09,
    13: 0.08,
    14: 0.08,
    15: 0.08,
    16: 0.07,
    17: 0.07,
    18: 0.05,
    19: 0.04,
}
DAY_CALLS = 1000
TALK_REAL = (300.0, 420.0)  # the seed's 5-7 minute conversations
ANSWER_TARGET_S = 20.0  # the checklist's "answered within 20 s" (seeds/003)
SERVICE_LEVEL_TARGET = 0.8  # ... for this share of the callers: the usual call-centre target


def erlang_c(load: float, agents: int) -> float:
    """The chance a caller has to wait (Erlang C) for `load` erlangs offered to `agents`; 1.0 at or beyond
    capacity, where the queue grows without bound."""
    if load <= 0:
        return 0.0
    if load >= agents:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, agents):
        term *= load / k
        total += term
    top = term * load / agents * agents / (agents - load)
    return top / (total + top)


def service_level(load: float, agents: int, mean_talk: float, within: float) -> float:
    """Share of callers answered within `within` seconds (Erlang C with exponential talk times)."""
    if load >= agents:
        return 0.0
    wait = erlang_c(load, agents)
    return 1.0 - wait * math.exp(-(agents - load) * within / mean_talk)


@dataclass(frozen=True)
class HourLoad:
    hour: int
    calls: float  # offered in the whole (uncompressed) day at the run's scale
    erlangs: float
    waits: float  # Erlang C: the chance to wait at all
    answered_in_20s: float

    @property
    def in_capacity(self) -> bool:
        """An hour the administrators can carry: offered load below their number and the answer-within-20 s
        target met by Erlang C; beyond it the queue, not the callback order, decides who is missed."""
        return self.answered_in_20s >= SERVICE_LEVEL_TARGET


def hour_loads(calls_per_day: float, admins: int, talk_real: tuple[float, float]) -> list[HourLoad]:
    mean_talk = sum(talk_real) / 2
    loads = []
    for hour, share in HOURLY_SHARE.items():
        calls = calls_per_day * share
        erlangs = calls * mean_talk / 3600.0
        loads.append(
            HourLoad(
                hour,
                calls,
                erlangs,
                erlang_c(erlangs, admins),
                service_level(erlangs, admins, mean_talk, ANSWER_TARGET_S),
            )
        )
    return loads
