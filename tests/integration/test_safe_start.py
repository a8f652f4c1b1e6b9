"""Safe by default, through the real command and web app on a real database (a SQLite file; PostgreSQL with
--db=postgresql): no start on example secrets or cleartext to the network, Secure cookies and HSTS behind https,
the SQLite file readable by the service's user only, and old password hashes moved to the current cost at the
next login."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request

from dialer.app import build_web_app, open_runtime
from dialer.core.clock import SystemClock
from dialer.settings import load_settings
from dialer.storage.repository import Storage
from tests.staff import add_staff
from tests.support import DialerHome

# The test client of the service's web app.
AppClient = TestClient[Request, Application]
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "long enough password"


def old_hash(password: str) -> str:
    """A hash as the service made them before (scrypt N=2^14)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def refused_before_anything_was_made(home: DialerHome) -> None:
    """No data folder (so no SQLite file), and a database that was there before (PostgreSQL's, migrated) left
    as it was: no clinic synced, no installation id made."""
    assert not (home.root / "var").exists()
    if home.has_database():
        assert home.query("select * from clinics") == []
        assert home.query("select * from installation") == []


def test_the_example_config_as_shipped_does_not_start(tmp_path: Path, database_url: str) -> None:
    home = DialerHome(tmp_path, database_url=database_url)
    example = (REPO / "config" / "dialer.example.toml").read_text(encoding="utf-8")
    home.write(example.replace('data_dir = "/var/lib/dialer"', 'data_dir = "var"'))
    result = home.run("run", timeout=60)
    assert result.returncode == 2
    assert "Ошибка в настройках: ami.secret" in result.stderr
    refused_before_anything_was_made(home)


def test_listening_on_every_address_without_https_does_not_start(tmp_path: Path, database_url: str) -> None:
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(
        '[service]\ndata_dir = "var"\nlisten_host = "0.0.0.0"\npublic_url = "http://192.168.1.10:8080"\n'
        '[ami]\nhost = "10.0.0.5"\nsecret = "Zq3vJ8pX1mWc5Rt7YhKs"\n'
    )
    result = home.run("run", timeout=60)
    assert result.returncode == 2
    assert "без шифрования" in result.stderr and "insecure_http = true" in result.stderr
    refused_before_anything_was_made(home)


async def test_the_database_and_its_folder_are_for_the_services_user_only(tmp_path: Path) -> None:
    """SQLite only: the file and its folder are the database there; PostgreSQL's files are its server's."""
    path = tmp_path / "data" / "dialer.db"
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    await storage.sync_clinics([("c1", "Клиника", "Europe/Moscow")], SystemClock().now())
    try:
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert modes["dialer.db"] == 0o600 and modes.get("dialer.db-wal", 0o600) == 0o600
    finally:
        await storage.close()
    os.chmod(path, 0o644)  # as an older version left it
    storage = await Storage.open(f"sqlite+aiosqlite:///{path}")
    await storage.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.fixture
async def web(
    tmp_path: Path, database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[AppClient, Storage]]:
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(
        f'[service]\ndata_dir = "var"\npublic_url = "{request.param}"\n'
        '[[clinics]]\nid = "c1"\nname = "Клиника"\ntimezone = "Europe/Moscow"\n'
    )
    async with open_runtime(load_settings(home.config, env={})) as rt:
        # The password hash is made by an older version, at N=2^14.
        await add_staff(rt.storage, "anna", password_hash=old_hash(PASSWORD), display_name="Анна")
        async with TestClient(TestServer(build_web_app(rt))) as client:
            yield client, rt.storage


async def log_in(client: AppClient) -> tuple[str, str]:
    """The login page's and the login's Set-Cookie headers."""
    page = await client.get("/login")
    token = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
    # A browser sends a Secure cookie back over https only; the test client talks plain HTTP, so send it here.
    response = await client.post(
        "/login",
        data={"csrf": token, "username": "anna", "password": PASSWORD},
        headers={"Cookie": f"dialer_login={token}"},
        allow_redirects=False,
    )
    assert response.status == 303
    return page.headers["Set-Cookie"], response.headers.getall("Set-Cookie")[0]


@pytest.mark.parametrize("web", ["https://dialer.clinic.ru"], indirect=True)
async def test_behind_https_cookies_are_secure_and_pages_send_hsts(web: tuple[AppClient, Storage]) -> None:
    client, _ = web
    form_cookie, session_cookie = await log_in(client)
    assert "Secure" in form_cookie and "Secure" in session_cookie and "HttpOnly" in session_cookie
    page = await client.get("/login")
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.parametrize("web", ["http://127.0.0.1:8080"], indirect=True)
async def test_on_plain_http_there_is_no_hsts(web: tuple[AppClient, Storage]) -> None:
    client, _ = web
    _, session_cookie = await log_in(client)
    assert "Secure" not in session_cookie
    assert "Strict-Transport-Security" not in (await client.get("/login")).headers


@pytest.mark.parametrize("web", ["http://127.0.0.1:8080"], indirect=True)
async def test_an_old_password_hash_is_moved_to_the_current_cost_at_login(
    web: tuple[AppClient, Storage],
) -> None:
    client, storage = web
    await log_in(client)
    user = await storage.users.by_name("anna")
    assert user is not None and user.password_hash.startswith("scrypt$131072$8$1$")
    client.session.cookie_jar.clear()
    await log_in(client)  # and the new hash lets her in again
