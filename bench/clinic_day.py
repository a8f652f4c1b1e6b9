"""A simulated clinic day, compressed, on the real Asterisk sandbox: the day's inbound calls shaped by the
clinic's hourly profile, 5 simulated administrators, the service as real `dialer run` processes on PostgreSQL
(or SQLite), its leader SIGKILLed once mid-day; figures from the world (the carrier's and Asterisk's records).

    .venv/bin/python -m bench.clinic_day                          # 08-20, ~1,000 calls, x6, PostgreSQL, 2 nodes
    .venv/bin/python -m bench.clinic_day --scale 0.2 --hours 10-12  # a quick check: ~46 calls, 20 min
    .venv/bin/python -m bench.clinic_day --database sqlite --nodes 1  # one node, restarted after the kill

Compression: x6, as bench.peak_hour and for its reason: the sandbox's fixed timings (the 4.4 s greeting, the
simulated administrators' 1 s ring, the carrier's 2 s ring, Asterisk's whole-second queue rounds) are real
seconds; at x6 they stand for 6-26 s of the clinic's time, at x12 the queue's own timings left the
administrators idle for a quarter of the hour. A whole day is therefore 2 h of wall time.

The outbound lists play beside the inbound calls: tomorrow's 300 reminders and today's 100 КОС recalls (at
--scale 1.0; scaled like the calls), imported with `dialer import`, on carrier numbers whose far ends behave as
patients do (bench/day/outbound.py), dialled by the nodes in windows placed inside the played hours, the SMS
taken by a local Twilio-compatible server. `reminders_unreached_texted` is the share of the reminder patients
the calls did not reach (their phone on the carrier pressed no menu key on a call from the clinic; wrong
numbers and rows without SMS consent aside) that the server got exactly one SMS for.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.day.measure import day_figures
from bench.day.outbound import generate_outbound
from bench.day.outbound_figures import outbound_figures, outbound_lines
from bench.day.profile import TALK_REAL, hour_loads
from bench.day.report import body, last_line, load_table, predicted_in_20s, share
from bench.day.run import DayDriver, DayRun
from bench.day.traffic import DayTraffic, Window, generate_day
from bench.peak_hour import parse_range
from dialer.sandbox import Sandbox


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse_hours(text: str) -> Window:
    first, _, end = text.partition("-")
    try:
        return Window(int(first), int(end))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"want FIRST-END local hours within 8-20, e.g. 10-12, not {text!r}"
        ) from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.clinic_day", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="share of the day's 1,000 calls (1.0; 0.2 quick)")
    p.add_argument("--hours", type=parse_hours, default=Window(), help="the clinic's hours played (8-20)")
    p.add_argument("--compression", type=float, default=6.0, help="the clinic's seconds per wall second (6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--admins", type=int, default=5, choices=range(1, 10), metavar="1..9")
    p.add_argument("--talk", type=parse_range, default=TALK_REAL, help="talk seconds LOW:HIGH (300:420)")
    p.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    p.add_argument(
        "--nodes",
        type=int,
        choices=(1, 2),
        default=2,
        help="2: a standby takes over from the killed leader by itself; 1: the leader is restarted (2)",
    )
    p.add_argument("--keep", help="keep the nodes' homes (config, service.log, SQLite) under this path")
    p.add_argument("--save", help="write the raw run (both Asterisks' events, the rows) to this .json.gz")
    p.add_argument(
        "--analyze",
        help="reprint the figures of a --save file, given the run's own options; nothing is dialled",
    )
    p.add_argument("--force", action="store_true", help="run even though pytest is running")
    return p


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def play(args: argparse.Namespace, day: DayTraffic, base: Path, database_url: str | None) -> DayRun:
    box = Sandbox()
    creds = box.credentials() if box.is_running() else box.up(sys.stderr)
    kill_at = random.Random(args.seed).uniform(0.4, 0.6) * day.traffic.span
    taken = {c.digits for c in day.traffic.callers}
    outbound = generate_outbound(args.scale, args.seed, taken)
    driver = DayDriver(
        day, creds, box, base, database_url=database_url, nodes=args.nodes, kill_at=kill_at, outbound=outbound
    )
    return await driver.run_day(log=log)


def run(args: argparse.Namespace, day: DayTraffic, base: Path) -> DayRun:
    if args.database == "sqlite":
        return asyncio.run(play(args, day, base, None))
    from tests.postgres_plugin import TEMPLATE, start_cluster, stop_cluster

    cluster = start_cluster()
    try:
        cluster.sql(f"CREATE DATABASE clinic_day TEMPLATE {TEMPLATE}")
        return asyncio.run(play(args, day, base, cluster.url("clinic_day")))
    finally:
        stop_cluster(cluster)


def load(path: str) -> DayRun:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    for key in ("events", "carrier_events"):
        raw[key] = [(at, frame) for at, frame in raw[key]]
    return DayRun(**raw)


def report(args: argparse.Namespace, day: DayTraffic, result: DayRun, what: str) -> None:
    loads = hour_loads(1000 * args.scale, args.admins, args.talk)
    figures = day_figures(result, day, loads)
    outbound = outbound_figures(
        result.events,
        result.carrier_events,
        result.attempts,
        result.sms,
        result.lists,
        result.recall_rows,
        result.reminder_rows,
    )
    figures = dataclasses.replace(figures, double_dials=figures.double_dials + outbound.dialled_at_once)
    print(
        f"clinic day {args.hours.first:02d}:00-{args.hours.end:02d}:00 x{args.compression:g}, scale {args.scale}, "
        f"seed {args.seed}, {len(day.traffic.callers)} calls, talk {args.talk[0]:.0f}-{args.talk[1]:.0f} s, "
        f"{args.admins} administrators, {args.database}, {args.nodes} node(s); {what}"
    )
    print("\n".join(load_table(loads, day, args.admins)))
    print("\n".join(body(figures, result)))
    print("\n".join(outbound_lines(outbound)))
    print(
        f"  Erlang C's answered within 20 s for the played calls (the model, no callbacks): "
        f"{share(predicted_in_20s(loads, day))}"
    )
    for line in result.service_errors[:5]:
        print(f"    {line[:200]}")
    print(last_line(figures, outbound.unreached_texted))


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    day = generate_day(args.hours, args.scale, args.admins, args.talk, args.compression, args.seed)
    if args.analyze:
        report(args, day, load(args.analyze), f"reprinted from {args.analyze}")
        return
    others = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True, check=False).stdout
    if others.strip() and not args.force:
        sys.exit("pytest is running: the figures would be skewed; --force")
    load_before = load_average()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="clinic-day-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        result = run(args, day, base)
    if args.save:
        with gzip.open(args.save, "wt", encoding="utf-8") as out:
            json.dump(dataclasses.asdict(result), out)
    what = f"{time.time() - started:.0f} s wall; load average {load_before} before, {load_average()} after"
    report(args, day, result, what)


if __name__ == "__main__":
    main()
