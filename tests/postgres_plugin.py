"""Pytest plugin: a real, throwaway PostgreSQL cluster, and the `database_url` every storage test opens.

`--db=sqlite` (the default) gives each test a fresh SQLite file; `--db=postgresql` gives it a fresh database
in a cluster made for this run; `--db=both` runs each such test on both. The cluster is Debian's `postgresql`
package: initdb into a temporary folder owned by the `postgres` OS user (PostgreSQL refuses to run as root),
listening on a free port on 127.0.0.1 and on a unix socket in that folder, stopped and removed at the end of
the session. Each test's database is a copy of one migrated template, which is much faster than migrating.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dialer.storage.repository import Storage

TEMPLATE = "dialer_template"
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql", "both"),
        default="sqlite",
        help="the database the storage tests run on (default sqlite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "pg: runs on a real PostgreSQL cluster made for the test run")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    chosen = str(metafunc.config.getoption("--db"))
    backends = BACKENDS if chosen == "both" else (chosen,)
    params = [pytest.param(b, marks=[pytest.mark.pg] if b == "postgresql" else [], id=b) for b in backends]
    metafunc.parametrize("backend", params)


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} is not under /usr/lib/postgresql/*/bin: install Debian's postgresql package "
            "(scripts/setup --test)"
        )
    return found[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running cluster; `url(name)` reaches one of its databases over TCP as the `postgres` superuser."""

    folder: Path
    port: int
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        subprocess.run(
            [
                postgres_bin("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.folder),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                statement,
            ],
            check=True,
            capture_output=True,
        )

    def fresh_database(self) -> str:
        name = f"dialer_test_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _as_postgres() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def start_cluster() -> PostgresCluster:
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise RuntimeError("no `postgres` OS user: install Debian's postgresql package") from exc
    folder = Path(tempfile.mkdtemp(prefix="dialer-pg-"))
    if os.geteuid() == 0:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    subprocess.run(
        [
            *_as_postgres(),
            postgres_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    # A throwaway cluster: durability is worth nothing here, speed is.
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB"
    )
    subprocess.run(
        [
            *_as_postgres(),
            postgres_bin("pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(folder / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    cluster = PostgresCluster(folder, port)
    cluster.sql(f"CREATE DATABASE {TEMPLATE}")
    asyncio.run(_migrate(cluster.url(TEMPLATE)))
    return cluster


async def _migrate(url: str) -> None:
    from dialer.storage.repository import Storage

    storage = await Storage.open(url)
    await storage.close()


def stop_cluster(cluster: PostgresCluster) -> None:
    subprocess.run(
        [
            *_as_postgres(),
            postgres_bin("pg_ctl"),
            "-D",
            str(cluster.folder / "data"),
            "-m",
            "immediate",
            "-w",
            "stop",
        ],
        check=False,
        capture_output=True,
    )
    shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


def fresh_database(request: pytest.FixtureRequest, backend: str, sqlite_file: Path) -> Iterator[str]:
    """A fresh, empty database of `backend` (migrated when on PostgreSQL), dropped after the test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = cluster.fresh_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of the chosen backend, migrated when on PostgreSQL (Storage.open migrates both)."""
    yield from fresh_database(request, backend, tmp_path / "dialer.db")


@pytest.fixture
def second_database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[str]:
    """Another fresh database of the same backend as `database_url`: a second installation's own."""
    yield from fresh_database(request, backend, tmp_path / "second.db")


@pytest.fixture
async def storage(database_url: str) -> AsyncIterator[Storage]:
    """The product's storage opened on `database_url`, closed after the test."""
    store = await Storage.open(database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, whatever `--db` says (for the tests only PostgreSQL concerns)."""
    name = postgres_cluster.fresh_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `pg` (those only about PostgreSQL) run when PostgreSQL is asked for; skipped otherwise."""
    if str(config.getoption("--db")) != "sqlite":
        return
    skip = pytest.mark.skip(reason="PostgreSQL only: run with --db=postgresql")
    for item in items:
        if item.get_closest_marker("pg") is not None:
            item.add_marker(skip)
