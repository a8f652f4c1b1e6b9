"""The service's processes for a day: one or two `dialer run` on one database, killed and restarted as a
service manager would, their memory sampled from /proc."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.lib.service import SERVICE_LOG, wait_healthy

STANDBY_REFUSED = ("AlreadyDialing", "dialing lease", "is dialing for this database")


def rss_mb(pid: int) -> float | None:
    """The process's resident memory in MB, from /proc (None once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


@dataclass
class Node:
    """One `dialer run` process in its own home folder, with its own web port, on the shared database."""

    name: str
    root: Path
    config: Path
    port: int
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    started: list[float] = field(default_factory=list)  # wall clock of each start
    rss: list[tuple[float, int, float]] = field(default_factory=list)  # (wall clock, pid, MB)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, *, healthy: bool = True, timeout: float = 60) -> None:
        """`dialer run` under a host name of its own (a UTS namespace named after the node): two nodes are two
        machines to each other, so the leader's death is known to the standby only by its lease's expiry."""
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / SERVICE_LOG).open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', f"day-{self.name}",
                sys.executable, "-m", "dialer", "--config", str(self.config), "--log-level", "INFO", "run",
                cwd=self.root, stdout=asyncio.subprocess.DEVNULL, stderr=log, env=self.env,
            )  # fmt: skip
        finally:
            log.close()
        self.started.append(time.time())
        if healthy:
            await wait_healthy(self.base, self.process, root=self.root, timeout=timeout)

    async def health(self) -> dict[str, object] | None:
        with contextlib.suppress(aiohttp.ClientError, ValueError):
            async with aiohttp.ClientSession() as http, http.get(f"{self.base}/api/health") as r:
                return dict(await r.json()) if r.status == 200 else None
        return None

    def log_text(self) -> str:
        path = self.root / SERVICE_LOG
        return path.read_text(errors="replace") if path.exists() else ""

    async def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a crash or the OOM killer leaves it."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def sample(self) -> None:
        if self.process is not None and self.process.returncode is None:
            mb = rss_mb(self.process.pid)
            if mb is not None:
                self.rss.append((time.time(), self.process.pid, mb))

    def refused_standby(self) -> str | None:
        """Why this node exited at start-up, when it did so because another process dials (no standby)."""
        if self.process is None or self.process.returncode is None:
            return None
        log = (self.root / SERVICE_LOG).read_text(errors="replace")
        for line in reversed(log.splitlines()):
            if any(mark in line for mark in STANDBY_REFUSED):
                return line.strip()[-300:]
        return f"exited with code {self.process.returncode}"


async def sample_memory(nodes: list[Node], every: float = 1.0) -> None:
    while True:
        for node in nodes:
            node.sample()
        await asyncio.sleep(every)


def rss_growth(nodes: list[Node], warm_up: float, until: float) -> float:
    """The largest growth, in MB, of one process's RSS from the end of its warm-up (`warm_up` s after it
    started) to its last sample, over the processes that lived at least twice their warm-up; nan if none did."""
    growth: list[float] = []
    for node in nodes:
        by_pid: dict[int, list[tuple[float, float]]] = {}
        for at, pid, mb in node.rss:
            if at <= until:
                by_pid.setdefault(pid, []).append((at, mb))
        for samples in by_pid.values():
            first = samples[0][0]
            warm = [mb for at, mb in samples if at >= first + warm_up]
            if len(samples) < 2 or samples[-1][0] - first < 2 * warm_up or not warm:
                continue
            growth.append(samples[-1][1] - warm[0])
    return max(growth) if growth else float("nan")


def rss_course(nodes: list[Node], t0: float, until: float, every: float = 10.0) -> list[dict[str, Any]]:
    """Each process's RSS over its life, a sample every `every` s: {"node", "pid", "samples": [[s from t0, MB]]}."""
    course: list[dict[str, Any]] = []
    for node in nodes:
        by_pid: dict[int, list[list[float]]] = {}
        for at, pid, mb in node.rss:
            kept = by_pid.setdefault(pid, [])
            if at <= until and (not kept or at - t0 >= kept[-1][0] + every):
                kept.append([round(at - t0, 1), round(mb, 1)])
        course += [{"node": node.name, "pid": pid, "samples": samples} for pid, samples in by_pid.items()]
    return course


async def wait_exit(node: Node, seconds: float) -> bool:
    """Whether the node's process exited within `seconds`."""
    if node.process is None:
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(node.process.wait(), seconds)
    return node.process.returncode is not None
