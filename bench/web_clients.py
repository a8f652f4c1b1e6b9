"""The operators' browsers for bench.popup_latency, in a process of their own (so that 200 clients do not share
the server's event loop and GIL): each user logs in through the real /login form (GET for the form's CSRF
token and login cookie, POST username/password, 303 + session cookie; one aiohttp session and
CookieJar(unsafe=True) per user, since the host is an IP), then either

  push  opens /ws and keeps every message with its arrival time (time.perf_counter, CLOCK_MONOTONIC: the
        same clock as the server process's), or
  poll  GETs the poll endpoint every `poll_every` seconds at a random phase of its own, as a classic agent
        screen that refreshes once a second, and keeps the first time each call appears in an answer.

Driven by bench.popup_latency over stdin/stdout, one JSON document per line: the config in, {"ready": ...}
out once everyone is connected, "stop" in, the results out.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Client:
    index: int
    username: str
    password: str
    session: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse | None = None
    got: list[tuple[int, str, float, str, str]] = field(default_factory=list)  # (user, call, t, type, state)


async def login(base: str, index: int, username: str, password: str) -> Client:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(f"{base}/login") as r:
        page = await r.text()
    found = CSRF.search(page)
    if r.status != 200 or found is None:
        raise RuntimeError(f"login form for {username}: HTTP {r.status}")
    form = {"csrf": found.group(1), "next": "", "username": username, "password": password}
    async with session.post(f"{base}/login", data=form, allow_redirects=False) as r:
        if r.status != 303:
            raise RuntimeError(f"login of {username}: HTTP {r.status} {(await r.text())[:200]}")
    return Client(index, username, password, session)


async def read_socket(client: Client, keep: bool) -> None:
    assert client.ws is not None
    async for msg in client.ws:
        t = time.perf_counter()
        if msg.type != aiohttp.WSMsgType.TEXT or not keep:
            continue
        data = json.loads(msg.data)
        client.got.append(
            (
                client.index,
                str(data.get("call", "")),
                t,
                str(data.get("type", "")),
                str(data.get("state", "")),
            )
        )


async def poll_forever(
    base: str,
    path: str,
    every: float,
    client: Client,
    rng: random.Random,
    rtts: list[tuple[float, float]],
    seen: set[str],
) -> None:
    start = time.perf_counter() + rng.random() * every
    k = 0
    while True:
        at = start + k * every
        now = time.perf_counter()
        if at > now:
            await asyncio.sleep(at - now)
        else:  # late (a slow answer): skip to the next slot, as a timer-driven page does
            k += int((now - at) // every)
        t0 = time.perf_counter()
        async with client.session.get(f"{base}{path}") as r:
            cards = await r.json()
        t = time.perf_counter()
        rtts.append((t, t - t0))
        for card in cards:
            call = str(card.get("call", ""))
            if call not in seen:
                seen.add(call)
                client.got.append((client.index, call, t, "card", str(card.get("state", ""))))
        k += 1


async def main() -> None:
    config: dict[str, Any] = json.loads(sys.stdin.readline())
    base: str = config["base"]
    mode: str = config["mode"]
    t0 = time.perf_counter()
    limit = asyncio.Semaphore(8)

    async def one(i: int, username: str, password: str) -> Client:
        async with limit:
            return await login(base, i, username, password)

    users = [one(i, u, p) for i, (u, p) in enumerate(config["users"])]
    bosses = [one(-1 - i, u, p) for i, (u, p) in enumerate(config.get("supervisors", []))]
    clients = await asyncio.gather(*users)
    supervisors = await asyncio.gather(*bosses)
    login_s = time.perf_counter() - t0
    tasks: list[asyncio.Task[None]] = []
    rtts: list[tuple[float, float]] = []
    for c in supervisors:
        c.ws = await c.session.ws_connect(f"{base}/ws?clinic={config.get('clinic', '')}")
        tasks.append(asyncio.create_task(read_socket(c, keep=False)))
    if mode == "push":
        for c in clients:
            c.ws = await c.session.ws_connect(f"{base}/ws")
            tasks.append(asyncio.create_task(read_socket(c, keep=True)))
    else:
        rng = random.Random(config.get("seed", 1))
        for c in clients:
            tasks.append(
                asyncio.create_task(
                    poll_forever(base, config["poll_path"], float(config["poll_every"]), c, rng, rtts, set())
                )
            )
    print(json.dumps({"ready": True, "login_s": login_s, "clients": len(clients)}), flush=True)
    loop = asyncio.get_running_loop()
    c0 = time.process_time()
    await loop.run_in_executor(None, sys.stdin.readline)
    cpu = time.process_time() - c0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in (*clients, *supervisors):
        if c.ws is not None:
            await c.ws.close()
        await c.session.close()
    got = [g for c in clients for g in c.got]
    print(json.dumps({"got": got, "poll_rtts": rtts, "cpu": cpu}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
