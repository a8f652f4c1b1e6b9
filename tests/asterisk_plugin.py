"""Pytest plugin: the real Asterisk 22 sandbox. The tests talk to it with bench.lib.rawami.RawAmi, a raw AMI
client independent of `dialer.ami`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dialer.sandbox import Sandbox


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
