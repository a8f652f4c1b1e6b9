"""The Asterisk sandbox as one object: build it once, bring it up, reload it, stop it, say how it is.

A real Asterisk 22 beside the service on a developer's machine or in CI, with the project's own dialplan and
manager user, so that tests and demos talk to the same PBX behaviour a clinic's installation has.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from dialer.sandbox import asterisk_conf, build, process
from dialer.sandbox.carrier import carrier_up
from dialer.sandbox.layout import AMI_HOST, AMI_USERNAME, SandboxError, SandboxLayout
from dialer.sandbox.procs import asterisk_rx
from dialer.sandbox.sounds import install_fixed_prompts

LOCK_TIMEOUT = 1500.0
RELOAD_COMMANDS = (
    "dialplan reload",
    "manager reload",
    "queue reload all",
    "moh reload",
    "logger reload",
    "module reload res_pjsip.so",
)


@dataclass(frozen=True)
class AmiCredentials:
    """How the service reaches the sandbox's AMI. The secret stays out of repr."""

    host: str
    port: int
    username: str
    secret: str

    def __repr__(self) -> str:
        return f"AmiCredentials(host={self.host!r}, port={self.port}, user={self.username!r}, secret='****')"


@dataclass(frozen=True)
class SandboxStatus:
    running: bool
    pids: tuple[int, ...]
    built: bool
    problem: str | None  # why the chroot cannot be used as is; None when it can
    root: Path
    host: str
    port: int
    username: str
    version: str
    carrier_pids: tuple[int, ...] = ()
    clinic_sip_port: int = 0
    carrier_sip_port: int = 0
    carrier_ami_port: int = 0

    def lines(self) -> list[str]:
        state = f"running (pid {', '.join(map(str, self.pids))})" if self.running else "not running"
        carrier = (
            f"running (pid {', '.join(map(str, self.carrier_pids))})" if self.carrier_pids else "not running"
        )
        return [
            f"Asterisk sandbox: {state}",
            f"  AMI:     {self.host}:{self.port} user {self.username}",
            f"  trunk:   SIP/UDP {self.host}:{self.clinic_sip_port} -> carrier {self.host}:{self.carrier_sip_port}",
            f"  carrier: {carrier}, AMI {self.host}:{self.carrier_ami_port} (tests only)",
            f"  chroot:  {self.root}" + ("" if self.built else f" ({self.problem})"),
            f"  version: {self.version}",
        ]


def _refuse_unfit_host() -> None:
    problem = build.host_problem()
    if problem:
        raise SandboxError(problem)


@contextlib.contextmanager
def _locked(layout: SandboxLayout, out: TextIO) -> Iterator[None]:
    """One `up`/`down` at a time per sandbox, so two test sessions never build it twice."""
    layout.base.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("a+") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    out.write("Waiting for another `dialer sandbox` run to finish...\n")
                    out.flush()
                    told = True
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"Another sandbox run has held {layout.lock_file} for {LOCK_TIMEOUT:.0f} s; "
                        "stop it, then try again."
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class Sandbox:
    """The sandbox at `layout` (default: from the environment, see `SandboxLayout.from_env`)."""

    def __init__(self, layout: SandboxLayout | None = None) -> None:
        self.layout = layout or SandboxLayout.from_env()

    def credentials(self) -> AmiCredentials:
        """AMI host, port, user and secret; the secret exists once the sandbox has been brought up."""
        secret = self.layout.secret_file
        if not secret.is_file():
            raise SandboxError("The sandbox has no AMI secret yet; run `dialer sandbox up` first.")
        value = secret.read_text(encoding="utf-8").strip()
        return AmiCredentials(AMI_HOST, self.layout.ami_port, AMI_USERNAME, value)

    def is_running(self) -> bool:
        return bool(process.asterisk_pids(self.layout.clinic))

    def status(self) -> SandboxStatus:
        problem = build.root_problem(self.layout)
        pids = tuple(process.asterisk_pids(self.layout.clinic))
        return SandboxStatus(
            running=bool(pids),
            pids=pids,
            built=problem is None,
            problem=problem,
            root=self.layout.root,
            host=AMI_HOST,
            port=self.layout.ami_port,
            username=AMI_USERNAME,
            version=build.asterisk_version(self.layout) if problem is None else "unknown",
            carrier_pids=tuple(process.asterisk_pids(self.layout.carrier)),
            clinic_sip_port=self.layout.clinic_sip_port,
            carrier_sip_port=self.layout.carrier_sip_port,
            carrier_ami_port=self.layout.carrier_ami_port,
        )

    def up(self, out: TextIO) -> AmiCredentials:
        """Make sure the sandbox is built, configured from the source tree, and running; return its AMI login.

        Idempotent: a running sandbox gets its config rewritten and reloaded instead of a restart.
        """
        _refuse_unfit_host()
        with _locked(self.layout, out):
            return self._up_locked(out)

    def _up_locked(self, out: TextIO) -> AmiCredentials:
        layout = self.layout
        running = bool(process.asterisk_pids(layout.clinic))
        # Before any build: a busy port would only fail the start a minute later.
        if not running and not process.port_frees(layout.ami_port):
            raise SandboxError(process.port_busy_message(layout.ami_port))
        problem = build.root_problem(layout)
        if problem:
            process.stop(layout.carrier)
            process.stop(layout.clinic)
            out.write(f"The sandbox chroot needs building: {problem}.\n")
            build.build_root(layout, out)
        secret = asterisk_conf.load_or_create_secret(layout)
        files = asterisk_conf.render(layout, secret)
        running = bool(process.asterisk_pids(layout.clinic))
        restart = asterisk_conf.install(layout, files) and running
        for warning in install_fixed_prompts(layout.prompts_dir):
            out.write(f"warning: {warning}\n")
        if running and not restart:
            self._reload()
            process.ami_login(layout.ami_port, AMI_USERNAME, secret)
        else:
            if restart:
                out.write("Restarting Asterisk: its core config changed.\n")
                process.stop(layout.clinic)
            process.start(layout.clinic, secret, AMI_USERNAME)
        for warning in carrier_up(layout, secret):
            out.write(f"warning: {warning}\n")
        return self.credentials()

    def _reload(self) -> None:
        for command in RELOAD_COMMANDS:
            asterisk_rx(self.layout.clinic, command)

    def reload(self, out: TextIO) -> None:
        """Rewrite the config from the source tree into a running sandbox and reload it."""
        if not self.is_running():
            raise SandboxError("The sandbox is not running; start it with `dialer sandbox up`.")
        self.up(out)

    def down(self, out: TextIO) -> bool:
        """Stop the carrier and the clinic's Asterisk; True when the clinic's was running. The chroot stays."""
        with _locked(self.layout, out):
            process.stop(self.layout.carrier)
            return process.stop(self.layout.clinic)

    def rebuild(self, out: TextIO) -> AmiCredentials:
        """Throw the chroot away and build it again from the mirror."""
        _refuse_unfit_host()
        with _locked(self.layout, out):
            process.stop(self.layout.carrier)
            process.stop(self.layout.clinic)
            self.layout.marker.unlink(missing_ok=True)
            return self._up_locked(out)

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """Run one Asterisk CLI command in the running sandbox and return its output."""
        return asterisk_rx(self.layout.clinic, command, timeout=timeout)

    def carrier_rx(self, command: str, timeout: float = 15.0) -> str:
        """Run one Asterisk CLI command in the running carrier and return its output."""
        return asterisk_rx(self.layout.carrier, command, timeout=timeout)


def sandbox_prompts_dir() -> Path | None:
    """The sandbox's prompts folder when a built sandbox is here (the default of `dialer prompts build`)."""
    layout = SandboxLayout.from_env()
    return layout.prompts_dir if layout.marker.is_file() else None
