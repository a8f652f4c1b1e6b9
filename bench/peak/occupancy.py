"""What the administrators did in a run, from Asterisk's own events: talks, occupancy, starvation, queue rings."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.lib.rawami import Frame
from bench.peak.config import callback_attempt
from bench.peak.run import ADMIN_CHANNEL, RunData


@dataclass(frozen=True)
class Talk:
    admin: str
    start: float  # the administrator's leg answered (Newstate Up)
    end: float  # ... hung up
    callback: bool
    number: str

    @property
    def length(self) -> float:
        return self.end - self.start


def admin_talks(events: list[tuple[float, Frame]]) -> list[Talk]:
    """Every answered leg of a simulated administrator (the `;2` half that runs [sim-admin])."""
    up: dict[str, float] = {}
    number: dict[str, str] = {}
    talks = []
    for arrived, frame in events:
        channel = frame.get("Channel", "")
        match = ADMIN_CHANNEL.match(channel)
        if match is None:
            continue
        if frame.get("CallerIDNum", "").isdigit():
            number[channel] = frame["CallerIDNum"]
        name = frame.get("Event")
        if name == "Newstate" and frame.get("ChannelStateDesc") == "Up":
            up.setdefault(channel, event_time(arrived, frame))
        elif name == "Hangup" and channel in up:
            callback = callback_attempt(frame.get("Uniqueid", "")) is not None
            talks.append(
                Talk(
                    match.group(1),
                    up.pop(channel),
                    event_time(arrived, frame),
                    callback,
                    number.get(channel, ""),
                )
            )
    return talks


def admin_legs(events: list[tuple[float, Frame]]) -> dict[str, list[tuple[float, float]]]:
    """Every leg of a simulated administrator, ringing included: Newchannel -> Hangup, by administrator."""
    born: dict[str, float] = {}
    legs: dict[str, list[tuple[float, float]]] = {}
    for arrived, frame in events:
        channel = frame.get("Channel", "")
        match = ADMIN_CHANNEL.match(channel)
        if match is None:
            continue
        if frame.get("Event") == "Newchannel":
            born[channel] = event_time(arrived, frame)
        elif frame.get("Event") == "Hangup" and channel in born:
            legs.setdefault(match.group(1), []).append((born.pop(channel), event_time(arrived, frame)))
    return legs


def merged(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def clip(spans: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(max(a, lo), min(b, hi)) for a, b in spans if b > lo and a < hi]


@dataclass(frozen=True)
class Occupancy:
    hour: float  # talk time / (admins x the compressed hour), the hour's window only
    hour_callbacks: float  # the callbacks' part of it
    run: float  # the same from the start until the last administrator hung up
    overlap: float  # seconds an administrator spent in two conversations at once (double booking)
    conversations: int
    busy_hour: float  # ringing or talking (any leg up), the hour's window
    overlaps: int  # conversations that began while the same administrator was still in another one


def occupancy(
    talks: list[Talk], legs: dict[str, list[tuple[float, float]]], admins: int, t0: float, span: float
) -> Occupancy:
    by_admin: dict[str, list[Talk]] = {}
    for talk in talks:
        by_admin.setdefault(talk.admin, []).append(talk)
    end = max((t.end for t in talks), default=t0 + span)
    hour = run = cb = overlap = 0.0
    for items in by_admin.values():
        spans = [(t.start, t.end) for t in items]
        hour += merged(clip(spans, t0, t0 + span))
        run += merged(clip(spans, t0, end))
        cb += merged(clip([(t.start, t.end) for t in items if t.callback], t0, t0 + span))
        overlap += sum(b - a for a, b in spans) - merged(spans)
    busy = sum(merged(clip(spans, t0, t0 + span)) for spans in legs.values())
    overlaps = 0
    for items in by_admin.values():
        ordered = sorted(items, key=lambda t: t.start)
        overlaps += sum(1 for a, b in itertools.pairwise(ordered) if b.start < a.end - 0.01)
    return Occupancy(
        hour / (admins * span),
        cb / (admins * span),
        run / (admins * max(end - t0, span)),
        overlap,
        len(talks),
        busy / (admins * span),
        overlaps,
    )


def queue_spans(events: list[tuple[float, Frame]]) -> list[tuple[float, float]]:
    """When each caller waited in a queue: QueueCallerJoin -> QueueCallerLeave/Abandon."""
    joined: dict[str, float] = {}
    spans = []
    for arrived, frame in events:
        name, uid = frame.get("Event"), frame.get("Uniqueid", "")
        if name == "QueueCallerJoin":
            joined[uid] = event_time(arrived, frame)
        elif name in ("QueueCallerLeave", "QueueCallerAbandon") and uid in joined:
            spans.append((joined.pop(uid), event_time(arrived, frame)))
    return spans


@dataclass(frozen=True)
class Starvation:
    """What held the first callbacks back, on a 50 ms grid over the run."""

    waiting_s: float  # seconds during which at least one missed call waited for its first attempt
    # ... of which someone was waiting in the queue (the dispatcher's rule: then no callback)
    queue_busy_share: float
    idle_admin_s: float  # administrator-seconds with no leg at all while a first callback waited
    idle_admin_queue_s: float  # ... of which someone was waiting in the queue


def starvation(data: RunData, legs: dict[str, list[tuple[float, float]]], admins: int) -> Starvation:
    waits = []
    for t in data.tasks:
        missed = stamp(t["first_missed_at"]) or 0.0
        first = stamp(t["first_attempt_at"]) or data.stopped
        waits.append((missed, first))
    queue = queue_spans(data.events)
    if not waits:
        return Starvation(0.0, 0.0, 0.0, 0.0)
    step = 0.05
    lo, hi = min(a for a, _ in waits), max(b for _, b in waits)
    n = int((hi - lo) / step) + 1

    def mask(spans: list[tuple[float, float]]) -> list[int]:
        counts = [0] * (n + 1)
        for a, b in spans:
            i, j = max(0, int((a - lo) / step)), min(n, int((b - lo) / step))
            if j > i:
                counts[i] += 1
                counts[j] -= 1
        out, level = [], 0
        for k in range(n):
            level += counts[k]
            out.append(level)
        return out

    waiting, queued = mask(waits), mask(queue)
    per_admin = [mask(spans) for spans in legs.values()]
    idle = [admins - len(per_admin) + sum(1 for m in per_admin if m[k] == 0) for k in range(n)]
    w = [k for k in range(n) if waiting[k]]
    return Starvation(
        len(w) * step,
        (sum(1 for k in w if queued[k]) / len(w)) if w else 0.0,
        sum(idle[k] for k in w) * step,
        sum(idle[k] for k in w if queued[k]) * step,
    )


def idle_while_queued(
    legs: dict[str, list[tuple[float, float]]],
    queue: list[tuple[float, float]],
    admins: int,
    lo: float,
    hi: float,
) -> float:
    """Administrator-seconds with no leg at all (not even ringing) while a caller waited in the queue."""
    step = 0.05
    n = int((hi - lo) / step)
    busy = [set[str]() for _ in range(n)]
    for admin, spans in legs.items():
        for a, b in spans:
            for k in range(max(0, int((a - lo) / step)), min(n, int((b - lo) / step) + 1)):
                busy[k].add(admin)
    queued = [False] * n
    for a, b in queue:
        for k in range(max(0, int((a - lo) / step)), min(n, int((b - lo) / step))):
            queued[k] = True
    return sum(admins - len(busy[k]) for k in range(n) if queued[k]) * step


@dataclass(frozen=True)
class QueueRings:
    """Administrator-seconds of the hour spent ringing for queue callers (Asterisk's ringall rounds)."""

    answered: float  # the ring of the administrator who then took the call
    lost_to_another: float  # rung in the same round, another administrator answered first
    caller_gone: (
        float  # rung in a round that ended unanswered: the caller's queue timeout or patience ran out
    )
    rounds_lost: int  # such rounds (callers who left while administrators' phones were ringing for them)


def queue_rings(events: list[tuple[float, Frame]], lo: float, hi: float) -> QueueRings:
    """AgentCalled -> AgentConnect / AgentRingNoAnswer per (administrator, caller), clipped to [lo, hi]."""
    ringing: dict[tuple[str, str], float] = {}
    ends: list[tuple[str, float, float, bool]] = []  # caller, start, end, this administrator answered
    connected: dict[str, list[float]] = {}
    for arrived, frame in events:
        name = frame.get("Event")
        if name not in ("AgentCalled", "AgentConnect", "AgentRingNoAnswer"):
            continue
        key = (frame.get("Interface", ""), frame.get("CallerIDNum", ""))
        at = event_time(arrived, frame)
        if name == "AgentCalled":
            ringing[key] = at
            continue
        if name == "AgentConnect":
            connected.setdefault(key[1], []).append(at)
        start = ringing.pop(key, None)
        if start is not None:
            ends.append((key[1], start, at, name == "AgentConnect"))
    answered = lost = gone = 0.0
    rounds: set[tuple[str, float]] = set()
    for caller, start, end, won in ends:
        seconds = max(0.0, min(end, hi) - max(start, lo))
        if won:
            answered += seconds
        elif any(abs(at - end) < 0.2 for at in connected.get(caller, [])):
            lost += seconds
        else:
            gone += seconds
            rounds.add((caller, round(end, 1)))
    return QueueRings(answered, lost, gone, len(rounds))


def stamp(value: Any) -> float | None:
    """A storage time (naive UTC text) as epoch seconds."""
    if value is None:
        return None
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


def event_time(arrived: float, frame: Frame) -> float:
    """Asterisk's own Timestamp (timestampevents = yes), else when the frame arrived."""
    try:
        return float(frame["Timestamp"])
    except (KeyError, ValueError):
        return arrived
