"""The supervisor's screen: time to build the live board and the daily report, on 3 months of rows.

    .venv/bin/python -m bench.board_build                  # small DB (baseline) and the 1M-attempt DB, 50 builds
    .venv/bin/python -m bench.board_build --builds 100
    .venv/bin/python -m bench.board_build --only large --variants shipped
    .venv/bin/python -m bench.board_build --fresh          # regenerate the cached databases
    .venv/bin/python -m bench.board_build --database postgresql --size large,10m   # PostgreSQL only, 1M and 10M
    .venv/bin/python -m bench.board_build --size large --day 2026-12-02   # the chain ending on a Wednesday at 17:00

`--database both` (the default where Debian's postgresql package is installed) builds on the SQLite file and on
the same rows in a throwaway PostgreSQL cluster (bench/webdb/pg.py: the cluster the tests start, the database
migrated by the product, the SQLite file's rows moved in with COPY, then ANALYZE), alternating the two, so each
PostgreSQL figure has its SQLite twin measured in the same run. `--size 10m` is a chain ten times `large`
(10,000,000 attempts, 10,000,000 inbound calls): generated once a day into the cache like the others.

The databases come from bench/web_data.py (migrated by the product, then filled through the schema's column
order; cached in ~/.cache/dialer/bench-web per day): `large` = 1,000,000 attempts and 100,000 missed calls
(1,000,000 inbound calls) over 92 days for 4 clinics, `small` = 10,000 attempts and 1,000 missed calls over
14 days. Each variant runs on a private copy of the file, opened by the product's own `open_runtime` (which
migrates it to the newest revision; the runtime's Board, LiveHub, report store and SLA store; nothing else
started), for clinic c1 (the largest, 40 %).

What is timed, each `--builds` times after 3 warm-up builds, alternating:

  board   LiveHub.push_board("c1"): Board.snapshot (SLA report of today, users, open callbacks, active alerts,
          the latest count of the reminder funnel of tomorrow's visits of c1) + the hours chart (SVG) +
          json.dumps: what the service does every second for each clinic a supervisor watches (no socket
          attached, nothing sent). The funnel is counted in the background when its count is due
          (dialer/engine/funnel_watch.py), so some of these builds run beside a count.
  funnel  one count of that funnel (SqlBoardReads.funnel), as the background does it.
  counted the board followed by a count of the funnel, awaited: a build as it was when each build counted
          the funnel itself, the baseline of `board`, same run.
  report  dialer.web.supervisor.report_data on a mocked GET /supervisor/report?clinic=c1 (today): the whole
          end-of-day report (contacts, visits, confirmations, complaints by class, the QA average, the
          SlaReport's whole day), as the report page and its CSV get it.
  plain   the same report without its quality figures (complaints and scorecards not read): what the quality
          part costs, measured in the same run. The copy gets scorecards for 5 % of the administrators'
          contacts and complaints for 1 % (bench/webdb/quality.py) before it is opened.
  rowwise the same report with its service level from the period's calls read into Python row by row
          (`figures`), as it was before the database added them up: the baseline of `report`, same run.

Then every SQL statement one board build and one report build executed is captured (SQLAlchemy's
before_cursor_execute) and re-run on its own through sqlite3 on the same file (median of 5), with its
EXPLAIN QUERY PLAN: which query costs what, and why.

Variants (each on its own copy of the same file):

  before   without the board indexes of migration 0005 (nor 0017's and 0018's): the runtime opens the copy
           (to the newest revision), then the indexes are taken away as those migrations' downgrades do.
  narrow   without the covering indexes of migrations 0017 (the day's visits with their reminder status and
           attendance, the calls by target with state and result, the SMS by target with status) and 0018 (the
           ended calls with the key pressed, result and target; the scorecards by clinic and time): the funnel
           and the report fetching a row for each visit, call, message and scorecard, as before them.
  shipped  the schema as the migrations make it now (0005, 0016, 0017 and 0018 included). The product never
           runs ANALYZE, so SQLite plans without statistics in all.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.lib.report import quantile
from bench.web_data import AFTERNOON, cached, clock_of
from bench.web_env import busy_check, describe
from bench.webdb import pg
from bench.webdb.indexes import (
    WITHOUT_BOARD_INDEXES,
    WITHOUT_FUNNEL_INDEXES,
    WITHOUT_REPORT_INDEXES,
    take_away,
)
from bench.webdb.quality import QualityRows, add_quality_rows
from bench.webdb.volume import CACHE, ZONE, Built, Volume, bench_settings
from dialer.app import Runtime, build_web_app, open_runtime
from dialer.core.clock import RehearsalClock
from dialer.core.sla import ANSWER_TARGET_SECONDS, TaskStat, by_hour, figures
from dialer.core.sla_sums import CallSums, hour_starts, summed_day
from dialer.settings import ClinicSettings
from dialer.storage.quality_reports import QualityFigures
from dialer.storage.reports import SqlReportStore
from dialer.storage.repository import Storage
from dialer.storage.sla import SqlSlaStore
from dialer.web.auth import USER
from dialer.web.charts import hours_svg
from dialer.web.supervisor import SUPERVISION, report_data
from tests.postgres_plugin import PostgresCluster

CLINIC = "c1"
TARGET_MS = 100.0
VARIANTS = ("before", "narrow", "shipped")
BACKENDS = ("sqlite", "postgresql")
SIZES = {"small": Volume.small, "large": Volume, "10m": Volume.huge}


class WithoutQuality(SqlReportStore):
    """The report store with its quality figures left out: the report as it was before them."""

    async def quality(
        self, conn: AsyncConnection, clinic_id: str, start: datetime, end: datetime, user_id: int | None
    ) -> QualityFigures:
        return QualityFigures(complaints_a=0, complaints_b=0, complaints_c=0, qa_average=None, qa_scored=0)


@dataclass(frozen=True)
class RowsOnly:
    """The SLA store with the period's calls read row by row and added up in Python (`figures`' way), as the
    report did before the database added them up: the baseline of `report`, same run."""

    store: SqlSlaStore

    async def period_sums_and_tasks(
        self, clinic_id: str, start: datetime, end: datetime, target: float
    ) -> tuple[CallSums, list[TaskStat]]:
        calls, tasks = await self.store.rows(clinic_id, start, end)
        answered = [c for c in calls if c.answered]
        return CallSums(
            calls=len(calls),
            answered=len(answered),
            in_target=sum(1 for c in answered if c.waited <= target),
            waited=sum(c.waited for c in calls),
            hidden=sum(1 for c in calls if c.hidden),
        ), tasks


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
        hours = hour_starts(start.date(), clinic.timezone)
        end = start + timedelta(days=1)
        rows = await rt.storage.board.board_rows(clinic.id, hours, end, ANSWER_TARGET_SECONDS)
        summed_day(rows.sums, rows.tasks, clinic.timezone, now)
        t7 = time.perf_counter()
        for key, a, b in (
            ("SlaStore.rows (SQL + rows to CallStat/TaskStat)", t0, t1),
            ("figures (whole day)", t1, t2),
            ("by_hour", t2, t3),
            ("hours_svg", t3, t4),
            ("json.dumps", t4, t5),
            (f"users.all ({len(users)} rows)", t5, t6),
            ("board_rows + summed_day (what the board does now)", t6, t7),
        ):
            times.setdefault(key, []).append(b - a)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}, len(calls), len(tasks)


@dataclass
class Result:
    db: str
    variant: str
    board: list[float]
    report: list[float]
    plain: list[float]
    first_board: float
    first_report: float
    statements: dict[str, list[Statement]]
    migrate_seconds: float
    funnel_due: int
    python: dict[str, float]
    day_rows: tuple[int, int]
    quality_rows: QualityRows
    backend: str = "sqlite"
    rowwise: list[float] = field(default_factory=list)
    funnel: list[float] = field(default_factory=list)
    counted: list[float] = field(default_factory=list)


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


async def explain_pg(rt: Runtime, statements: list[Statement], runs: int = 5) -> None:
    """Each statement on its own through the runtime's asyncpg connection (median of `runs`), and the plan
    PostgreSQL's EXPLAIN ANALYZE shows for it."""
    async with rt.storage.engine.connect() as conn:
        for s in statements:
            if s.sql.startswith("SET "):  # a setting of the transaction, for the statements after it
                await conn.exec_driver_sql(s.sql, s.params)
                s.plan = ["(a setting)"]
                continue
            times = []
            rows: list[Any] = []
            for _ in range(runs):
                t0 = time.perf_counter()
                rows = list(await conn.exec_driver_sql(s.sql, s.params))
                times.append(time.perf_counter() - t0)
            s.ms, s.rows = 1000 * statistics.median(times), len(rows)
            plan = await conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF) " + s.sql, s.params)
            s.plan = [" ".join(str(r[0]).replace("->", "").split()) for r in plan]


async def run_variant(
    built: Built,
    db_name: str,
    variant: str,
    builds: int,
    workdir: Path,
    backend: str = "sqlite",
    cluster: PostgresCluster | None = None,
) -> Result:
    path = workdir / f"{db_name}-{variant}.db"
    shutil.copyfile(built.path, path)
    settings = bench_settings(workdir, path, built.volume)
    migrated = await migrate_copy(settings.service.db_url)
    quality_rows = add_quality_rows(path)
    if backend == "postgresql":
        if cluster is None:
            raise RuntimeError("PostgreSQL asked for without a cluster")
        url = await pg.load(cluster, f"bench_{db_name}_{variant}", path)
        settings = bench_settings(workdir, path, built.volume, database_url=url)
    clinic = settings.clinic(CLINIC)
    async with open_runtime(settings, clock=clock_of(built)) as rt:
        supervisor = await rt.storage.users.by_name("boss")
        if supervisor is None:
            raise RuntimeError(f"{built.path.name} has no supervisor 'boss': regenerate it with --fresh")
        if variant in ("before", "narrow"):
            await take_away(rt.storage.engine, WITHOUT_REPORT_INDEXES)
            await take_away(rt.storage.engine, WITHOUT_FUNNEL_INDEXES)
        if variant == "before":
            await take_away(rt.storage.engine, WITHOUT_BOARD_INDEXES)
        app: web.Application = build_web_app(rt)
        today = rt.clock.now().astimezone(clinic.timezone).date().isoformat()

        async def board() -> None:
            await rt.live.push_board(CLINIC)

        tomorrow = rt.clock.now().astimezone(clinic.timezone).date() + timedelta(days=1)

        async def funnel() -> None:
            await rt.storage.board.funnel(CLINIC, tomorrow)

        async def counted() -> None:
            await board()
            await funnel()

        def report_on(on: web.Application) -> Callable[[], Awaitable[None]]:
            async def build() -> None:
                request = make_mocked_request(
                    "GET", f"/supervisor/report?clinic={CLINIC}&date={today}", app=on
                )
                request[USER] = supervisor  # the report is built for the logged-in supervisor of the chain
                await report_data(request)

            return build

        plain_app: web.Application = build_web_app(rt)
        plain_app[SUPERVISION] = replace(plain_app[SUPERVISION], reports=WithoutQuality(rt.storage.engine))
        rowwise_app: web.Application = build_web_app(rt)
        rowwise_app[SUPERVISION] = replace(rowwise_app[SUPERVISION], sla=RowsOnly(rt.storage.sla))
        report, plain, rowwise = report_on(app), report_on(plain_app), report_on(rowwise_app)

        async def timed(build: Callable[[], Awaitable[None]]) -> float:
            t0 = time.perf_counter()
            await build()
            return time.perf_counter() - t0

        first_board, first_report = await timed(board), await timed(report)
        for _ in range(2):
            await board()
            await report()
            await plain()
            await rowwise()
            await counted()
        gc.collect()
        board_s: list[float] = []
        report_s: list[float] = []
        plain_s: list[float] = []
        rowwise_s: list[float] = []
        funnel_s: list[float] = []
        counted_s: list[float] = []
        for _ in range(builds):
            board_s.append(await timed(board))
            report_s.append(await timed(report))
            plain_s.append(await timed(plain))
            rowwise_s.append(await timed(rowwise))
            funnel_s.append(await timed(funnel))
            counted_s.append(await timed(counted))
        capture = Capture(rt)
        statements = {
            "board": await capture.during(board),
            "funnel": await capture.during(funnel),
            "report": await capture.during(report),
        }
        due = (await rt.live.board.snapshot(clinic))["campaign"]["due"]
        python, n_calls, n_tasks = await python_side(rt, clinic)
        if backend == "postgresql":
            for found in statements.values():
                await explain_pg(rt, found)
    if backend == "sqlite":
        for found in statements.values():
            explain(path, found)
    elif cluster is not None:
        cluster.drop_database(f"bench_{db_name}_{variant}")
    return Result(
        db_name,
        variant,
        board_s,
        report_s,
        plain_s,
        first_board,
        first_report,
        statements,
        migrated,
        int(due),
        python,
        (n_calls, n_tasks),
        quality_rows,
        backend,
        rowwise_s,
        funnel_s,
        counted_s,
    )


def short(sql: str, width: int = 150) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_result(r: Result, small: Result | None) -> None:
    print(
        f"\n### {r.db} DB, {r.variant}, {r.backend} (migrating the SQLite copy on open: {r.migrate_seconds:.1f} s)"
    )
    print(
        f"  {'build':<8}{'n':>4}{'first ms':>10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'vs small p95':>14}"
        "  target p95 < 100 ms"
    )
    rows: tuple[tuple[str, list[float], float | None], ...] = (
        ("board", r.board, r.first_board),
        ("report", r.report, r.first_report),
        ("plain", r.plain, None),
        ("rowwise", r.rowwise, None),
        ("funnel", r.funnel, None),
        ("counted", r.counted, None),
    )
    for name, values, first in rows:
        p95 = 1000 * quantile(values, 0.95)
        ratio = ""
        if small is not None:
            base = {
                "board": small.board,
                "report": small.report,
                "plain": small.plain,
                "rowwise": small.rowwise,
                "funnel": small.funnel,
                "counted": small.counted,
            }[name]
            ratio = f"{p95 / (1000 * quantile(base, 0.95)):.1f}x"
        print(
            f"  {name:<8}{len(values):>4}{'—' if first is None else f'{1000 * first:.1f}':>10}"
            f"{1000 * statistics.median(values):>9.1f}{p95:>9.1f}"
            f"{1000 * max(values):>9.1f}{ratio:>14}  {'met' if p95 < TARGET_MS else 'MISSED'}"
        )
    with_q, without_q = 1000 * quantile(r.report, 0.95), 1000 * quantile(r.plain, 0.95)
    print(
        f"  report with its quality figures / without, p95: {with_q:.1f} / {without_q:.1f} ms "
        f"({with_q / without_q:.2f}x; {r.quality_rows.scores:,} scorecards, "
        f"{r.quality_rows.complaints:,} complaints in the file)"
    )
    summed, by_row = 1000 * quantile(r.report, 0.95), 1000 * quantile(r.rowwise, 0.95)
    print(
        f"  report with its calls added up by the database / read row by row, p95: {summed:.1f} / "
        f"{by_row:.1f} ms ({summed / by_row:.2f}x)"
    )
    print(f"  reminder funnel 'due' on c1's board: {r.funnel_due:,} appointments tomorrow")
    print(
        f"  outside the database (median of 20, ms; today's rows for c1: {r.day_rows[0]:,} calls, "
        f"{r.day_rows[1]:,} callback tasks):"
    )
    print("    " + "; ".join(f"{k} {v:.1f}" for k, v in r.python.items()))
    for build, found in r.statements.items():
        total = sum(s.ms for s in found)
        print(
            f"  {build}: {len(found)} statements, {total:.1f} ms in the database alone "
            f"({'sqlite3' if r.backend == 'sqlite' else 'asyncpg'}, median of 5 each):"
        )
        for s in sorted(found, key=lambda s: -s.ms):
            print(f"    {s.ms:8.2f} ms {s.rows:>6} rows  {short(s.sql)}")
            print(f"                          params {s.params}")
            print(f"                          plan   {' | '.join(s.plan)}")


def summary(results: list[Result]) -> None:
    print(
        "\n## Summary: p50/p95 over the builds (ms); target p95 < 100 ms; PostgreSQL / SQLite of the same run"
    )
    print(
        f"  {'DB':<7}{'variant':<10}{'backend':<12}{'board p50':>10}{'board p95':>10}{'report p50':>11}"
        f"{'report p95':>11}{'plain p95':>10}{'rowwise p50':>12}{'rowwise p95':>12}"
        f"{'funnel p95':>11}{'counted p95':>12}{'pg/sqlite p95 board; report':>30}"
    )
    twins = {(r.db, r.variant, r.backend): r for r in results}
    for r in results:
        board = f"{1000 * statistics.median(r.board):>10.1f}{1000 * quantile(r.board, 0.95):>10.1f}"
        report = f"{1000 * statistics.median(r.report):>11.1f}{1000 * quantile(r.report, 0.95):>11.1f}"
        ratio = ""
        base = twins.get((r.db, r.variant, "sqlite"))
        if r.backend == "postgresql" and base is not None:
            ratio = (
                f"{quantile(r.board, 0.95) / quantile(base.board, 0.95):.2f}; "
                f"{quantile(r.report, 0.95) / quantile(base.report, 0.95):.2f}"
            )
        print(
            f"  {r.db:<7}{r.variant:<10}{r.backend:<12}{board}{report}"
            f"{1000 * quantile(r.plain, 0.95):>10.1f}{1000 * statistics.median(r.rowwise):>12.1f}"
            f"{1000 * quantile(r.rowwise, 0.95):>12.1f}{1000 * quantile(r.funnel, 0.95):>11.1f}"
            f"{1000 * quantile(r.counted, 0.95):>12.1f}{ratio:>30}"
        )


def backends_of(chosen: str | None) -> tuple[str, ...]:
    if chosen is None:
        return BACKENDS if pg.available() else ("sqlite",)
    return BACKENDS if chosen == "both" else (chosen,)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--builds", type=int, default=50)
    p.add_argument("--only", choices=tuple(SIZES), help="one size (the same as --size NAME)")
    p.add_argument("--size", default="small,large", help=f"comma-separated, of {tuple(SIZES)}")
    p.add_argument(
        "--database",
        choices=(*BACKENDS, "both"),
        help="where to build (default: both where a PostgreSQL cluster can be started, else sqlite)",
    )
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {VARIANTS}")
    p.add_argument("--fresh", action="store_true", help="regenerate the cached databases")
    p.add_argument(
        "--day",
        type=date.fromisoformat,
        help="end the chain at 17:00 of this day in the clinics' zone (default: today there)",
    )
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            p.error(f"unknown variant {v!r}")
    sizes = [args.only] if args.only else [s for s in args.size.split(",") if s]
    for s in sizes:
        if s not in SIZES:
            p.error(f"unknown size {s!r}")
    backends = backends_of(args.database)
    if "postgresql" in backends and not pg.available():
        p.error(
            "PostgreSQL asked for, but Debian's postgresql package is not installed (scripts/setup --test)"
        )
    busy_check()
    print(describe("board_build") + f", on {' and '.join(backends)}")
    results: list[Result] = []
    smalls: dict[tuple[str, str], Result] = {}
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp, ExitStack() as stack:
        cluster = stack.enter_context(pg.cluster()) if "postgresql" in backends else None
        for name in sizes:
            built = (
                cached(SIZES[name](), fresh=args.fresh)
                if args.day is None
                else cached(
                    SIZES[name](),
                    fresh=args.fresh,
                    cache=CACHE.with_name("bench-web-days"),
                    clock=RehearsalClock.reading(datetime.combine(args.day, AFTERNOON, ZONE)),
                )
            )
            print(
                f"\n{name} DB: {built.path.name}, generated {built.generated_at:%Y-%m-%d %H:%M} UTC, "
                + ", ".join(f"{k} {v:,}" for k, v in built.counts.items())
            )
            for variant in variants:
                for backend in backends:
                    r = asyncio.run(
                        run_variant(built, name, variant, args.builds, Path(tmp), backend, cluster)
                    )
                    for leftover in Path(tmp).glob("*.db*"):
                        leftover.unlink()
                    if name == "small":
                        smalls[(backend, variant)] = r
                    results.append(r)
                    print_result(r, smalls.get((backend, variant)) if name != "small" else None)
                    print(f"  load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    summary(results)


if __name__ == "__main__":
    main()
