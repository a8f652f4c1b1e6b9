"""Simulated administrators at their web page: logged in over HTTP, reading their pop-ups from the live socket
and saving wrap-ups through the same API the operator's page uses. Plus the CLI steps that create users."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.inbound_scenario import Service
from tests.support import DialerHome

PASSWORD = "пароль-для-теста"


def add_user(
    svc: Service, username: str, role: str, name: str, phone: str | None = None, clinics: Sequence[str] = ()
) -> None:
    add_user_to(svc.home, username, role, name, phone, clinics)


def add_user_to(
    home: DialerHome,
    username: str,
    role: str,
    name: str,
    phone: str | None = None,
    clinics: Sequence[str] = (),
) -> None:
    """`dialer users add` on the installation in `home`, with the tests' password."""
    args = ["users", "add", username, "--role", role, "--name", name, "--password-stdin"]
    if phone:
        args += ["--phone", phone]
    for clinic in clinics:
        args += ["--clinic", clinic]
    result = subprocess.run(
        [sys.executable, "-m", "dialer", "--config", str(home.config), *args],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=home.root,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def api_token(svc: Service, username: str = "crm") -> str:
    """A bearer token for the clinic's own system (imports, exports)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dialer",
            "--config",
            str(svc.home.config),
            "users",
            "add",
            username,
            "--role",
            "admin",
            "--api-token",
        ],
        capture_output=True,
        text=True,
        cwd=svc.home.root,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split("API-токен (показан один раз): ")[1].split()[0]


@dataclass
class Operator:
    """One administrator's browser session, without the browser."""

    username: str
    http: aiohttp.ClientSession
    base: str
    csrf: str = ""
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)  # call id -> the latest card message
    seen: list[dict[str, Any]] = field(default_factory=list)  # every card message, in order
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def login(self) -> None:
        async with self.http.get(f"{self.base}/login") as page:
            token = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
        async with self.http.post(
            f"{self.base}/login", data={"csrf": token, "username": self.username, "password": PASSWORD}
        ) as done:
            assert done.status == 200, await done.text()
            self.csrf = (await done.text()).split('<meta name="csrf" content="')[1].split('"')[0]

    async def listen(self) -> None:
        async with self.http.ws_connect(f"{self.base}/ws") as ws:
            async for message in ws:
                data = json.loads(message.data)
                if data.get("type") == "card":
                    self.cards[data["call"]] = data
                    self.seen.append(data)
                elif data.get("type") == "close":
                    self.cards.pop(data["call"], None)
                self.changed.set()

    async def card(
        self, check: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for card in list(self.cards.values()):
                if check(card):
                    return card
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"{self.username}: no card {what}; cards={list(self.cards.values())}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def wrap_up(self, wrapup_id: int, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self.http.post(
            f"{self.base}/api/wrapups/{wrapup_id}", json=form, headers={"X-CSRF-Token": self.csrf}
        ) as r:
            return r.status, await r.json()


@contextlib.asynccontextmanager
async def operators(svc: Service, *usernames: str) -> AsyncIterator[dict[str, Operator]]:
    """Log these users in and keep their live sockets open."""
    async with contextlib.AsyncExitStack() as stack:
        people: dict[str, Operator] = {}
        listeners = []
        for name in usernames:
            http = await stack.enter_async_context(
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            )
            person = Operator(name, http, svc.base)
            await person.login()
            people[name] = person
            listeners.append(asyncio.create_task(person.listen()))
        try:
            yield people
        finally:
            for task in listeners:
                task.cancel()
            for task in listeners:
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                    await task
