"""Pop-up latency: from an AgentCalled frame handed to the product's AMI protocol to the operator's WebSocket
client receiving the card, with 200 operators connected and 50 calls/s of other AMI traffic; against an agent
screen that polls once a second, measured in the same run.

    .venv/bin/python -m bench.popup_latency                         # small DB, 1,000 pop-ups per phase
    .venv/bin/python -m bench.popup_latency --db large              # the 3-month DB of bench.board_build
    .venv/bin/python -m bench.popup_latency --db large --before-card-indexes  # the schema before migration 0006
    .venv/bin/python -m bench.popup_latency --popups 2000 --rate 20 --supervisors 1
    .venv/bin/python -m bench.popup_latency --database both --runs 3 --no-poll   # SQLite and PostgreSQL in turn
    .venv/bin/python -m bench.popup_latency --database sqlite,sqlite-thread --runs 3 --no-poll
    .venv/bin/python -m bench.popup_latency --database postgresql,postgresql-pool5 --runs 3 --db large --no-poll

`--database postgresql` runs the server on the same rows in a throwaway PostgreSQL cluster (bench/webdb/pg.py:
loaded once by COPY, each run on a fresh file copy of that database); `both` alternates SQLite and PostgreSQL
run by run, `--runs` times each, and ends with each backend's runs side by side and their spread. A comma list
alternates the backends it names; `sqlite-thread` is the SQLite server reading its cards through a worker
thread (the path a busy file takes) instead of on the event loop: the baseline of the loop's read;
`postgresql-pool5` is the PostgreSQL server with the pool SQLAlchemy keeps by default (five connections, ten more
closed again when given back): the baseline of the pool the product keeps.

The server is the product as dialer/app.py wires it: `open_runtime` over a private copy of a generated SQLite
file (bench/web_data.py: patients, appointments, contacts, callback tasks... and 200 operators made through
`users.add`, one phone each, PJSIP/1001..1200), every task `run_core` starts except the AMI link's own
`run()` (the worker idles: nothing is reconciled, so nothing is dialled), and `build_web_app(rt)` on a local
port (aiohttp AppRunner/TCPSite, as `web_server` does; plus one bench route for the polling baseline). The
AMI socket is a stand-in (bench.lib.standin.StandIn, which answers actions): the bench hands bytes to
the runtime's own `AmiProtocol.data_received`, as the event loop does on a socket read.

The clients are another process (bench/web_clients.py): 200 operators log in through /login and open /ws.

Traffic, during both phases:
  other calls  `--background` calls/s (50) of the recorded read=all stream's calls under new ids (bench/web_ami):
               ~4,200 frames/s, ~2 MB/s, fed every 10 ms as one socket read of whatever is due.
  pop-ups      inbound queue calls at `--rate`/s (Poisson), each to a random operator's phone, from a
               random patient's number (10 % unknown numbers: "new patient" card): Newchannel, Newexten,
               VarSet, Newexten(Queue), QueueCallerJoin 2 s before; the AgentCalled (measured) on its own at
               its instant; then the agent channel and DialBegin; after 2-6 s of ringing 75 % are answered
               (AgentConnect: the card turns active, a wrap-up row is written), the call hangs up after 10-40 s
               (inbound call row, the wrap-up ended), 25 % ring out and abandon (a missed call: inbound row,
               callback task and its schedule written). So the card lookups share the database with writes.

Measured per pop-up: t0 = time.perf_counter() right before data_received(AgentCalled bytes); t1 = when the
client process receives the "card" message for that call (same CLOCK_MONOTONIC). Also, server side: when
Popups pushed it (card lookup done), and the card lookup's own time.

Baseline (phase 2, same runtime, same traffic): the operators' pages do not open /ws; each polls
GET /bench/poll every second at a random phase of its own, through the auth middleware (session lookup),
answered from the same Popups state the pushes come from (the cards of the user's calls in progress, from
memory: the cheapest possible endpoint). Latency = first answer containing the call - t0. The same baseline
computed from phase 1's event times (push time + uniform phase + the measured poll round trip) is shown as a
cross-check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.lib.report import quantile
from bench.popup.report import header, report
from bench.popup.serve import POOL5, THREAD, serve
from bench.popup.server import Phase
from bench.web_data import cached
from bench.web_env import busy_check
from bench.webdb import pg
from bench.webdb.volume import Volume

BACKENDS = ("sqlite", THREAD, "postgresql", POOL5)
LOADED = "popups_loaded"


@dataclass
class Run:
    backend: str
    n: int
    push: Phase
    poll: Phase | None
    lookup_ms: float
    load: float


def ms(values: list[float], q: float) -> float:
    return 1000 * quantile(values, q) if values else float("nan")


def spread(runs: list[Run]) -> None:
    """Each backend's runs side by side: push p50/p99, and the spread of the p99s."""
    print("\n## Runs: push latency (ms), AgentCalled bytes -> card frame at the client; target p99 <= 20 ms")
    print(
        f"  {'backend':<12}{'run':>4}{'load':>6}{'p50':>8}{'p99':>8}{'max':>8}{'lookup p50':>12}{'poll p99':>10}"
        f"{'missing':>9}"
    )
    for r in runs:
        lat = r.push.latencies()
        poll = ms(r.poll.latencies(), 0.99) if r.poll is not None else float("nan")
        print(
            f"  {r.backend:<12}{r.n:>4}{r.load:>6.2f}{ms(lat, 0.5):>8.1f}{ms(lat, 0.99):>8.1f}"
            f"{1000 * max(lat, default=0):>8.1f}{r.lookup_ms:>12.2f}{poll:>10.0f}{r.push.missing():>9}"
        )
    for backend in BACKENDS:
        mine = [r for r in runs if r.backend == backend]
        p99s = [ms(r.push.latencies(), 0.99) for r in mine]
        if p99s:
            met = sum(p <= 20.0 and not r.push.missing() for p, r in zip(p99s, mine, strict=True))
            print(
                f"  {backend}: p99 {min(p99s):.1f}-{max(p99s):.1f} ms over {len(p99s)} runs "
                f"(spread {max(p99s) - min(p99s):.1f} ms); target met in {met} of {len(p99s)}"
            )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=("small", "large"), default="small")
    p.add_argument(
        "--database",
        default="sqlite",
        help=f"where the server's rows are: one or a comma list of {', '.join(BACKENDS)}; both: sqlite,postgresql",
    )
    p.add_argument("--runs", type=int, default=1, help="consecutive runs on each backend")
    p.add_argument(
        "--before-card-indexes",
        action="store_true",
        help="take the caller's card indexes of migration 0006 away on the copy",
    )
    p.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the ramp, before measuring")
    p.add_argument("--popups", type=int, default=1000, help="measured pop-ups per phase")
    p.add_argument("--rate", type=float, default=10.0, help="pop-ups per second (Poisson)")
    p.add_argument("--background", type=float, default=50.0, help="other calls started per second")
    p.add_argument("--stream", default="ami_read_all.bin.gz", help="recorded stream for the other calls")
    p.add_argument("--operators", type=int, default=200)
    p.add_argument("--supervisors", type=int, default=0, help="supervisor boards open (clinic c1)")
    p.add_argument("--no-poll", action="store_true", help="skip the polling baseline")
    p.add_argument("--max-tail", type=float, default=120.0, help="seconds to wait for a backlog of cards")
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--fresh", action="store_true", help="regenerate the cached database")
    args = p.parse_args(argv)
    backends = ("sqlite", "postgresql") if args.database == "both" else tuple(args.database.split(","))
    if unknown := set(backends) - set(BACKENDS):
        p.error(f"--database: unknown {', '.join(sorted(unknown))}; one of {', '.join(BACKENDS)} or both")
    on_postgresql = "postgresql" in backends or POOL5 in backends
    if on_postgresql and not pg.available():
        p.error(
            "PostgreSQL asked for, but Debian's postgresql package is not installed (scripts/setup --test)"
        )
    busy_check()
    built = cached(Volume.small() if args.db == "small" else Volume(), fresh=args.fresh)
    header(built, args)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-popups-") as tmp, ExitStack() as stack:
        cluster = stack.enter_context(pg.cluster()) if on_postgresql else None
        if cluster is not None:
            pg.load_file(cluster, LOADED, built.path, Path(tmp))
        for n in range(1, args.runs + 1):
            for backend in backends:
                url = pg.clone(cluster, LOADED, "popups_run") if cluster and backend != "sqlite" else None
                print(f"\n# run {n} on {backend}", flush=True)
                push, poll, costs = asyncio.run(
                    serve(built, args, Path(tmp), database_url=url, variant=backend)
                )
                report(push, poll, costs, args)
                lookup = ms(costs.product, 0.5)
                runs.append(Run(backend, n, push, poll, lookup, os.getloadavg()[0]))
                if url is not None and cluster is not None:
                    cluster.drop_database("popups_run")
    spread(runs)


if __name__ == "__main__":
    main()
