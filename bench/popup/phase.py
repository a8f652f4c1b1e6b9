"""One measured phase: the operators' browsers (another process), the other AMI traffic, the pop-up calls."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.lib.paths import REPO
from bench.popup.server import RAMP_SECONDS, TICK, WARMUP_POPUPS, Phase, Server, schedule_popup
from bench.web_ami import Background, Timeline
from bench.webdb.volume import (
    PASSWORD,
)


async def open_clients(
    server: Server, mode: str, args: argparse.Namespace, users: list[tuple[str, str]]
) -> tuple[asyncio.subprocess.Process, dict[str, Any], list[float]]:
    """The operators' browsers, logged in (and the event loop's lag while they logged in)."""
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
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.web_clients",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**27,
    )
    await tell(proc, config)
    ready: dict[str, Any] = json.loads(await asyncio.wait_for(pipes(proc)[1].readline(), 600))
    print(
        f"  {mode}: {ready['clients']} operators logged in through /login in {ready['login_s']:.1f} s"
        + (", /ws open" if mode == "push" else ", polling"),
        flush=True,
    )
    return proc, ready, list(server.lag)


def pipes(proc: asyncio.subprocess.Process) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    if proc.stdin is None or proc.stdout is None:
        raise RuntimeError("the clients' process has no pipes")
    return proc.stdin, proc.stdout


async def tell(proc: asyncio.subprocess.Process, message: object) -> None:
    """One line to the clients' process: the JSON config, or a bare command."""
    stdin, _ = pipes(proc)
    stdin.write((message if isinstance(message, str) else json.dumps(message)).encode() + b"\n")
    await stdin.drain()


async def close_clients(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """Stop the browsers; what they received (cards with their arrival times, poll round trips)."""
    await tell(proc, "stop")
    result: dict[str, Any] = json.loads(await asyncio.wait_for(pipes(proc)[1].readline(), 120))
    await proc.wait()
    return result


def warm_up(server: Server, timeline: Timeline, users: int, start: float, rate: float) -> float:
    """Warm-up pop-ups (not measured) during the ramp; the instant the measured ones start from."""
    loop = asyncio.get_running_loop()
    at = start + RAMP_SECONDS - WARMUP_POPUPS / rate
    for _ in range(WARMUP_POPUPS):
        schedule_popup(server, timeline, loop, users, at, measured=False)
        at += server.rng.expovariate(rate)
    return at


def schedule_measured(
    server: Server, timeline: Timeline, users: int, at: float, args: argparse.Namespace
) -> float:
    """The measured pop-ups from `at`, Poisson at the given rate; the instant of the last one."""
    loop = asyncio.get_running_loop()
    server.waiting = args.popups
    server.all_pushed.clear()
    for _ in range(args.popups):
        schedule_popup(server, timeline, loop, users, at, measured=True)
        at += server.rng.expovariate(args.rate)
    return at


def mark_received(server: Server, result: dict[str, Any]) -> None:
    for user, call, t, kind, _state in result["got"]:
        popup = server.popups.get(call)
        if popup is not None and popup.user == user and kind == "card" and not popup.received:
            popup.received = t


@contextlib.asynccontextmanager
async def feeding(server: Server, timeline: Timeline, background: Background) -> AsyncIterator[None]:
    """The other traffic and the pop-up calls' frames handed to the server every tick, as they fall due."""
    stop = asyncio.Event()

    async def feeder() -> None:
        while not stop.is_set():
            now = time.perf_counter()
            data = background.due(now, float("inf")) + b"".join(timeline.due(now))
            if data:
                server.feed(data)
            await asyncio.sleep(TICK)

    task = asyncio.create_task(feeder())
    try:
        yield
    finally:
        stop.set()
        await task


async def run_phase(
    server: Server, mode: str, args: argparse.Namespace, templates: list[Any], users: list[tuple[str, str]]
) -> Phase:
    stop_lag = asyncio.Event()
    server.lag.clear()
    lagging = asyncio.create_task(server.monitor_lag(stop_lag))
    proc, ready, login_lag = await open_clients(server, mode, args, users)
    timeline = Timeline()
    server.popups = {}
    start = time.perf_counter() + 0.05
    background = Background(templates, args.background, start, server.id_base + 1000 * len(mode))
    async with feeding(server, timeline, background):
        # Ramp: the other traffic builds up to its steady state; warm-up pop-ups (not measured) meanwhile.
        at = warm_up(server, timeline, len(users), start, args.rate)
        await asyncio.sleep(max(0.0, start + RAMP_SECONDS - time.perf_counter()))
        # The measured pop-ups' frames are built before the measures start: building them blocks this process's
        # event loop (the server's too) for ~25-30 ms, which the loop's stalls must not count as the server's.
        last = schedule_measured(server, timeline, len(users), max(at, time.perf_counter() + 0.15), args)
        if args.gc_freeze:
            gc.freeze()  # as the service would once started: long-lived objects out of the collector's scans
        server.reset_measures()
        frames0, bytes0, calls0 = background.frames, background.bytes, background.started
        c0, t0 = time.process_time(), time.perf_counter()
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
        lookups_for = {fact: list(times) for fact, times in server.lookups_for.items()}
        stalls, connects, most_in_use = list(server.stalls), server.connects, server.most_in_use
        result = await close_clients(proc)
        stop_lag.set()
    await lagging
    # End every call cleanly before the next phase: the rest of the timeline and the other calls, at once.
    server.feed(b"".join(timeline.due(float("inf"))) + background.due(float("inf"), 0.0))
    await asyncio.sleep(1.0)
    mark_received(server, result)
    polls = [rtt for t, rtt in result["poll_rtts"] if t0 <= t <= t_end]
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
        lookups_for,
        polls,
        ready["login_s"],
        login_lag,
        stalls,
        connects,
        most_in_use,
        server.most_in_use_before,
    )
