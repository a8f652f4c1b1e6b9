"""The pop-up benchmark's report: push latency, its parts, and polling as the ratio's other side."""

from __future__ import annotations

import argparse
import random
import statistics

from bench.lib.report import latency_ms, quantile, ratio
from bench.popup.costs import CardCosts
from bench.popup.server import Phase
from bench.web_env import describe
from bench.webdb.volume import (
    Built,
)


def model_poll(push: Phase, rtts: list[float], seed: int) -> list[float]:
    """What a 1 s poll at a random phase would have shown, from phase 1's own event times."""
    rng = random.Random(seed)
    rtt = statistics.median(rtts) if rtts else 0.002
    return [p.pushed - p.t0 + rng.random() * 1.0 + rtt for p in push.measured() if p.pushed]


def stalls(phase: Phase) -> str:
    busy = [lag for lag, cpu, _ in phase.stalls if cpu > 0.8 * lag]
    full = [lag for lag, _, gen2 in phase.stalls if gen2]
    listed = ", ".join(f"{1000 * lag:.0f}" for lag, _, _ in phase.stalls[:12])
    return (
        f"loop stalls over 20 ms: {len(phase.stalls)} ({listed}{' ...' if len(phase.stalls) > 12 else ''} ms); "
        f"the loop's thread was on CPU through {len(busy)} of them (else waiting: GIL, other processes); "
        f"a full (generation 2) GC ran during {len(full)} of them"
    )


def report(push: Phase, poll: Phase | None, costs: CardCosts, args: argparse.Namespace) -> None:
    """The push phase's load and latency, the card's costs, then the polling baseline and the ratio."""
    report_load(push, args)
    report_push(push)
    report_costs(push, costs, args)
    if poll is not None:
        report_poll(push, poll, args)


def report_load(push: Phase, args: argparse.Namespace) -> None:
    measured = push.measured()
    print(f"\n## Load ({push.mode} phase, {push.wall:.1f} s measured)")
    print(
        f"  other calls: {push.background_calls / push.wall:.1f} calls/s started, "
        f"{push.background_frames / push.wall:,.0f} frames/s, {push.background_bytes / push.wall / 1e6:.2f} MB/s "
        f"through AmiProtocol.data_received"
    )
    print(
        f"  pop-ups: {len(measured)} in {push.wall:.1f} s ({len(measured) / push.wall:.1f}/s), "
        f"to {args.operators} operators with /ws open; supervisors watching the board: {args.supervisors}"
    )
    print(
        f"  server process CPU: {100 * push.cpu / push.wall:.0f} % of one core (event loop + aiosqlite threads); "
        f"clients process: {100 * push.client_cpu / push.wall:.1f} %"
    )
    print(
        f"  event loop lag (5 ms sleeps): {latency_ms(push.lag)}; GC pauses: {len(push.gc_pauses)}, "
        f"max {1000 * max(push.gc_pauses, default=0):.1f} ms"
    )
    print(f"  {stalls(push)}")


def report_push(push: Phase) -> None:
    lat = push.latencies()
    measured = push.measured()
    to_push = [p.pushed - p.t0 for p in measured if p.pushed]
    print(
        f"\n## Pop-up over WebSocket: AgentCalled bytes -> card frame at the operator's client ({len(lat)} of "
        f"{len(measured)} received, {len(to_push)} pushed)"
    )
    print(f"  latency              {latency_ms(lat)}")
    to_client = [p.received - p.pushed for p in measured if p.pushed and p.received]
    print(
        f"    bytes -> pushed    {latency_ms(to_push)}   (parse, trackers, Popups queue, card lookup, json)"
    )
    print(
        f"    card lookup        {latency_ms(push.lookups)}   (SqlCardStore.card, every lookup of the phase)"
    )
    for fact, what in (("PhoneRinging", "for a ring"), ("CallerWaiting", "read ahead"), ("other", "other")):
        if push.lookups_for.get(fact):
            times = push.lookups_for[fact]
            print(f"      {what:<17}{latency_ms(times)}   ({len(times)} reads)")
    print(
        f"    database connections opened by the pool during the phase: {push.connects}; "
        f"the most in use at once: {push.most_in_use} (before the phase, while the operators logged in: "
        f"{push.most_in_use_before})"
    )
    print(f"    pushed -> client   {latency_ms(to_client)}   (outbox, writer task, TCP, client loop)")
    late = [p.t0 - p.due for p in measured if p.t0]
    print(f"    (timer lateness before data_received: {latency_ms(late)}; not counted above)")
    print(
        "  from the frame's due instant (lateness counted: an upper bound) "
        f"{latency_ms(push.latencies(from_due=True))}"
    )


def report_costs(push: Phase, costs: CardCosts, args: argparse.Namespace) -> None:
    print(
        f"  one card lookup with nothing else running ({len(costs.product)} known numbers): SqlCardStore.card "
        f"{latency_ms(costs.product)}; the same {costs.statements:.0f} statements through {costs.bare} "
        f"{latency_ms(costs.sqlite)}; "
        f"{costs.hops:.0f} thread round trips per card"
    )
    if costs.seven is not None:
        print(
            f"  the same cards through the seven queries on SQLAlchemy's asyncio path (the card before it was one "
            f"statement): {latency_ms(costs.seven)}"
        )
    objects, full, frozen = costs.full_gc
    print(
        f"  a full GC of the server process: {objects:,} objects tracked, gc.collect() {1000 * full:.0f} ms; "
        f"after gc.freeze() {1000 * frozen:.1f} ms"
    )
    big = [x for x in push.login_lag if x > 0.020]
    print(
        f"  while the {args.operators} operators logged in ({push.login_s:.1f} s): event loop lag "
        f"{latency_ms(push.login_lag)}, {len(big)} stalls over 20 ms"
    )
    lat = push.latencies()
    verdict = "met" if lat and 1000 * quantile(lat, 0.99) < TARGET_P99_MS else "MISSED"
    if push.missing():
        verdict = f"MISSED ({push.missing()} of {len(push.measured())} cards never reached their operator)"
    print(f"  target p99 < {TARGET_P99_MS:.0f} ms: {verdict}")


def report_poll(push: Phase, poll: Phase, args: argparse.Namespace) -> None:
    lat = push.latencies()
    plat = poll.latencies()
    print(
        f"\n## Baseline: the same pages polling every 1 s ({len(plat)} of {len(poll.measured())} pop-ups seen, "
        f"{poll.wall:.1f} s)"
    )
    print(f"  latency (measured)   {latency_ms(plat)}")
    modelled = model_poll(push, poll.poll_rtts, args.seed)
    print(
        f"  latency (modelled from the push phase's events + uniform phase + median poll RTT) {latency_ms(modelled)}"
    )
    print(
        f"  poll round trip      {latency_ms(poll.poll_rtts)}  ({len(poll.poll_rtts) / poll.wall:.0f} requests/s)"
    )
    print(
        f"  server CPU while polling: {100 * poll.cpu / poll.wall:.0f} % (vs {100 * push.cpu / push.wall:.0f} % "
        f"with WebSockets); event loop lag {latency_ms(poll.lag)}; card lookups {latency_ms(poll.lookups)}"
    )
    print(f"  {stalls(poll)}")
    if lat and plat:
        print(
            f"\n## Ratio poll / push: p50 {ratio(quantile(plat, 0.5), quantile(lat, 0.5))}, "
            f"p99 {ratio(quantile(plat, 0.99), quantile(lat, 0.99))}"
        )


def header(built: Built, args: argparse.Namespace) -> None:
    print(describe("popup_latency"))
    extras = [
        name
        for name, on in (
            ("no card indexes (migration 0006)", args.before_card_indexes),
            ("gc.freeze()", args.gc_freeze),
        )
        if on
    ]
    print(
        f"DB: {args.db} ({built.path.name}){''.join(f', + {e}' for e in extras)}: "
        + ", ".join(f"{k} {v:,}" for k, v in built.counts.items())
    )


TARGET_P99_MS = 20.0
