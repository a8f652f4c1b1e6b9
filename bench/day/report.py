"""The day's printout: the offered load by hour (Erlang C), what the world saw, and the last line. Pure."""

from __future__ import annotations

import math

from bench.day.measure import DayFigures
from bench.day.profile import HourLoad
from bench.day.run import DayRun
from bench.day.traffic import DayTraffic


def load_table(loads: list[HourLoad], day: DayTraffic, admins: int) -> list[str]:
    lines = [
        f"  offered load by hour, {admins} administrators (Erlang C on the hour's rate and mean talk time):"
    ]
    for load in loads:
        played = (
            f"{len(day.callers_in(load.hour)):4d} played" if load.hour in day.window.hours else "  not played"
        )
        verdict = "in capacity" if load.in_capacity else "BEYOND capacity"
        lines.append(
            f"    {load.hour:02d}:00 {load.calls:6.1f} calls {load.erlangs:5.2f} E  P(wait) {load.waits:4.2f}  "
            f"answered in 20 s {load.answered_in_20s:4.2f}  {verdict:15s} {played}"
        )
    return lines


def share(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def predicted_in_20s(loads: list[HourLoad], day: DayTraffic) -> float:
    """Erlang C's answered-within-20 s over the played hours, weighted by the calls played in each."""
    played = [(load, len(day.callers_in(load.hour))) for load in loads if load.hour in day.window.hours]
    total = sum(n for _, n in played)
    return sum(load.answered_in_20s * n for load, n in played) / total if total else math.nan


def body(figures: DayFigures, run: DayRun) -> list[str]:
    t0 = run.t0
    kill = f"{run.killed_at - t0:.0f} s" if run.killed_at else "never"
    back = f"{run.back_at - run.killed_at:.1f} s later" if run.back_at and run.killed_at else "never"
    return [
        f"  leader SIGKILLed at {kill}, service back {back}; second node: {run.standby}",
        f"  answered within 20 s: {share(figures.answered_in_20s)} of {figures.queued} callers who reached the "
        "queue (QueueCallerJoin to AgentConnect)",
        f"  missed callers (the carrier's hang-ups without an administrator): {figures.missed}",
        f"  their phone rung by a callback within 15 min: {figures.reached_in_15} "
        f"({share(figures.callbacks_in_15min)}); answered it: {figures.answered_in_15}",
        f"  in in-capacity hours: {figures.reached_in_15_in_capacity}/{figures.missed_in_capacity} "
        f"({share(figures.in_capacity_share)})",
        f"  the service's Originates: {figures.originates}; outside 08:00-21:00 the clinic's time: "
        f"{figures.calls_outside_hours}; one attempt dialled twice: {figures.double_dials}",
        f"  lost: {figures.lost} {figures.lost_detail}",
        f"  rss growth after warm-up: {figures.rss_growth_mb:.1f} MB ({run.rss_samples} samples); "
        f"service ERROR lines: {len(run.service_errors)}",
        *rss_lines(run),
        f"  rows: {len(run.calls)} calls, {len(run.tasks)} callback tasks, {len(run.attempts)} attempts",
    ]


def rss_lines(run: DayRun) -> list[str]:
    """Each process's RSS at its start, at each quarter of its life and at its end, and its growth over the last
    half: a leak grows through the last half, a cache or a new role (the standby taking over) levels off."""
    lines = []
    for process in run.rss_course:
        samples = process["samples"]
        if len(samples) < 5:
            continue
        points = [samples[round(q * (len(samples) - 1) / 4)] for q in range(5)]
        course = " → ".join(f"{mb:.0f}" for _, mb in points)
        lines.append(
            f"    {process['node']} (pid {process['pid']}), {points[0][0]:.0f}-{points[-1][0]:.0f} s: {course} MB; "
            f"last half {points[-1][1] - points[2][1]:+.1f} MB"
        )
    return lines


def last_line(figures: DayFigures, reminders_texted: float) -> str:
    rss = "nan" if math.isnan(figures.rss_growth_mb) else f"{round(figures.rss_growth_mb)}"
    return (
        f"clinic_day: callbacks_in_15min={share(figures.callbacks_in_15min)} "
        f"reminders_unreached_texted={share(reminders_texted)} "
        f"calls_outside_hours={figures.calls_outside_hours} double_dials={figures.double_dials} "
        f"lost={figures.lost} rss_growth_mb={rss}"
    )
