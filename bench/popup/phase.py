"""One measured phase: the operators' browsers (another process), the other AMI traffic, the pop-up calls."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import time
from typing import Any

from bench.lib.paths import REPO
from bench.popup.server import RAMP_SECONDS, TICK, WARMUP_POPUPS, Phase, Server, schedule_popup
from bench.web_ami import Background, Timeline
from bench.webdb.volume import (
    PASSWORD,
)


async def run_phase(
    server: Server, mode: str, args: argparse.Namespace, templates: list[Any], users: list[tuple[str, str]]
) -> Phase:
    loop = asyncio.get_running_loop()
    config = {
        "base": f"http://127.0.0.1:{server.port}",
        "users": users,
        "mode": mode,
        "poll_path": "/bench/poll",
        "poll_every": 1.0,
        "seed": args.seed + len(mode),
        "supervisors": [["boss", PASSWORD]] * args.supervisors,
        "clinic": "c1",
    }
    stop_lag = asyncio.Event()
    server.lag.clear()
    lagging = asyncio.create_task(server.monitor_lag(stop_lag))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.web_clients",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**27,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((json.dumps(config) + "\n").encode())
    await proc.stdin.drain()
    ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 600))
    login_lag = list(server.lag)
    print(
        f"  {mode}: {ready['clients']} operators logged in through /login in {ready['login_s']:.1f} s"
        + (", /ws open" if mode == "push" else ", polling"),
        flush=True,
    )

    timeline = Timeline()
    server.popups = {}
    start = time.perf_counter() + 0.05
    background = Background(templates, args.background, start, server.id_base + 1000 * len(mode))
    stop_feeding = asyncio.Event()

    async def feeder() -> None:
        while not stop_feeding.is_set():
            now = time.perf_counter()
            data = background.due(now, float("inf")) + b"".join(timeline.due(now))
            if data:
                server.feed(data)
            await asyncio.sleep(TICK)

    feeding = asyncio.create_task(feeder())
    # Ramp: the other traffic builds up to its steady state; warm-up pop-ups (not measured) meanwhile.
    at = start + RAMP_SECONDS - WARMUP_POPUPS / args.rate
    for _ in range(WARMUP_POPUPS):
        schedule_popup(server, timeline, loop, len(users), at, measured=False)
        at += server.rng.expovariate(args.rate)
    await asyncio.sleep(max(0.0, start + RAMP_SECONDS - time.perf_counter()))
    if args.gc_freeze:
        gc.freeze()  # what the service would do once started: long-lived objects out of the collector's scans
    server.lag.clear()
    server.stalls.clear()
    server.gc_pauses.clear()
    server.lookups.clear()
    frames0, bytes0, calls0 = background.frames, background.bytes, background.started
    c0, t0 = time.process_time(), time.perf_counter()
    at = max(at, t0 + 0.1)
    server.waiting = args.popups
    server.all_pushed.clear()
    for _ in range(args.popups):
        schedule_popup(server, timeline, loop, len(users), at, measured=True)
        at += server.rng.expovariate(args.rate)
    last = at
    await asyncio.sleep(max(0.0, last - time.perf_counter()))
    with contextlib.suppress(TimeoutError):  # a backlog: the cards still queued in Popups
        await asyncio.wait_for(server.all_pushed.wait(), args.max_tail)
    await asyncio.sleep(2.0 if mode == "push" else 2.5)  # the last pushes reach the pages / the next poll
    t_end = time.perf_counter()
    wall, cpu = t_end - t0, time.process_time() - c0
    frames, nbytes, calls = (
        background.frames - frames0,
        background.bytes - bytes0,
        background.started - calls0,
    )
    lag, pauses, lookups = list(server.lag), list(server.gc_pauses), list(server.lookups)
    stalls = list(server.stalls)
    proc.stdin.write(b"stop\n")
    await proc.stdin.drain()
    result = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))
    await proc.wait()
    stop_lag.set()
    stop_feeding.set()
    await feeding
    await lagging
    # End every call cleanly before the next phase: the rest of the timeline and the other calls, at once.
    server.feed(b"".join(timeline.due(float("inf"))) + background.due(float("inf"), 0.0))
    await asyncio.sleep(1.0)
    for user, call, t, kind, _state in result["got"]:
        popup = server.popups.get(call)
        if popup is not None and popup.user == user and kind == "card" and not popup.received:
            popup.received = t
    return Phase(
        mode,
        list(server.popups.values()),
        wall,
        cpu,
        result["cpu"],
        lag,
        pauses,
        frames,
        nbytes,
        calls,
        lookups,
        [rtt for t, rtt in result["poll_rtts"] if t0 <= t <= t_end],
        ready["login_s"],
        login_lag,
        stalls,
    )
