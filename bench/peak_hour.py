"""A simulated peak hour of missed calls on the real Asterisk: callbacks by deadline vs in the order missed.

    .venv/bin/python -m bench.peak_hour                           # 300 calls, 1 h compressed x6, seed 1
    .venv/bin/python -m bench.peak_hour --calls 45 --talk 300:420  # the Omsk seed's 5-7 min talk times
    .venv/bin/python -m bench.peak_hour --save run.json.gz         # keep the raw runs; --analyze reprints
    .venv/bin/python -m bench.peak_hour --local                    # callers as Local/ channels, not the carrier

The callers are the sandbox's carrier (the default): each calls the clinic's DID over the PJSIP trunk (an
Originate on the carrier's AMI, `PJSIP/100@clinic`, with the caller's number), and the service calls them back
over the trunk (`PJSIP/{number}@trunk`) to the carrier's people (…1 rings 2 s and answers, …3 rings out).
The carrier's timings (its 2 s ring, SIP's setup) are real seconds, not compressed.

The same seeded traffic (Poisson arrivals, each caller's patience, number and talk time) is played twice
against the real `dialer run` service on the sandbox, each time with a fresh data dir: first with
`[campaigns.callbacks] priority = "deadline"`, then with `priority = "fifo"` (the baseline: callbacks in the
order the calls were missed). Every real duration (the hour, talk times, patience, queue timeout, the
deadline, the minimum gap, ring timeouts) is divided by the compression factor; the inbound greeting (real
audio, 4.4 s), the simulated administrators' 1 s ring and Asterisk's queue timings (whole seconds: the test
queue's 1 s retry and 3 s ring round) are not. They cost 1 s x the factor in real terms, so the factor is 6
(a 6 s pick-up, an 18 s ring round close to the shipped 20 s) and not 12, at which the queue's own timings
left the administrators idle for ~25% of the hour while callers waited. See bench/README.md, "Benchmark 3".
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

from bench.lib.paths import REPO
from bench.peak.measure import figures
from bench.peak.report import header, table
from bench.peak.run import Driver, RunData
from bench.peak.traffic import GREETING_S, Profile, Scale, Traffic, generate
from bench.record_stream import BENCH_PORT, bench_sandbox
from dialer.sandbox import Sandbox
from dialer.sandbox.sandbox import AmiCredentials

POLICIES = ("deadline", "fifo")


def parse_range(text: str) -> tuple[float, float]:
    low, _, high = text.partition(":")
    a, b = float(low), float(high or low)
    if not 0 < a <= b:
        raise argparse.ArgumentTypeError(f"want LOW:HIGH seconds, e.g. 30:50, not {text!r}")
    return a, b


def profile_of(args: argparse.Namespace) -> Profile:
    return Profile(
        calls=args.calls,
        hour_real=args.hour * 60.0,
        admins=args.admins,
        abandon_share=args.abandon,
        talk_real=args.talk,
        no_answer_share=args.no_answer,
        priority_margin_real=getattr(args, "margin", 13.0) * 60.0,
    )


def busy_elsewhere() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def greeting_seconds(box: Sandbox) -> float | None:
    path = box.layout.prompts_dir / "inbound-greeting.wav"
    try:
        with wave.open(str(path)) as w:
            return float(w.getnframes() / w.getframerate())
    except (OSError, wave.Error):
        return None


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def snapshot(into: Path) -> str:
    """The committed `dialer` package (git archive HEAD), so that edits in progress in the shared working tree
    neither break nor change the service under measurement. Returns the commit."""
    data = subprocess.run(
        ["git", "archive", "HEAD", "dialer"], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return git("rev-parse", "--short", "HEAD")


async def run_all(args: argparse.Namespace, traffic: Traffic) -> tuple[list[RunData], float | None, str]:
    if args.sandbox == "own":
        # bench.record_stream's own sandbox (~/.cache/dialer/bench-sandbox, AMI port 5139): the integration
        # tests of other sessions add and remove the same simulated administrators on the shared one.
        box = bench_sandbox(args.port)
        started_box = not box.is_running()
        creds = box.up(sys.stderr)
    else:
        box, started_box = Sandbox(), False
        # A running sandbox is used as it is (no reload: that would load the working tree's config of the moment).
        creds = box.credentials() if box.is_running() else box.up(sys.stderr)
    try:
        return await run_policies(args, traffic, box, creds)
    finally:
        if started_box:
            box.down(sys.stderr)


async def run_policies(
    args: argparse.Namespace, traffic: Traffic, box: Sandbox, creds: AmiCredentials
) -> tuple[list[RunData], float | None, str]:
    greeting = greeting_seconds(box)
    if greeting is not None and abs(greeting - GREETING_S) > 0.3:
        log(f"warning: the greeting lasts {greeting:.2f} s, the traffic assumes {GREETING_S} s")
    runs = []
    with tempfile.TemporaryDirectory(prefix="peak-hour-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        source: Path | None = None
        code = "working tree" + (" (dirty)" if git("status", "--porcelain", "dialer") else "")
        if args.source == "head":
            source = Path(tmp) / "src"
            code = f"commit {snapshot(source)}"
        for policy in args.policies:
            started = time.time()
            driver = Driver(traffic, creds, box, base / policy, policy, source)
            log(
                f"{policy}: a fresh data dir ({base / policy}); the service runs {await driver.imported_from()}"
            )
            runs.append(await driver.run(log=log))
            log(f"{policy}: done in {time.time() - started:.0f} s")
    return runs, greeting, code


def save(
    path: Path, args: argparse.Namespace, runs: list[RunData], greeting: float | None, code: str
) -> None:
    payload = {
        "args": {k: v for k, v in vars(args).items() if k not in ("save", "analyze")},
        "greeting": greeting,
        "code": code,
        "runs": [dataclasses.asdict(r) for r in runs],
    }
    with gzip.open(path, "wt", encoding="utf-8") as out:
        json.dump(payload, out)


def load(path: Path) -> tuple[argparse.Namespace, list[RunData], float | None, str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        payload = json.load(f)
    args = argparse.Namespace(**payload["args"])
    args.talk = tuple(args.talk)
    runs = []
    for raw in payload["runs"]:
        raw["events"] = [(t, frame) for t, frame in raw["events"]]
        runs.append(RunData(**raw))
    return args, runs, payload["greeting"], str(payload.get("code", "?"))


def report(args: argparse.Namespace, runs: list[RunData], greeting: float | None, code: str) -> None:
    traffic = generate(
        profile_of(args), Scale(args.compression), args.seed, carrier=not getattr(args, "local", False)
    )
    print("\n".join(header(traffic, greeting)))
    when = [f"{r.policy} {datetime.fromtimestamp(r.t0, UTC):%Y-%m-%d %H:%M:%S} UTC" for r in runs]
    print(f"  runs: {', '.join(when)}; service code: {code}; {os.cpu_count()} cores")
    print()
    print("\n".join(table(traffic, [figures(r, traffic) for r in runs])))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.peak_hour", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=300, help="inbound calls in the hour (300)")
    p.add_argument("--compression", type=float, default=6.0, help="real seconds per wall second (6)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--admins", type=int, default=5, choices=range(1, 10), metavar="1..9")
    p.add_argument("--hour", type=float, default=60.0, help="real minutes the calls are spread over (60)")
    p.add_argument(
        "--talk", type=parse_range, default=(30.0, 50.0), help="real talk seconds LOW:HIGH (30:50)"
    )
    p.add_argument("--abandon", type=float, default=0.15, help="share of callers who give up at once (0.15)")
    p.add_argument("--no-answer", type=float, default=0.2, help="share of numbers that ring out (0.2)")
    p.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    p.add_argument(
        "--margin",
        type=float,
        default=13.0,
        help="real minutes before its deadline a first callback goes ahead of the queue (13; 0: never)",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="callers and called-back patients as Local/ channels (patients.conf) instead of the carrier",
    )
    p.add_argument(
        "--sandbox",
        choices=("own", "shared"),
        default="own",
        help="a sandbox of the benchmark's own (default, started and stopped here) or the shared one",
    )
    p.add_argument("--port", type=int, default=BENCH_PORT, help="AMI port of the own sandbox (5139)")
    p.add_argument(
        "--source",
        choices=("head", "worktree"),
        default="head",
        help="run the service from a snapshot of HEAD (default) or from the working tree as it is",
    )
    p.add_argument("--keep", help="keep each run's home folder (config, SQLite, service.log) under this path")
    p.add_argument("--save", help="write the raw runs (events and rows) to this .json.gz")
    p.add_argument("--analyze", help="reprint the figures from a --save file; nothing is dialled")
    p.add_argument("--force", action="store_true", help="run even though pytest is running")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.analyze:
        saved, runs, greeting, code = load(Path(args.analyze))
        report(saved, runs, greeting, code)
        return
    others = busy_elsewhere()
    if others and not args.force:
        sys.exit("pytest is running (" + "; ".join(others)[:200] + "): the figures would be skewed; --force")
    traffic = generate(
        profile_of(args), Scale(args.compression), args.seed, carrier=not getattr(args, "local", False)
    )
    runs, greeting, code = asyncio.run(run_all(args, traffic))
    if args.save:
        save(Path(args.save), args, runs, greeting, code)
    report(args, runs, greeting, code)


if __name__ == "__main__":
    main()
