"""The service as the benchmarks run it: `dialer run` as a child process in a home folder, on the sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import aiohttp

from bench.lib.clinic import ClinicTime

SERVICE_LOG = "service.log"


class AmiLogin(Protocol):
    """Where the service logs in to Asterisk: the sandbox's credentials, or a test's handle on them."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def secret(self) -> str: ...


def service_head(clinic: ClinicTime, web_port: int, ami: AmiLogin, ami_settings: str = "") -> str:
    """The top of a `dialer.toml` for a service on the sandbox: on the clinic's clock, its data in the working
    folder, its pages on 127.0.0.1:`web_port`, pinging Asterisk every 2 s (a lost link is seen quickly);
    `ami_settings` are more keys of its [ami] table."""
    return f"""
{clinic.rehearsal()}
[service]
data_dir = "var"
listen_port = {web_port}
public_url = "http://127.0.0.1:{web_port}"

[ami]
host = "{ami.host}"
port = {ami.port}
username = "{ami.username}"
secret = "{ami.secret}"
ping_interval = 2
{ami_settings}"""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment of a `dialer` child: the config comes from `--config`, never from the caller's."""
    return {**os.environ, "DIALER_CONFIG": "", **(extra or {})}


async def start_service(
    root: Path, config: Path, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`dialer run` with `config`, working in `root`, its log appended to `root/service.log`."""
    log = (root / SERVICE_LOG).open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dialer",
            "--config",
            str(config),
            "--log-level",
            "INFO",
            "run",
            cwd=root,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
            env=dict(env) if env is not None else service_env(),
        )
    finally:
        log.close()


async def wait_healthy(
    base: str,
    process: asyncio.subprocess.Process | None = None,
    *,
    root: Path | None = None,
    timeout: float = 60,
) -> None:
    """Until the service at `base` says it is healthy and reconciled with Asterisk; an error (with the tail of
    its log when `root` is given) if it exits or does not come up in time."""
    end = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < end:
            if process is not None and process.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/api/health") as r:
                    if r.status == 200 and (await r.json()).get("reconciled"):
                        return
            await asyncio.sleep(0.3)
    tail = (root / SERVICE_LOG).read_text(errors="replace")[-3000:] if root is not None else "see service.log"
    raise RuntimeError(f"the service did not come up:\n{tail}")


async def stop_service(process: asyncio.subprocess.Process, grace: float = 20) -> None:
    """SIGTERM, as an installation's service manager stops it; killed if it has not stopped after `grace` s."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        process.kill()
        await process.wait()
