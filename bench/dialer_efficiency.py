"""Dialler efficiency on the real Asterisk: how close a campaign comes to keeping N channels busy.

    .venv/bin/python -m bench.dialer_efficiency                        # 120 patients, N=10, 5 calls/s
    .venv/bin/python -m bench.dialer_efficiency --channels 20 --cps 10 --mix 1:150,5:20,2:20,7:10
    .venv/bin/python -m bench.dialer_efficiency --local                # the `Local/` patients instead

A campaign of simulated patients (`1` answers and confirms, `5` cancels, `2` busy, `7` answers and stays
silent) rung over the PJSIP trunk to the sandbox's carrier (bench/campaign.py CARRIER_PATIENTS: its people
wait for the menu, press about 12.5 s after answering; busy is a 486; the silent one is 30 s of the open
line's noise), or with `--local` tests/asterisk/patients.conf's `Local/` patients, goes through the real
`dialer campaign run reminders --date … --until-done`: one calling window around now, one attempt per patient,
SMS provider "none". An independent raw AMI connection (bench/lib/rawami.py, logged in with the sandbox
credentials) keeps every event with its arrival time. Per call (the channel whose Uniqueid is the attempt id:
the trunk's, or the `;1` leg that dials a `Local/` patient's number): start = its Newchannel, end = its
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
import statistics
import sys
import tempfile
from pathlib import Path

from bench.campaign import (
    Ami,
    CliRun,
    import_list,
    mix_summary,
    parse_mix,
    run_reminders,
    write_home,
)
from bench.efficiency.measure import (
    Call,
    Calls,
    collect_calls,
    ideal_makespan,
    idle_split,
    ms_stats,
    over_rate,
    parse_log,
    peak_concurrency,
    peak_starts_per_second,
    placed_attempts,
    steady_gaps,
)
from bench.lib.rawami import Frame, RawAmi
from dialer.sandbox import Sandbox

DEFAULT_MIX = "1:90,5:12,2:12,7:6"


def report(args: argparse.Namespace, run: CliRun, calls: Calls) -> float:
    """The table of the run against its baselines; the ratio makespan / bound."""
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
        f"{args.cps:g} calls/s, 1 attempt each, "
        f"{'Local/ patients' if getattr(args, 'local', False) else 'the carrier over the PJSIP trunk'}"
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
    report_idle(args, run, cs, dials)
    return ratio


def report_idle(args: argparse.Namespace, run: CliRun, cs: list[Call], dials: list[float]) -> None:
    """Where the channels sat idle: the ramp-up, the steady state's refills, the tail."""
    n = args.channels
    first, last = min(c.start for c in cs), max(c.end for c in cs)
    total = sum(c.duration for c in cs)
    idle = idle_split(cs, n, first, last)
    lost = n * (last - first) - total
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


def save(
    path: Path,
    args: argparse.Namespace,
    run: CliRun,
    expected: dict[str, tuple[str, str]],
    events: list[tuple[float, Frame]],
) -> None:
    data = {
        "args": {"mix": args.mix, "channels": args.channels, "cps": args.cps, "local": args.local},
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
            carrier=not args.local,
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
    p.add_argument(
        "--local",
        action="store_true",
        help="ring the Local/ patients of patients.conf instead of the carrier",
    )
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
