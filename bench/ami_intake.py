"""AMI intake throughput: dialer's whole intake against bare panoramisk, on the same recorded bytes.

    .venv/bin/python -m bench.ami_intake                       # both recorded streams, 5 rounds each
    .venv/bin/python -m bench.ami_intake --stream ami_dialer_user.bin.gz --rounds 7
    .venv/bin/python -m bench.ami_intake --breakdown            # batches, storage calls, thread hops
    .venv/bin/python -m bench.ami_intake --profile full         # cProfile of one full-intake replay
    .venv/bin/python -m bench.ami_intake --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
                                                    # dialer full (+flow) on PostgreSQL too, beside SQLite
    .venv/bin/python -m bench.ami_intake --throwaway-postgres  # the same on a cluster made for the run
                                                    # (Debian's postgresql package, as the tests make it)

Every variant is fed the same list of chunks (1-8 KiB, cut at random byte offsets with a fixed seed, so
frames and Cyrillic letters straddle chunk boundaries as they do on TCP), in the same process, the variants
alternating round by round; the table shows each variant's median.

  panoramisk        panoramisk 1.4's AMIProtocol.data_received, wired to a Manager exactly as
                    Manager.connection_made wires it, with a '*' event callback that does nothing: its
                    decode + split + Message construction + dispatch. The baseline.
  dialer parser     dialer.ami.parser.FrameParser.feed, each frame handed to a no-op.
  dialer protocol   dialer.ami.connection.AmiProtocol.data_received (parser + routing) into a no-op sink.
  dialer tracker    AmiProtocol -> Intake.feed -> CallTracker: facts queued, nobody consuming them.
  dialer full       the runtime dialer/app.py `open_runtime` builds (Storage on a real SQLite file, Intake
                    with the call and inbound trackers, AmiConnection, AmiTelephony, CallDesk, EventLog,
                    ReminderFlow, ...), with the tasks `run_core` starts that take part in the intake
                    running: CallDesk.run (facts in batches, one commit per batch; its forget-outcome task),
                    EventLog.run, ReminderFlow.run, CallbackFlow.run, InboundDesk.run, AdminDispatcher.run.
                    The stream goes through AmiProtocol.data_received of the runtime's own AmiConnection,
                    whose socket is a stand-in for an Asterisk that answers every action at once (the
                    Setvar DB_DELETE of each finished call is a real AMI round trip through the connection,
                    its answer spliced into the byte stream at a frame boundary). The attempts are placed
                    before the clock starts, through the product's own dial path (ReminderFlow.run_dial ->
                    CallDesk.place: attempt row committed as "dialing", registered in the desk's memory and
                    the tracker, Originate answered by the stand-in). The reminder campaign's CallHandler is
                    replaced by a no-op (digit meaning only, no I/O). Timed until every call's end is
                    committed and the campaign told, and every AstDB record forgotten.
  dialer full+flow  the same with the runtime's real ReminderFlow as the handler, timed until its work queue
                    is drained too (each patient's answer written, each target's next step planned,
                    each visit a patient cancelled offered to the waiting list). The flow's statements
                    (its view read, a write of each kind) are run once before the clock starts, as the
                    desk's are: a running service has them prepared on its connections.

  ... (postgresql)  the same on PostgreSQL (--database-url: a server where the bench may create and drop
                    databases; each replay gets a fresh one, dropped after it), the attempts' batches
                    through dialer/storage/pgbatch.py; "full (pg, SQLAlchemy)" with them through
                    SQLAlchemy instead, the path that has no fast writer.

Not started, since a replay has no use for them: the worker (nothing is due; it waits for a reconcile that
only a live link triggers), the lease, the seen-mark and the tracker-expiry timers (1-10 s ticks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import itertools
import os
import pstats
import statistics
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.intake.full import Timer, run_full
from bench.intake.stream import (
    STREAMS,
    count_events,
    load_stream,
    stream_attempts,
    tcp_chunks,
)
from bench.intake.variants import (
    Run,
    cyrillic_intact,
    run_panoramisk,
    run_parser,
    run_protocol,
    run_tracker,
)

BASELINE = "panoramisk"
FULL = "dialer full"


Variant = Callable[[], Awaitable[Run]]
_DATABASES = itertools.count(1)


@contextlib.asynccontextmanager
async def fresh_database(server: str) -> AsyncIterator[str]:
    """An empty database on the PostgreSQL `server` for one replay, dropped after it."""
    name = f"bench_intake_{os.getpid()}_{next(_DATABASES)}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


async def run_full_on(
    server: str, chunks: Sequence[bytes], attempt_ids: Sequence[str], flow: bool, fast_path: bool = True
) -> Run:
    async with fresh_database(server) as url:
        return await run_full(chunks, attempt_ids, flow=flow, database_url=url, fast_path=fast_path)


def variants(
    chunks: Sequence[bytes], attempt_ids: Sequence[str], with_flow: bool, postgres: str | None = None
) -> dict[str, Variant]:
    table: dict[str, Variant] = {
        BASELINE: lambda: run_panoramisk(chunks),
        "dialer parser": lambda: run_parser(chunks),
        "dialer protocol": lambda: run_protocol(chunks),
        "dialer tracker": lambda: run_tracker(chunks, attempt_ids),
        FULL: lambda: run_full(chunks, attempt_ids, flow=False),
    }
    if with_flow:
        table["dialer full+flow"] = lambda: run_full(chunks, attempt_ids, flow=True)
    if postgres:
        server = postgres
        table["full (postgresql)"] = lambda: run_full_on(server, chunks, attempt_ids, flow=False)
        table["full (pg, SQLAlchemy)"] = lambda: run_full_on(
            server, chunks, attempt_ids, flow=False, fast_path=False
        )
        if with_flow:
            table["full+flow (postgresql)"] = lambda: run_full_on(server, chunks, attempt_ids, flow=True)
    return table


async def measure(name: str, rounds: int, with_flow: bool, postgres: str | None = None) -> None:
    stream = load_stream(name)
    chunks = tcp_chunks(stream)
    attempt_ids = stream_attempts(stream)
    events = count_events(stream)
    table = variants(chunks, attempt_ids, with_flow, postgres)
    runs: dict[str, list[Run]] = {v: [] for v in table}
    await table[FULL]()  # warm-up: imports, SQLAlchemy's statement cache, first migrations
    if postgres:
        await table["full (postgresql)"]()
    for _ in range(rounds):
        for variant, run in table.items():
            runs[variant].append(await run())
    base = statistics.median(r.seconds for r in runs[BASELINE])
    print(
        f"\n{name}: {len(stream):,} bytes in {len(chunks)} chunks of 1-8 KiB, {events:,} events, "
        f"{len(attempt_ids)} calls, {sum(b >= 0x80 for b in stream):,} non-ASCII bytes; "
        f"median of {rounds} alternating rounds"
    )
    print(
        f"  {'variant':<21}{'seen':>8}{'seconds':>10}{'events/s':>11}{'vs panoramisk':>15}"
        f"{'CPU s':>8}{'facts':>7}{'ended':>7}{'log rows':>9}{'closed':>8}"
    )
    for variant, rs in runs.items():
        seconds = statistics.median(r.seconds for r in rs)
        cpu = statistics.median(r.cpu for r in rs)
        last = rs[-1]
        print(
            f"  {variant:<21}{last.seen:>8,}{seconds:>10.4f}{events / seconds:>11,.0f}{base / seconds:>15.2f}"
            f"{cpu:>8.3f}{last.facts or '':>7}{last.ended or '':>7}{last.rows or '':>9}{last.done or '':>8}"
        )
    for variant, rs in runs.items():
        if rs[-1].batches:
            rounds_ms = ", ".join(f"{1000 * r.seconds:.1f}" for r in rs)
            commits = ", ".join(str(len(r.batches or [])) for r in rs)
            print(f"  {variant}: rounds {rounds_ms} ms; batches committed {commits}")
    panoramisk_ok, dialer_ok, names = cyrillic_intact(chunks)
    print(
        f"  CallerIDName intact after chunking: panoramisk {panoramisk_ok:,} of {names:,} events, "
        f"dialer {dialer_ok:,} of {names:,}"
    )
    full = statistics.median(r.seconds for r in runs[FULL])
    verdict = "met" if base / full >= 1.0 else "MISSED"
    print(f"  ratio full intake / bare panoramisk (events/s): {base / full:.2f}  (target >= 1.0: {verdict})")
    pairs = (
        (FULL, "full (postgresql)"),
        (FULL, "full (pg, SQLAlchemy)"),
        ("dialer full+flow", "full+flow (postgresql)"),
    )
    for sqlite_name, pg_name in pairs:
        if pg_name in runs and sqlite_name in runs:
            on_pg = statistics.median(r.seconds for r in runs[pg_name])
            on_sqlite = statistics.median(r.seconds for r in runs[sqlite_name])
            print(
                f"  {pg_name}: {base / on_pg:.2f} x bare panoramisk, {on_sqlite / on_pg:.2f} x the same on SQLite"
            )


async def profile_full(name: str, flow: bool, top: int) -> None:
    stream = load_stream(name)
    chunks, attempt_ids = tcp_chunks(stream), stream_attempts(stream)
    await run_full(chunks, attempt_ids, flow=flow)
    profile = cProfile.Profile()
    run = await run_full(chunks, attempt_ids, flow=flow, profile=profile)
    print(
        f"{name}: full intake{'+flow' if flow else ''} under cProfile: {run.seconds:.3f} s "
        f"(profiling inflates it), {run.facts} facts in {len(run.batches or [])} batches, {run.rows} log rows"
    )
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(order).print_stats(top)
        print(out.getvalue())


async def breakdown(name: str, flow: bool, postgres: str | None = None) -> None:
    """Where one full replay's wall time goes: batches, storage calls, aiosqlite's thread round trips; on
    PostgreSQL with `postgres` (a server, as for --database-url)."""
    stream = load_stream(name)
    chunks, attempt_ids = tcp_chunks(stream), stream_attempts(stream)

    async def replay(timer: Timer | None = None) -> Run:
        if postgres is None:
            return await run_full(chunks, attempt_ids, flow=flow, timer=timer)
        async with fresh_database(postgres) as url:
            return await run_full(chunks, attempt_ids, flow=flow, database_url=url, timer=timer)

    await replay()
    timer = Timer()
    restore = timer.count_hops()
    try:
        run = await replay(timer)
    finally:
        restore()
    sizes = run.batches or [0]
    print(
        f"\n{name}: full intake{' + ReminderFlow' if flow else ''}: {run.seconds:.3f} s, {run.facts} facts "
        f"in {len(sizes)} batches (facts per batch median {statistics.median(sizes):.0f}, max {max(sizes)}), "
        f"{timer.hops:,} aiosqlite thread round trips ({timer.hops / max(run.facts, 1):.1f} per fact)"
    )
    print(
        "  timeline, ms from the first chunk (desk batches and their commits, the flow's reads and writes; marks):"
    )
    sizes_left = list(run.batches or [])
    lines: list[tuple[float, str]] = [
        (at, f"{1000 * at:8.2f}            {label}") for label, at in timer.marks
    ]
    for label, t0, t1 in timer.spans:
        if label == "desk.apply":
            what = f"desk batch of {sizes_left.pop(0) if sizes_left else '?'} facts"
        elif label == "attempts.apply":
            what = "  AttemptStore.apply (one transaction)"
        elif label == "reminders.follow_up_view":
            what = "flow: its batch's views read"
        elif label == "reminders.write_follow_ups":
            what = "flow: its batch's follow-ups written"
        else:
            continue
        lines.append((t0, f"{1000 * t0:8.2f} -{1000 * t1:8.2f}  {what} ({1000 * (t1 - t0):.2f} ms)"))
    for _, line in sorted(lines)[:40]:
        print(f"    {line}")
    print("  wall time inside each call (they overlap: the desk's and the flow's run side by side)")
    for key, (calls, seconds) in sorted(timer.stats.items(), key=lambda kv: -kv[1][1]):
        print(f"    {key:<30}{int(calls):>6} calls {seconds:>8.3f} s {1000 * seconds / calls:>7.3f} ms each")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stream", action="append", help=f"a recorded stream in bench/data (default: {STREAMS})")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-flow", action="store_true", help="skip the full+ReminderFlow variant")
    p.add_argument("--breakdown", action="store_true", help="batches and storage calls of one replay instead")
    p.add_argument("--profile", choices=("full", "flow"), help="cProfile one replay instead of the table")
    p.add_argument("--top", type=int, default=35)
    p.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql+asyncpg://…) where the bench may create and drop databases: "
        "the full variants run on it too, beside SQLite",
    )
    p.add_argument(
        "--throwaway-postgres",
        action="store_true",
        help="as --database-url, on a PostgreSQL cluster started for this run and removed after it",
    )
    args = p.parse_args(argv)
    if args.throwaway_postgres:
        from tests.postgres_plugin import start_cluster, stop_cluster

        cluster = start_cluster()
        try:
            given = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--throwaway-postgres"]
            main([*given, "--database-url", cluster.url("postgres")])
        finally:
            stop_cluster(cluster)
        return
    names = args.stream or list(STREAMS)
    print(f"ami_intake, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}")
    for name in names:
        if args.profile:
            asyncio.run(profile_full(name, args.profile == "flow", args.top))
        elif args.breakdown:
            asyncio.run(breakdown(name, flow=False, postgres=args.database_url))
            if not args.no_flow:
                asyncio.run(breakdown(name, flow=True, postgres=args.database_url))
        else:
            asyncio.run(measure(name, args.rounds, not args.no_flow, args.database_url))


if __name__ == "__main__":
    main()
