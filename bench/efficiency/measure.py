"""The calls of a campaign run as Asterisk saw them, and where the channels sat idle: pure functions of the events."""

from __future__ import annotations

import re
import sqlite3
import statistics
from dataclasses import dataclass
from datetime import datetime

from bench.campaign import (
    CampaignHome,
)
from bench.lib.rawami import Frame

LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: (dial|call) (\S+)")


@dataclass
class Call:
    attempt_id: str
    behaviour: str
    start: float  # observer arrival time of its Newchannel (wall clock)
    end: float  # ... of its Hangup
    start_ts: float  # Asterisk's own Timestamp of the same events
    end_ts: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Calls:
    calls: list[Call]
    unmatched: list[str]


def placed_attempts(home: CampaignHome) -> dict[str, tuple[str, str]]:
    """attempt id -> (dialled digits, behaviour), from the service's own database after the run."""
    with sqlite3.connect(home.db) as conn:
        rows = conn.execute(
            "select a.attempt_id, a.phone, t.subject_id from attempts a join targets t using (target_id) "
            "where a.state != 'unplaced'"
        ).fetchall()
    return {attempt: (phone.lstrip("+"), home.behaviours[subject]) for attempt, phone, subject in rows}


def collect_calls(events: list[tuple[float, Frame]], expected: dict[str, tuple[str, str]]) -> Calls:
    """Our calls from Asterisk's events, matched by attempt id AND, for a `Local/` patient, the patient's number
    in the channel name (a trunk's channel names no number; the attempt id, headed by the installation's id,
    is then enough)."""
    starts: dict[str, tuple[float, float]] = {}
    ends: dict[str, tuple[float, float]] = {}
    for arrived, frame in events:
        uniqueid = frame.get("Uniqueid", "")
        if uniqueid not in expected:
            continue
        number = expected[uniqueid][0]
        channel = frame.get("Channel", "")
        if not channel.startswith((f"Local/{number}@patients-", "PJSIP/trunk-")):
            continue  # someone else's test call with the same attempt id, on the shared sandbox
        stamp = float(frame.get("Timestamp", arrived))
        if frame.get("Event") == "Newchannel":
            starts.setdefault(uniqueid, (arrived, stamp))
        elif frame.get("Event") == "Hangup":
            ends.setdefault(uniqueid, (arrived, stamp))
    calls = [
        Call(a, expected[a][1], starts[a][0], ends[a][0], starts[a][1], ends[a][1])
        for a in expected
        if a in starts and a in ends
    ]
    return Calls(
        sorted(calls, key=lambda c: c.start), sorted(a for a in expected if a not in starts or a not in ends)
    )


def peak_concurrency(calls: list[Call]) -> int:
    edges = sorted([(c.start, 1) for c in calls] + [(c.end, -1) for c in calls], key=lambda e: (e[0], e[1]))
    busy = peak = 0
    for _, step in edges:
        busy += step
        peak = max(peak, busy)
    return peak


def over_rate(starts: list[float], cps: float) -> int:
    """Starts that had int(cps) others in the second before them: each one is over the calls/s limit."""
    k = int(cps)
    return sum(1 for i in range(k, len(starts)) if starts[i] - starts[i - k] < 1.0)


def peak_starts_per_second(starts: list[float]) -> int:
    """The most starts in any half-open window [t, t+1 s)."""
    best = 0
    j = 0
    for i in range(len(starts)):
        while starts[i] - starts[j] >= 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


@dataclass
class Idle:
    ramp: float
    steady: float
    tail: float
    ramp_end: float
    last_start: float


def idle_split(calls: list[Call], n: int, start: float, end: float) -> Idle:
    """Idle channel-seconds (N - busy, integrated): before all N were first busy, between, after the last start."""
    edges = sorted([(c.start, 1) for c in calls] + [(c.end, -1) for c in calls], key=lambda e: (e[0], e[1]))
    last_start = max(c.start for c in calls)
    ramp_end = None
    busy = 0
    t = start
    idle = {"ramp": 0.0, "steady": 0.0, "tail": 0.0}
    for when, step in edges:
        phase = "ramp" if ramp_end is None else ("tail" if t >= last_start else "steady")
        if phase == "steady" and when > last_start:  # split the interval at the last start
            idle["steady"] += max(0, n - busy) * (last_start - t)
            idle["tail"] += max(0, n - busy) * (when - last_start)
        else:
            idle[phase] += max(0, n - busy) * (when - t)
        t = when
        busy += step
        if ramp_end is None and busy >= n:
            ramp_end = when
    idle["tail"] += max(0, n - busy) * (end - t)
    return Idle(idle["ramp"], idle["steady"], idle["tail"], ramp_end or last_start, last_start)


def ideal_makespan(calls: list[Call], n: int, cps: float) -> float:
    """A dialler with zero overhead: the same calls, in the same order, with the same durations, N channels and
    calls/s limit; each call starts the moment a channel is free and the rate allows."""
    free = [0.0] * n  # when each channel is next free
    last = -1.0 / cps
    end = 0.0
    for call in sorted(calls, key=lambda c: c.start):
        slot = min(range(n), key=free.__getitem__)
        start = max(free[slot], last + 1.0 / cps)
        free[slot] = start + call.duration
        last = start
        end = max(end, free[slot])
    return end


def parse_log(err: str) -> list[tuple[float, str, str]]:
    """(wall time, 'dial' | 'call', attempt id) from the CLI's INFO log."""
    out = []
    for line in err.splitlines():
        m = LOG_LINE.match(line)
        if m:
            at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, like asctime
            out.append((at, m.group(2), m.group(3)))
    return out


@dataclass
class Gap:
    hangup: float  # the call's Hangup seen by the observer
    ended_log: float | None  # the service logged "call … ended" (attempt row ended, pacer slot released)
    dial_log: float | None  # the next attempt written as dialing, Originate about to go out
    next_start: float  # the next call's Newchannel


def steady_gaps(
    calls: list[Call], log: list[tuple[float, str, str]], ramp_end: float, last_start: float
) -> list[Gap]:
    """Each Hangup in steady state paired with the first later start (a slot freed -> refilled)."""
    ended = {a: t for t, kind, a in log if kind == "call"}
    dialled = {a: t for t, kind, a in log if kind == "dial"}
    starts = sorted((c.start, c.attempt_id) for c in calls)
    gaps: list[Gap] = []
    taken: set[str] = set()
    for call in sorted(calls, key=lambda c: c.end):
        if not ramp_end <= call.end < last_start:
            continue
        nxt = next(((s, a) for s, a in starts if s > call.end and a not in taken), None)
        if nxt is None:
            continue
        taken.add(nxt[1])
        gaps.append(Gap(call.end, ended.get(call.attempt_id), dialled.get(nxt[1]), nxt[0]))
    return gaps


def ms_stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"median {1000 * statistics.median(values):.0f} ms, p90 {1000 * p90:.0f} ms, max {1000 * values[-1]:.0f} ms"
