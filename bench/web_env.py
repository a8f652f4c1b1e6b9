"""What the web benchmarks print about the machine and the tree they ran on."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

from bench.lib.paths import REPO


def busy_check() -> None:
    """Say so when other heavy work runs (the machine has 2 cores: figures taken meanwhile are not comparable)."""
    listed = subprocess.run(
        ["pgrep", "-af", r"pytest|bench\.|dialer .*run|asterisk"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    found = [line for line in listed if line.split(" ", 1)[0] != str(os.getpid())]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    if found:
        print(
            f"WARNING: other processes are running (load average {load}):\n  " + "\n  ".join(found),
            flush=True,
        )
    else:
        print(
            f"nothing else running (pgrep pytest/bench/dialer/asterisk: none; load average {load})",
            flush=True,
        )


def describe(name: str) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--short", "dialer"], capture_output=True, text=True, cwd=REPO, check=False
    ).stdout.strip()
    return (
        f"{name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores {platform.machine()}, "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, commit {commit}"
        f"{' (dialer/ has uncommitted changes)' if dirty else ''}"
    )
