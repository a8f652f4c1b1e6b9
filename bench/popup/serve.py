"""The web app on a port for a phase, with the polling baseline's route, over a private copy of the database."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import shutil
import sqlite3
from pathlib import Path

from aiohttp import web

from bench.lib.service import free_port
from bench.popup.costs import CardCosts, card_costs, full_gc, pg_card_costs
from bench.popup.phase import run_phase
from bench.popup.server import Phase, Server
from bench.web_ami import load_templates
from bench.web_data import clock_of
from bench.webdb.indexes import WITHOUT_CARD_INDEXES, take_away
from bench.webdb.names import SURNAMES
from bench.webdb.volume import (
    PASSWORD,
    Built,
    bench_settings,
    operator_name,
)
from dialer.app import Runtime, build_web_app, open_runtime, run_core, stop_core
from dialer.app.web_server import PAGES_CLOSE_SECONDS
from dialer.core.staff import Role
from dialer.storage import db as storage_db
from dialer.web.access import add_route, allow
from dialer.web.auth import user_of


def add_poll_route(app: web.Application, rt: Runtime) -> None:
    """GET /bench/poll: the logged-in operator's calls in progress, from the same state the pushes come from."""

    async def poll(request: web.Request) -> web.Response:
        user = user_of(request)
        return web.json_response(
            rt.popups.in_progress(user),
            dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str),
        )

    add_route(app, "GET", "/bench/poll", poll, allow(Role.OPERATOR))


THREAD = "sqlite-thread"
POOL5 = "postgresql-pool5"
SHIPPED_POOL = storage_db.PG_POOL_KEPT


async def serve(
    built: Built, args: argparse.Namespace, workdir: Path, database_url: str | None = None, variant: str = ""
) -> tuple[Phase, Phase | None, CardCosts]:
    """One run; on the PostgreSQL database `database_url` (holding the same rows) when given; with `variant`
    THREAD, a SQLite server reads its cards through a worker thread instead of on the event loop; with POOL5, the
    PostgreSQL pool keeps five connections, as SQLAlchemy does unless told otherwise."""
    db = workdir / "popups.db"
    shutil.copyfile(built.path, db)
    phones, names = patient_sample(db, args.seed)
    port = free_port()
    settings = bench_settings(workdir, db, built.volume, port=port, database_url=database_url)
    templates = load_templates(args.stream)
    users = [(operator_name(i), PASSWORD) for i in range(min(args.operators, built.volume.operators))]
    storage_db.PG_POOL_KEPT = 5 if variant == POOL5 else SHIPPED_POOL  # read as the runtime opens its engine
    async with open_runtime(settings, clock=clock_of(built)) as rt:
        if variant == THREAD:
            rt.storage.cards.read_through_thread()
        if args.before_card_indexes:
            await take_away(rt.storage.engine, WITHOUT_CARD_INDEXES)
        idle = asyncio.Event()

        async def no_link() -> None:  # the stand-in is the socket: no connect, no login
            await idle.wait()

        setattr(rt.connection, "run", no_link)  # noqa: B010 - an instance attribute, only in this process
        server = Server(rt, port, phones, names, args.seed)
        server.attach()
        app = build_web_app(rt)
        add_poll_route(app, rt)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = await run_core(rt, group)
                try:
                    push = await run_phase(server, "push", args, templates, users)
                    poll = None if args.no_poll else await run_phase(server, "poll", args, templates, users)
                finally:
                    await stop_core(rt, tasks)
            costs = await (pg_card_costs(rt, phones) if database_url else card_costs(rt, db, phones))
            costs.full_gc = full_gc()
        finally:
            gc.callbacks.remove(server.on_gc)
            await rt.live.close_all(
                within=PAGES_CLOSE_SECONDS
            )  # as the service stops: open pages would hold it
            await runner.cleanup()
        return push, poll, costs


def patient_sample(db: Path, seed: int, k: int = 5000) -> tuple[list[str], list[str]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT phone, name FROM patients").fetchall()
    finally:
        con.close()
    rng = random.Random(seed)
    chosen = rng.sample(rows, min(k, len(rows)))
    return [str(p) for p, _ in chosen], [str(n) for _, n in chosen] or list(SURNAMES)
