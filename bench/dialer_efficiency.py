"""Dialler efficiency on the real Asterisk: how close a campaign comes to keeping N channels busy.

    .venv/bin/python -m bench.dialer_efficiency                        # 120 patients, N=10, 5 calls/s
    .venv/bin/python -m bench.dialer_efficiency --channels 20 --cps 10 --mix 1:150,5:20,2:20,7:10

A campaign of simulated patients (tests/asterisk/patients.conf: `…1` answers and confirms, `…5` cancels,
`…2` busy, `…7` answers and stays silent) goes through the real
`dialer campaign run reminders --date … --until-done`: one calling window around now, one attempt per patient,
SMS provider "none". An independent raw AMI connection (bench/lib/rawami.py, logged in with the sandbox
credentials) keeps every event with its arrival time. Per call (the `;1` leg whose Uniqueid is the attempt id
`reminders:<target>:1`, and whose channel dials the patient's number): start = its Newchannel, end = its
Hangup.

  makespan   first Newchannel -> last Hangup
  bound      sum(call durations) / N: the makespan of a dialler that never leaves a channel idle
  ratio      makespan / bound (target <= 1.05)
  peak       most calls up at once (must never exceed N); most Newchannels in any 1 s (limit: calls/s)

The idle channel-time (N x makespan - sum of durations) is split into ramp-up (before all N channels were
first busy), steady state and tail (after the last call started), and the steady-state gaps are traced through
the CLI's own log (INFO: "call … ended", "dial …"): Hangup seen -> attempt ended in the service -> next
attempt written and Originate sent -> its Newchannel.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import re
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.campaign import (
    Ami,
    CampaignHome,
    CliRun,
    import_list,
    mix_summary,
    parse_mix,
    run_reminders,
    write_home,
)
from bench.lib.rawami import Frame, RawAmi
from dialer.sandbox import Sandbox

DEFAULT_MIX = "1:90,5:12,2:12,7:6"
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
    """Our calls from Asterisk's events, matched by attempt id AND the patient's number in the channel name."""
    starts: dict[str, tuple[float, float]] = {}
    ends: dict[str, tuple[float, float]] = {}
    for arrived, frame in events:
        uniqueid = frame.get("Uniqueid", "")
        if uniqueid not in expected:
            continue
        number = expected[uniqueid][0]
        if not frame.get("Channel", "").startswith(f"Local/{number}@patients-"):
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


def report(args: argparse.Namespace, run: CliRun, calls: Calls) -> float:
    cs = calls.calls
    n = args.channels
    first, last = min(c.start for c in cs), max(c.end for c in cs)
    makespan = last - first
    total = sum(c.duration for c in cs)
    bound = total / n
    ratio: float = makespan / bound
    ts_makespan = max(c.end_ts for c in cs) - min(c.start_ts for c in cs)
    ts_bound = sum(c.end_ts - c.start_ts for c in cs) / n
    ideal = ideal_makespan(cs, n, args.cps)
    peak = peak_concurrency(cs)
    starts = sorted(c.start_ts for c in cs)
    dials = sorted(t for t, kind, _ in parse_log(run.err) if kind == "dial")
    peak_rate = peak_starts_per_second(starts)
    min_gap = min((b - a for a, b in itertools.pairwise(starts)), default=0.0)
    by_kind: dict[str, list[float]] = {}
    for c in cs:
        by_kind.setdefault(c.behaviour, []).append(c.duration)
    print(
        f"\ndialer_efficiency: {len(cs)} calls ({mix_summary(parse_mix(args.mix))}), N={n} channels, "
        f"{args.cps:g} calls/s, 1 attempt each"
    )
    print(
        "  call durations (Newchannel -> Hangup of the ;1 leg): "
        + ", ".join(f"…{k}: {statistics.median(v):.2f} s" for k, v in sorted(by_kind.items()))
    )
    if calls.unmatched:
        print(f"  WARNING: {len(calls.unmatched)} attempts without both events: {calls.unmatched[:5]}")
    print(f"  {'measure':<44}{'value':>12}  {'target / limit':<16}")
    rows = [
        ("makespan (first Newchannel -> last Hangup)", f"{makespan:.2f} s", ""),
        ("lower bound = sum(durations) / N", f"{bound:.2f} s", f"sum {total:.1f} s"),
        ("ratio makespan / bound", f"{ratio:.3f}", "<= 1.05 " + ("met" if ratio <= 1.05 else "MISSED")),
        ("  same from Asterisk's own Timestamps", f"{ts_makespan / ts_bound:.3f}", ""),
        ("zero-overhead dialler, same order/limits", f"{ideal:.2f} s", "simulated"),
        ("ratio makespan / zero-overhead makespan", f"{makespan / ideal:.3f}", "dialler's own cost"),
        ("peak concurrent calls", f"{peak}", f"<= {n} " + ("ok" if peak <= n else "EXCEEDED")),
        ("peak Newchannels in any 1 s", f"{peak_rate}", f"limit {args.cps:g}/s"),
        ("smallest gap between two starts", f"{1000 * min_gap:.0f} ms", f"pacer {1000 / args.cps:.0f} ms"),
        ("starts over the limit (>cps in 1 s)", f"{over_rate(starts, args.cps)}", "should be 0"),
        (
            "  same from the CLI's 'dial …' log lines",
            f"{over_rate(dials, args.cps)}",
            f"min gap {1000 * min((b - a for a, b in itertools.pairwise(dials)), default=0.0):.0f} ms",
        ),
        ("CLI wall time (start -> exit)", f"{run.wall:.2f} s", ""),
        ("  CLI start -> first Newchannel", f"{first - run.started:.2f} s", ""),
        ("  last Hangup -> CLI exit", f"{run.ended - last:.2f} s", ""),
    ]
    for name, value, note in rows:
        print(f"  {name:<44}{value:>12}  {note:<16}")
    idle = idle_split(cs, n, first, last)
    lost = n * makespan - total
    print(f"  idle channel-time N*makespan - sum = {lost:.1f} channel-s = {lost / n:.2f} s of makespan:")
    print(
        f"    ramp-up (until all {n} busy, {idle.ramp_end - first:.2f} s): "
        f"{idle.ramp:.1f} ch-s = {idle.ramp / n:.2f} s of makespan "
        f"(the calls/s limit alone costs N(N-1)/2/cps = {n * (n - 1) / 2 / args.cps:.1f} ch-s)"
    )
    print(f"    steady state: {idle.steady:.1f} ch-s = {idle.steady / n:.2f} s of makespan")
    print(
        f"    tail (after the last start, {last - idle.last_start:.2f} s): "
        f"{idle.tail:.1f} ch-s = {idle.tail / n:.2f} s of makespan"
    )
    gaps = steady_gaps(cs, parse_log(run.err), idle.ramp_end, idle.last_start)
    print(
        f"    steady-state refills ({len(gaps)}): Hangup -> next Newchannel "
        f"{ms_stats([g.next_start - g.hangup for g in gaps])}"
    )
    hops = [(g.hangup, g.ended_log, g.dial_log, g.next_start) for g in gaps]
    traced = [(h, e, d, s) for h, e, d, s in hops if e is not None and d is not None]
    if traced:
        print(f"      Hangup -> 'call … ended' logged   {ms_stats([e - h for h, e, _, _ in traced])}")
        print(f"      'ended' -> next 'dial …' logged   {ms_stats([d - e for _, e, d, _ in traced])}")
        print(f"      'dial …' -> its Newchannel        {ms_stats([s - d for _, _, d, s in traced])}")
        slow = [d for _, e, d, _ in traced if d - e > 0.02]
        paced = [
            d
            for d in slow
            if d in dials
            and dials.index(d) > 0
            and abs(d - dials[dials.index(d) - 1] - 1.0 / args.cps) < 0.015
        ]
        print(
            f"      refills slower than 20 ms from 'ended' to 'dial': {len(slow)}; of these, {len(paced)} went out\n"
            f"      1/cps (±15 ms) after the previous dial, i.e. were held by the calls/s limit, not by overhead"
        )
    return ratio


def save(
    path: Path,
    args: argparse.Namespace,
    run: CliRun,
    expected: dict[str, tuple[str, str]],
    events: list[tuple[float, Frame]],
) -> None:
    data = {
        "args": {"mix": args.mix, "channels": args.channels, "cps": args.cps},
        "run": {"code": run.code, "out": run.out, "err": run.err, "started": run.started, "ended": run.ended},
        "expected": expected,
        "events": events,
    }
    path.write_bytes(gzip.compress(json.dumps(data, ensure_ascii=False).encode("utf-8")))


def analyze(args: argparse.Namespace) -> None:
    data = json.loads(gzip.decompress(Path(args.analyze).read_bytes()))
    for key, value in data["args"].items():
        setattr(args, key, value)
    run = CliRun(**data["run"])
    expected = {k: (v[0], v[1]) for k, v in data["expected"].items()}
    report(args, run, collect_calls([(t, f) for t, f in data["events"]], expected))


async def main_async(args: argparse.Namespace) -> None:
    creds = Sandbox().up(sys.stderr)
    mix = parse_mix(args.mix)
    with tempfile.TemporaryDirectory(prefix="bench-efficiency-") as tmp:
        home = write_home(
            Path(tmp),
            Ami(creds.host, creds.port, creds.username, creds.secret),
            mix,
            max_channels=args.channels,
            calls_per_second=args.cps,
            seed=args.seed,
        )
        await import_list(home)
        observer = await RawAmi.logged_in(creds.host, creds.port, creds.username, creds.secret)
        try:
            sys.stderr.write(
                f"running {sum(mix.values())} patients through `dialer campaign run reminders "
                f"--until-done` (N={args.channels}, {args.cps:g} calls/s)...\n"
            )
            run = await run_reminders(home, timeout=args.timeout, log_level="INFO")
            await asyncio.sleep(1.0)
        finally:
            await observer.close()
        expected = placed_attempts(home)
    report(args, run, collect_calls(observer.events, expected))
    if args.save:
        save(Path(args.save), args, run, expected, observer.events)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mix", default=DEFAULT_MIX, help=f"patients per behaviour (default {DEFAULT_MIX})")
    p.add_argument("--channels", type=int, default=10, help="max channels N (default 10)")
    p.add_argument("--cps", type=float, default=5.0, help="calls_per_second limit (default 5)")
    p.add_argument("--seed", type=int, default=None, help="seed for the order of the patients")
    p.add_argument("--timeout", type=float, default=1200.0)
    p.add_argument("--save", help="keep the run (events, CLI log) in this .json.gz for --analyze")
    p.add_argument("--analyze", help="report on a run kept with --save instead of running one")
    args = p.parse_args(argv)
    if args.analyze:
        analyze(args)
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
