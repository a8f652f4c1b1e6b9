"""The day's figures from the world: the carrier's records (who hung up when, whose phone the clinic rang when)
and the clinic's Asterisk (every Originate the service placed), checked against the service's rows. Pure."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as time_of_day
from zoneinfo import ZoneInfo

from bench.day.profile import ANSWER_TARGET_S, HourLoad
from bench.day.run import CALLING_ENDS, DayRun
from bench.day.traffic import DayTraffic
from bench.lib.rawami import Frame
from bench.peak.config import CALLBACK_CAMPAIGNS
from bench.peak.occupancy import event_time
from dialer.core.ids import AttemptId

CALLING_STARTS = time_of_day(8, 0)
CALLER_PREFIX = "peak-dead-"  # the carrier's ChannelId of a caller (bench.peak.run.Driver._caller_id)


@dataclass(frozen=True)
class DayFigures:
    missed: int  # callers who hung up before an administrator answered (the carrier's and the queue's view)
    reached_in_15: int  # ... whose phone the clinic rang within 15 (compressed) minutes of their hang-up
    answered_in_15: int  # ... and who picked up that callback
    missed_in_capacity: int
    reached_in_15_in_capacity: int
    calls_outside_hours: int
    originates: int
    double_dials: int
    lost: int
    lost_detail: dict[str, int]
    rss_growth_mb: float
    answered_in_20s: float  # callers who reached the queue: picked up within 20 (compressed) seconds
    queued: int

    @property
    def callbacks_in_15min(self) -> float:
        return self.reached_in_15 / self.missed if self.missed else math.nan

    @property
    def in_capacity_share(self) -> float:
        return (
            self.reached_in_15_in_capacity / self.missed_in_capacity if self.missed_in_capacity else math.nan
        )


def list_call(frame: Frame) -> bool:
    """A call of the outbound lists (reminders, КОС): its patient's channel, an attempt of a campaign other than
    the callbacks, joins the same queue as the callers (without their number) but is not one of them."""
    attempt = AttemptId.try_parse(frame.get("Uniqueid", "").split(";", maxsplit=1)[0])
    return attempt is not None and attempt.campaign not in CALLBACK_CAMPAIGNS


def connected_numbers(run: DayRun) -> set[str]:
    """Callers an administrator picked up in the queue (AgentConnect carries the caller's number)."""
    return {
        f.get("CallerIDNum", "")
        for _, f in run.events
        if f.get("Event") == "AgentConnect" and not list_call(f)
    }


def hangups(run: DayRun) -> dict[int, float]:
    """Caller index -> when their own phone's channel on the carrier hung up."""
    ended: dict[int, float] = {}
    for arrived, frame in run.carrier_events:
        uniqueid = frame.get("Uniqueid", "")
        if frame.get("Event") == "Hangup" and uniqueid.startswith(CALLER_PREFIX):
            ended[int(uniqueid.removeprefix(CALLER_PREFIX))] = event_time(arrived, frame)
    return ended


def rung(run: DayRun) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Number -> when the clinic's calls arrived at it on the carrier, and when they were answered there."""
    rang: dict[str, list[float]] = {}
    answered: dict[str, list[float]] = {}
    channels: dict[str, str] = {}  # carrier channel -> the number it rings
    for arrived, frame in run.carrier_events:
        name, channel = frame.get("Event"), frame.get("Channel", "")
        if frame.get("Uniqueid", "").startswith(CALLER_PREFIX):
            continue
        if name == "Newchannel":
            number = frame.get("Exten", "").lstrip("+")
            if number.isdigit() and len(number) >= 11:
                channels[channel] = number
                rang.setdefault(number, []).append(event_time(arrived, frame))
        elif name == "Newstate" and frame.get("ChannelStateDesc") == "Up" and channel in channels:
            answered.setdefault(channels[channel], []).append(event_time(arrived, frame))
    return rang, answered


def originates(run: DayRun) -> list[tuple[float, str]]:
    """(time, attempt id) of every channel the service originated: its Uniqueid is the attempt's own id."""
    placed = []
    for arrived, frame in run.events:
        uniqueid = frame.get("Uniqueid", "")
        if frame.get("Event") == "Newchannel" and ";" not in uniqueid and AttemptId.try_parse(uniqueid):
            placed.append((event_time(arrived, frame), uniqueid))
    return placed


def answered_within(run: DayRun, seconds: float) -> tuple[float, int]:
    """Share of the callers who joined the queue that an administrator picked up within `seconds` (wall) of
    joining, from the clinic's Asterisk (QueueCallerJoin to AgentConnect, by the caller's number)."""
    joined: dict[str, float] = {}
    picked: dict[str, float] = {}
    for arrived, frame in run.events:
        name, number = frame.get("Event"), frame.get("CallerIDNum", "")
        if list_call(frame):
            continue
        if name == "QueueCallerJoin":
            joined.setdefault(number, event_time(arrived, frame))
        elif name == "AgentConnect":
            picked.setdefault(number, event_time(arrived, frame))
    if not joined:
        return math.nan, 0
    quick = sum(1 for n, at in joined.items() if n in picked and picked[n] - at <= seconds)
    return quick / len(joined), len(joined)


def outside_hours(placed: list[tuple[float, str]], offset_s: float, zone: str) -> int:
    tz = ZoneInfo(zone)
    count = 0
    for at, _ in placed:
        local = datetime.fromtimestamp(at + offset_s, UTC).astimezone(tz).time()
        count += not (CALLING_STARTS <= local < CALLING_ENDS)
    return count


def lost(
    run: DayRun, missed: set[str], connected: set[str], answered: dict[str, list[float]]
) -> dict[str, int]:
    """What happened in the world but is missing in the database."""
    tasks = {str(t["phone"]).lstrip("+"): t for t in run.tasks}
    logged = {str(c["caller"]).lstrip("+") for c in run.calls}
    contacted = {n for n, t in tasks.items() if t["state"] == "contacted" or t.get("contacted_at")}
    # A callback whose patient picked up only after the run stopped the service (the drain's cap) was seen by
    # no node: it is the run's end, not a loss.
    answered_in_run = {n for n, times in answered.items() if any(t <= run.stopped for t in times)}
    return {
        "missed call without a callback task": len(missed - tasks.keys()),
        "answered call not in the journal": len(connected - logged),
        "answered callback not recorded as contact": len((answered_in_run & tasks.keys()) - contacted),
    }


def day_figures(run: DayRun, day: DayTraffic, loads: list[HourLoad]) -> DayFigures:
    traffic = day.traffic
    deadline = traffic.scale.wall(traffic.profile.deadline_real)
    connected = connected_numbers(run)
    ended = hangups(run)
    rang, answered = rung(run)
    in_capacity = {load.hour for load in loads if load.in_capacity}
    missed = [c for c in traffic.callers if c.digits not in connected and c.index in ended]
    reached = answered_in = missed_cap = reached_cap = 0
    for caller in missed:
        hung_up = ended[caller.index]
        ring = any(hung_up <= t <= hung_up + deadline for t in rang.get(caller.digits, []))
        reached += ring
        answered_in += any(hung_up <= t <= hung_up + deadline for t in answered.get(caller.digits, []))
        if day.hour_of[caller.index] in in_capacity:
            missed_cap += 1
            reached_cap += ring
    placed = originates(run)
    in_20s, queued = answered_within(run, traffic.scale.wall(ANSWER_TARGET_S))
    per_attempt = Counter(uid for _, uid in placed)
    detail = lost(run, {c.digits for c in missed}, connected, answered)
    return DayFigures(
        missed=len(missed),
        reached_in_15=reached,
        answered_in_15=answered_in,
        missed_in_capacity=missed_cap,
        reached_in_15_in_capacity=reached_cap,
        calls_outside_hours=outside_hours(placed, run.offset_s, run.zone),
        originates=len(placed),
        double_dials=sum(n - 1 for n in per_attempt.values()),
        lost=sum(detail.values()),
        lost_detail=detail,
        rss_growth_mb=run.rss_growth_mb,
        answered_in_20s=in_20s,
        queued=queued,
    )
