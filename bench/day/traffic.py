"""The day's callers, drawn once from a seed: Poisson arrivals at each hour's rate, the peak hour's callers
otherwise (bench.peak.traffic: patience, abandoning, talk times, the carrier's numbers). Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from bench.day.profile import DAY_CALLS, HOURLY_SHARE
from bench.peak.traffic import Caller, Profile, Scale, Traffic, generate


@dataclass(frozen=True)
class Window:
    """The part of the day that is played: local hours [first, end) of the clinic's day."""

    first: int = 8
    end: int = 20

    def __post_init__(self) -> None:
        if not (min(HOURLY_SHARE) <= self.first < self.end <= max(HOURLY_SHARE) + 1):
            raise ValueError(f"hours {self.first}-{self.end} are outside the clinic's day 08-20")

    @property
    def hours(self) -> range:
        return range(self.first, self.end)

    @property
    def seconds_real(self) -> float:
        return 3600.0 * len(self.hours)


@dataclass(frozen=True)
class DayTraffic:
    traffic: Traffic
    window: Window
    hour_of: dict[int, int]  # caller index -> the clinic's local hour they called in

    def callers_in(self, hour: int) -> list[Caller]:
        return [c for c in self.traffic.callers if self.hour_of[c.index] == hour]


def generate_day(
    window: Window, scale: float, admins: int, talk_real: tuple[float, float], compression: float, seed: int
) -> DayTraffic:
    """`scale` x the day's 1,000 calls, each hour's share of them arriving uniformly within its hour (a Poisson
    process given its count), the played hours only."""
    rng = random.Random(seed)
    counts = {h: _poisson(rng, DAY_CALLS * scale * HOURLY_SHARE[h]) for h in window.hours}
    total = sum(counts.values())
    if total == 0:
        raise ValueError("no calls at this scale: raise --scale or widen --hours")
    profile = Profile(
        calls=total, hour_real=window.seconds_real, admins=admins, abandon_share=0.15, talk_real=talk_real
    )
    base = generate(profile, Scale(compression), seed, carrier=True)
    times: list[tuple[float, int]] = []
    for hour, count in counts.items():
        start = (hour - window.first) * 3600.0
        times += [(Scale(compression).wall(start + rng.uniform(0.0, 3600.0)), hour) for _ in range(count)]
    times.sort()
    callers = tuple(replace(c, at=round(at, 3)) for c, (at, _) in zip(base.callers, times, strict=True))
    hour_of = {c.index: hour for c, (_, hour) in zip(callers, times, strict=True)}
    return DayTraffic(replace(base, callers=callers), window, hour_of)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method in chunks (exp(-mean) underflows for a busy hour at full scale)."""
    count = 0
    while mean > 0:
        step = min(mean, 30.0)
        mean -= step
        limit, product = pow(2.718281828459045, -step), rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
    return count
