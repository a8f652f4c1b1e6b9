"""The real web app on a real SQLite file, on a FakeClock, and browsers that log in to it from chosen loopback
addresses (127.0.0.x: a clinic's NAT is one address, a stranger another)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from dialer.app import Runtime, build_web_app, open_runtime
from dialer.core.clock import FakeClock
from dialer.core.passwords import hash_password
from dialer.settings import Settings, load_settings
from tests.staff import add_staff
from tests.support import DialerHome

PASSWORD = "верный-пароль-123"


@dataclass
class Site:
    home: DialerHome
    settings: Settings
    rt: Runtime
    clock: FakeClock
    server: TestServer
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> API token

    @property
    def base(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    async def add_user(self, username: str, role: str = "operator", *, token: bool = False) -> int:
        staff = await add_staff(
            self.rt.storage,
            username,
            role,
            password_hash=hash_password(PASSWORD),
            interfaces=(f"PJSIP/{username}",),
            clinics=("c1",),
            token=token,
            now=self.clock.now(),
        )
        if staff.token:
            self.tokens[username] = staff.token
        return staff.user_id

    @contextlib.asynccontextmanager
    async def browser(self, address: str = "127.0.0.1") -> AsyncIterator[Browser]:
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            yield Browser(self.base, http)


@dataclass
class Attempt:
    status: int
    location: str
    retry_after: float | None
    text: str


@dataclass
class Browser:
    base: str
    http: aiohttp.ClientSession
    csrf: str = ""  # the session's, once logged in

    async def form_token(self, next_url: str = "") -> str:
        async with self.http.get(
            f"{self.base}/login", params={"next": next_url} if next_url else None
        ) as page:
            return (await page.text()).split('name="csrf" value="')[1].split('"')[0]

    async def login(
        self, username: str, password: str = PASSWORD, next_url: str = "", token: str = ""
    ) -> Attempt:
        token = token or await self.form_token()
        form = {"csrf": token, "username": username, "password": password}
        if next_url:
            form["next"] = next_url
        async with self.http.post(f"{self.base}/login", data=form, allow_redirects=False) as r:
            retry = r.headers.get("Retry-After")
            attempt = Attempt(
                r.status, r.headers.get("Location", ""), float(retry) if retry else None, await r.text()
            )
        if attempt.status == 303:
            async with self.http.get(f"{self.base}/") as home:
                text = await home.text()
                if '<meta name="csrf" content="' in text:
                    self.csrf = text.split('<meta name="csrf" content="')[1].split('"')[0]
        return attempt

    async def logout(self) -> int:
        async with self.http.post(
            f"{self.base}/logout", data={"csrf": self.csrf}, allow_redirects=False
        ) as r:
            return r.status

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str, str]:
        async with self.http.get(f"{self.base}{path}", allow_redirects=False, **kwargs) as r:
            return r.status, r.headers.get("Location", ""), await r.text()

    def socket(self, headers: dict[str, str] | None = None) -> Any:
        return self.http.ws_connect(f"{self.base}/ws", headers=headers)


@contextlib.asynccontextmanager
async def running_site(tmp_path: Path, database_url: str = "") -> AsyncIterator[Site]:
    home = DialerHome.one_clinic(tmp_path, database_url)
    settings = load_settings(home.config, env={})
    clock = FakeClock(datetime.now(UTC))
    async with open_runtime(settings, clock=clock) as rt:
        server = TestServer(build_web_app(rt), host="127.0.0.1")
        await server.start_server()
        try:
            yield Site(home, settings, rt, clock, server)
        finally:
            await server.close()
