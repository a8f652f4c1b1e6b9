"""The supervisor's screen: time to build the live board and the daily report, on 3 months of rows.

    .venv/bin/python -m bench.board_build                  # small DB (baseline) and the 1M-attempt DB, 50 builds
    .venv/bin/python -m bench.board_build --builds 100
    .venv/bin/python -m bench.board_build --only large --variants shipped
    .venv/bin/python -m bench.board_build --fresh          # regenerate the cached databases

The databases come from bench/web_data.py (migrated by the product, then filled through the schema's column
order; cached in ~/.cache/dialer/bench-web per day): `large` = 1,000,000 attempts and 100,000 missed calls
(1,000,000 inbound calls) over 92 days for 4 clinics, `small` = 10,000 attempts and 1,000 missed calls over
14 days. Each variant runs on a private copy of the file, opened by the product's own `open_runtime` (which
migrates it to the newest revision; the runtime's Board, LiveHub, report store and SLA store; nothing else
started), for clinic c1 (the largest, 40 %).

What is timed, each `--builds` times after 3 warm-up builds, alternating:

  board   LiveHub.push_board("c1"): Board.snapshot (SLA report of today, users, open callbacks, the reminder
          funnel of tomorrow's visits of c1, active alerts) + the hours chart (SVG) + json.dumps: what the
          service does every second for each clinic a supervisor watches (no socket attached, nothing sent).
  report  dialer.web.supervisor.report_data on a mocked GET /supervisor/report?clinic=c1 (today): the day
          metrics of ReportStore.day_metrics + the SlaReport's whole day, as the report page and its CSV get it.

Then every SQL statement one board build and one report build executed is captured (SQLAlchemy's
before_cursor_execute) and re-run on its own through sqlite3 on the same file (median of 5), with its
EXPLAIN QUERY PLAN: which query costs what, and why.

Variants (each on its own copy of the same file):

  before   without the board indexes of migration 0005: the runtime opens the copy (to the newest
           revision), then the indexes are taken away as that migration's downgrade does.
  shipped  the schema as the migrations make it now (0005 included). The product never runs ANALYZE, so
           SQLite plans without statistics in both.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from sqlalchemy import event

from bench.lib.report import quantile
from bench.web_data import cached
from bench.web_env import busy_check, describe
from bench.webdb.indexes import WITHOUT_BOARD_INDEXES, take_away
from bench.webdb.volume import Built, Volume, bench_settings
from dialer.app import Runtime, build_web_app, open_runtime
from dialer.core.sla import by_hour, figures
from dialer.settings import ClinicSettings
from dialer.storage.repository import Storage
from dialer.web.auth import USER
from dialer.web.charts import hours_svg
from dialer.web.supervisor import report_data

CLINIC = "c1"
TARGET_MS = 100.0
VARIANTS = ("before", "shipped")


@dataclass
class Statement:
    sql: str
    params: tuple[Any, ...]
    ms: float = 0.0
    rows: int = 0
    plan: list[str] = field(default_factory=list)


async def python_side(
    rt: Runtime, clinic: ClinicSettings, runs: int = 20
) -> tuple[dict[str, float], int, int]:
    """Median ms of the pieces of a board build that are not SQLite: fetching and converting the day's SLA rows,
    the figures, by hour, the chart, the JSON, the users."""
    now = rt.clock.now()
    start = datetime.combine(now.astimezone(clinic.timezone).date(), dtime(0), clinic.timezone)
    times: dict[str, list[float]] = {}
    board = await rt.live.board.snapshot(clinic)
    for _ in range(runs):
        t0 = time.perf_counter()
        calls, tasks = await rt.storage.sla.rows(clinic.id, start, start + timedelta(days=1))
        t1 = time.perf_counter()
        figures(calls, tasks, now)
        t2 = time.perf_counter()
        by_hour(calls, tasks, clinic.timezone, now)
        t3 = time.perf_counter()
        hours_svg(board["hours"])
        t4 = time.perf_counter()
        json.dumps(board, ensure_ascii=False, default=str)
        t5 = time.perf_counter()
        users = await rt.storage.users.all()
        t6 = time.perf_counter()
        for key, a, b in (
            ("SlaStore.rows (SQL + rows to CallStat/TaskStat)", t0, t1),
            ("figures (whole day)", t1, t2),
            ("by_hour", t2, t3),
            ("hours_svg", t3, t4),
            ("json.dumps", t4, t5),
            (f"users.all ({len(users)} rows)", t5, t6),
        ):
            times.setdefault(key, []).append(b - a)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}, len(calls), len(tasks)


@dataclass
class Result:
    db: str
    variant: str
    board: list[float]
    report: list[float]
    first_board: float
    first_report: float
    statements: dict[str, list[Statement]]
    migrate_seconds: float
    funnel_due: int
    python: dict[str, float]
    day_rows: tuple[int, int]


class Capture:
    """Every statement the runtime's engine sends while `on`."""

    def __init__(self, rt: Runtime) -> None:
        self.on = False
        self.seen: list[Statement] = []
        event.listen(rt.storage.engine.sync_engine, "before_cursor_execute", self._before)

    def _before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if self.on:
            self.seen.append(Statement(statement, tuple(parameters or ())))

    async def during(self, build: Callable[[], Awaitable[object]]) -> list[Statement]:
        self.seen = []
        self.on = True
        try:
            await build()
        finally:
            self.on = False
        return self.seen


def explain(path: Path, statements: list[Statement], runs: int = 5) -> None:
    db = sqlite3.connect(path)
    try:
        for s in statements:
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                rows = db.execute(s.sql, s.params).fetchall()
                times.append(time.perf_counter() - t0)
            s.ms, s.rows = 1000 * statistics.median(times), len(rows)
            s.plan = [str(r[3]) for r in db.execute("EXPLAIN QUERY PLAN " + s.sql, s.params)]
    finally:
        db.close()


async def migrate_copy(url: str) -> float:
    """Seconds the product's migrations take on the copy (0005 on a file made at 0004: what an upgrade costs)."""
    t0 = time.perf_counter()
    storage = await Storage.open(url)
    await storage.close()
    return time.perf_counter() - t0


async def run_variant(built: Built, db_name: str, variant: str, builds: int, workdir: Path) -> Result:
    path = workdir / f"{db_name}-{variant}.db"
    shutil.copyfile(built.path, path)
    settings = bench_settings(workdir, path, built.volume)
    migrated = await migrate_copy(settings.service.db_url)
    clinic = settings.clinic(CLINIC)
    async with open_runtime(settings) as rt:
        supervisor = await rt.storage.users.by_name("boss")
        if supervisor is None:
            raise RuntimeError(f"{built.path.name} has no supervisor 'boss': regenerate it with --fresh")
        if variant == "before":
            await take_away(rt.storage.engine, WITHOUT_BOARD_INDEXES)
        app: web.Application = build_web_app(rt)
        today = rt.clock.now().astimezone(clinic.timezone).date().isoformat()

        async def board() -> None:
            await rt.live.push_board(CLINIC)

        async def report() -> None:
            request = make_mocked_request("GET", f"/supervisor/report?clinic={CLINIC}&date={today}", app=app)
            request[USER] = supervisor  # the report is built for the logged-in supervisor of the chain
            await report_data(request)

        async def timed(build: Callable[[], Awaitable[None]]) -> float:
            t0 = time.perf_counter()
            await build()
            return time.perf_counter() - t0

        first_board, first_report = await timed(board), await timed(report)
        for _ in range(2):
            await board()
            await report()
        gc.collect()
        board_s: list[float] = []
        report_s: list[float] = []
        for _ in range(builds):
            board_s.append(await timed(board))
            report_s.append(await timed(report))
        capture = Capture(rt)
        statements = {"board": await capture.during(board), "report": await capture.during(report)}
        due = (await rt.live.board.snapshot(clinic))["campaign"]["due"]
        python, n_calls, n_tasks = await python_side(rt, clinic)
    for found in statements.values():
        explain(path, found)
    return Result(
        db_name,
        variant,
        board_s,
        report_s,
        first_board,
        first_report,
        statements,
        migrated,
        int(due),
        python,
        (n_calls, n_tasks),
    )


def short(sql: str, width: int = 150) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_result(r: Result, small: Result | None) -> None:
    print(f"\n### {r.db} DB, {r.variant} (migrating the copy on open: {r.migrate_seconds:.1f} s)")
    print(
        f"  {'build':<8}{'n':>4}{'first ms':>10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'vs small p95':>14}"
        "  target p95 < 100 ms"
    )
    for name, values, first in (("board", r.board, r.first_board), ("report", r.report, r.first_report)):
        p95 = 1000 * quantile(values, 0.95)
        ratio = ""
        if small is not None:
            base = small.board if name == "board" else small.report
            ratio = f"{p95 / (1000 * quantile(base, 0.95)):.1f}x"
        print(
            f"  {name:<8}{len(values):>4}{1000 * first:>10.1f}{1000 * statistics.median(values):>9.1f}{p95:>9.1f}"
            f"{1000 * max(values):>9.1f}{ratio:>14}  {'met' if p95 < TARGET_MS else 'MISSED'}"
        )
    print(f"  reminder funnel 'due' on c1's board: {r.funnel_due:,} appointments tomorrow")
    print(
        f"  outside SQLite (median of 20, ms; today's rows for c1: {r.day_rows[0]:,} calls, "
        f"{r.day_rows[1]:,} callback tasks):"
    )
    print("    " + "; ".join(f"{k} {v:.1f}" for k, v in r.python.items()))
    for build, found in r.statements.items():
        total = sum(s.ms for s in found)
        print(
            f"  {build}: {len(found)} statements, {total:.1f} ms in SQLite alone (sqlite3, median of 5 each):"
        )
        for s in sorted(found, key=lambda s: -s.ms):
            print(f"    {s.ms:8.2f} ms {s.rows:>6} rows  {short(s.sql)}")
            print(f"                          params {s.params}")
            print(f"                          plan   {' | '.join(s.plan)}")


def summary(results: list[Result]) -> None:
    print("\n## Summary: p95 over the builds (ms); target < 100 ms")
    print(f"  {'DB':<7}{'variant':<10}{'board p50':>10}{'board p95':>10}{'report p50':>11}{'report p95':>11}")
    for r in results:
        board = f"{1000 * statistics.median(r.board):>10.1f}{1000 * quantile(r.board, 0.95):>10.1f}"
        report = f"{1000 * statistics.median(r.report):>11.1f}{1000 * quantile(r.report, 0.95):>11.1f}"
        print(f"  {r.db:<7}{r.variant:<10}{board}{report}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builds", type=int, default=50)
    p.add_argument("--only", choices=("small", "large"))
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {VARIANTS}")
    p.add_argument("--fresh", action="store_true", help="regenerate the cached databases")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            p.error(f"unknown variant {v!r}")
    busy_check()
    print(describe("board_build"))
    dbs = {"small": Volume.small(), "large": Volume()}
    results: list[Result] = []
    smalls: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        for name, volume in dbs.items():
            if args.only and name != args.only:
                continue
            built = cached(volume, fresh=args.fresh)
            print(
                f"\n{name} DB: {built.path.name}, generated {built.generated_at:%Y-%m-%d %H:%M} UTC, "
                + ", ".join(f"{k} {v:,}" for k, v in built.counts.items())
            )
            for variant in variants:
                r = asyncio.run(run_variant(built, name, variant, args.builds, Path(tmp)))
                for leftover in Path(tmp).glob("*.db*"):
                    leftover.unlink()
                if name == "small":
                    smalls[variant] = r
                results.append(r)
                print_result(r, smalls.get(variant) if name != "small" else None)
    summary(results)


if __name__ == "__main__":
    main()
