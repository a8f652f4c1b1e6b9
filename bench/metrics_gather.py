"""What one /metrics scrape costs the database: the reads behind its stored series, on the web benches'
generated databases (bench/web_data.py: `small` = 10,000 attempts over 14 days, `large` = 1,000,000 attempts
and 100,000 missed calls over 92 days, 4 clinics), opened read-only as they are cached.

    .venv/bin/python -m bench.metrics_gather            # both databases, median of 5 after one warm-up
    .venv/bin/python -m bench.metrics_gather --runs 9

Timed, on the same file in the same run:

  shipped   the store's reads as /metrics makes them: attempts ended and SMS made today (UTC, through their
            created_at indexes), callback tasks by state, the nearest open deadlines, the lease, and each
            clinic's SLA rows of its day (what the service-level gauges are figured from).
  all rows  the baseline: attempts and SMS counted over every row kept (what a counter of all time needs).

"today" is the day of the newest attempt in the file (the generator ends its rows at the time it ran).
Make the databases first with `python -m bench.board_build` (it caches them in ~/.cache/dialer/bench-web).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.webdb.volume import CACHE
from dialer.storage.metrics import SqlMetricsStore
from dialer.storage.schema import attempts, sms_messages, targets
from dialer.storage.sla import SqlSlaStore

Read = Callable[[], Awaitable[object]]


def newest(prefix: str) -> Path | None:
    found = sorted(CACHE.glob(f"web-{prefix}*.db"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


async def median_ms(read: Read, runs: int) -> float:
    await read()
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        await read()
        took.append(time.perf_counter() - start)
    return statistics.median(took) * 1000


def all_rows(engine: AsyncEngine) -> dict[str, Read]:
    async def attempts_ever() -> object:
        query = (
            select(targets.c.campaign, attempts.c.result, func.count())
            .select_from(attempts.join(targets, attempts.c.target_id == targets.c.target_id))
            .where(attempts.c.result.is_not(None))
            .group_by(targets.c.campaign, attempts.c.result)
        )
        async with engine.connect() as conn:
            return (await conn.execute(query)).all()

    async def sms_ever() -> object:
        query = select(sms_messages.c.provider, sms_messages.c.status, func.count()).group_by(
            sms_messages.c.provider, sms_messages.c.status
        )
        async with engine.connect() as conn:
            return (await conn.execute(query)).all()

    return {"attempts, all rows": attempts_ever, "sms, all rows": sms_ever}


async def shipped(engine: AsyncEngine, now: datetime) -> dict[str, Read]:
    store = SqlMetricsStore(engine)
    sla = SqlSlaStore(engine)
    midnight = datetime.combine(now.date(), dtime(0), UTC)
    async with engine.connect() as conn:
        clinics = [
            str(c)
            for c in (await conn.execute(text("select distinct clinic_id from inbound_calls"))).scalars()
        ]

    async def service_level() -> object:
        return [await sla.rows(c, midnight, midnight + timedelta(days=1)) for c in clinics]

    return {
        "attempts today": lambda: store.attempts_by_result(midnight),
        "sms today": lambda: store.sms_by_state(midnight),
        "callback tasks by state": store.callbacks_by_state,
        "nearest open deadlines": store.nearest_open_deadlines,
        "lease": lambda: store.lease_holder("dialing", now),
        f"service level ({len(clinics)} clinics)": service_level,
    }


async def measure(path: Path, runs: int) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true")
    try:
        async with engine.connect() as conn:
            newest_attempt = (await conn.execute(select(func.max(attempts.c.created_at)))).scalar()
        now = newest_attempt if isinstance(newest_attempt, datetime) else datetime.now(UTC)
        print(f"{path.name}: today = {now.date()} (UTC)")
        reads = await shipped(engine, now)
        total = 0.0
        for name, read in reads.items():
            ms = await median_ms(read, runs)
            total += ms
            print(f"  shipped   {name:28s} {ms:9.1f} ms")
        print(f"  shipped   {'one scrape, all reads':28s} {total:9.1f} ms")
        for name, read in all_rows(engine).items():
            print(f"  baseline  {name:28s} {await median_ms(read, runs):9.1f} ms")
    finally:
        await engine.dispose()


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--runs", type=int, default=5)
    runs = args.parse_args().runs
    for prefix in ("a10000-", "a1000000-"):
        path = newest(prefix)
        if path is None:
            print(f"no cached database web-{prefix}*: run `python -m bench.board_build` first")
            continue
        asyncio.run(measure(path, runs))


if __name__ == "__main__":
    main()
