"""Pytest plugin: the real Asterisk 22 sandbox. The tests talk to it with bench.lib.rawami.RawAmi, a raw AMI
client independent of `dialer.ami`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dialer.sandbox import Sandbox
from dialer.sandbox.layout import SandboxError, SandboxLayout


@dataclass(frozen=True)
class SandboxHandle:
    """What a test needs to reach the running sandbox."""

    sandbox: Sandbox
    host: str
    port: int
    username: str
    secret: str

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """Run an `asterisk -rx` CLI command in the sandbox and return its output."""
        return self.sandbox.rx(command, timeout=timeout)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxHandle]:
    """The sandbox, built if needed and running; a running one is reused and left running afterwards."""
    box = Sandbox()
    creds = box.up(sys.stderr)
    yield SandboxHandle(box, creds.host, creds.port, creds.username, creds.secret)


def asterisk_rx(handle: SandboxHandle, command: str) -> str:
    return handle.rx(command)


ENV_SECOND_DIR = "DIALER_SANDBOX2_DIR"
ENV_SECOND_PORT = "DIALER_SANDBOX2_AMI_PORT"
SECOND_PORT_OFFSET = 10  # its carrier takes the next ports (layout.py), so keep clear of the first's


def second_layout(first: SandboxLayout) -> SandboxLayout | None:
    """The second Asterisk: DIALER_SANDBOX2_DIR / DIALER_SANDBOX2_AMI_PORT, by default beside the first
    (its folder with "-2", its AMI port 10 above). An empty DIALER_SANDBOX2_DIR turns it off."""
    raw = os.environ.get(ENV_SECOND_DIR)
    if raw == "":
        return None
    base = Path(raw) if raw else first.base.with_name(first.base.name + "-2")
    port = os.environ.get(ENV_SECOND_PORT, "") or str(first.ami_port + SECOND_PORT_OFFSET)
    if not port.isdigit():
        raise SandboxError(f"{ENV_SECOND_PORT}={port!r} is not a TCP port")
    return SandboxLayout(base=base.absolute(), config_dir=first.config_dir, ami_port=int(port))


def _reuse_chroot(first: SandboxLayout, second: SandboxLayout) -> None:
    """A copy of the first sandbox's built chroot, when the second has none: seconds instead of a build."""
    if second.marker.is_file() or not first.marker.is_file() or second.root.exists():
        return
    second.base.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(first.root), str(second.root)], check=True, timeout=600)


@pytest.fixture(scope="session")
def second_sandbox(sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    """A second Asterisk, for an installation with two PBXes; skipped only when turned off."""
    layout = second_layout(sandbox.sandbox.layout)
    if layout is None:
        pytest.skip(f"no second Asterisk sandbox: {ENV_SECOND_DIR} is set empty")
    _reuse_chroot(sandbox.sandbox.layout, layout)
    box = Sandbox(layout)
    creds = box.up(sys.stderr)
    yield SandboxHandle(box, creds.host, creds.port, creds.username, creds.secret)
