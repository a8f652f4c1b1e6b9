"""Running the host's tools (debootstrap, chroot, the Asterisk CLI) with timeouts and readable failures."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from dialer.sandbox.layout import AsteriskInstance, SandboxError

# apt inside the chroot must never stop to ask a question.
CHROOT_ENV = {
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C.UTF-8",
    "LANG": "C.UTF-8",
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without what preloads a library into every child (LD_PRELOAD, libfaketime's
    settings): the chroot has none of the host's libraries, so a preload only breaks its programs, and
    Asterisk must run on the real clock whatever clock its caller is shown."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("LD_PRELOAD", "LD_LIBRARY_PATH") and not key.startswith("FAKETIME")
    }
    return {**env, **(extra or {})}


def pid_exists(pid: int) -> bool:
    """True when a process with this id runs on this host (one we may not signal counts; a zombie counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float,
    what: str,
    fix: str,
    env: Mapping[str, str] | None = None,
    log: TextIO | None = None,
) -> str:
    """Run a command to completion and return its output; on failure raise SandboxError with `what` and `fix`.

    Output goes to `log` as well when given, so a slow build leaves a trail to read.
    """
    try:
        done = _run(argv, timeout=timeout, env=clean_env(env))
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{what} took longer than {timeout:.0f} s; {fix}") from exc
    except FileNotFoundError as exc:
        raise SandboxError(f"{what} failed: {exc.filename} is not installed; {fix}") from exc
    if log is not None:
        log.write(f"$ {' '.join(str(a) for a in argv)}\n{done.stdout}\n")
        log.flush()
    if done.returncode != 0:
        raise SandboxError(f"{what} failed (exit {done.returncode}); {fix}\n{_tail(done.stdout)}")
    return done.stdout


def probe(argv: Sequence[str | Path], *, timeout: float) -> tuple[int, str]:
    """Run a quick check; a missing tool or a timeout is a failed check, not an exception."""
    try:
        done = _run(argv, timeout=timeout, env=clean_env())
    except (subprocess.TimeoutExpired, OSError) as exc:
        return -1, str(exc)
    return done.returncode, done.stdout


def _run(
    argv: Sequence[str | Path], *, timeout: float, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run to completion with no input, stderr folded into stdout, undecodable bytes replaced; any exit code."""
    return subprocess.run(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=timeout,
        env=env,
        check=False,
    )


def asterisk_rx(instance: AsteriskInstance, command: str, *, timeout: float = 15.0) -> str:
    """One Asterisk CLI command against one of the sandbox's running Asterisks, through its control socket."""
    return run(
        instance.asterisk_argv("-rx", command),
        timeout=timeout,
        what=f"asterisk -rx {command!r}",
        fix="check that the sandbox is running (`dialer sandbox status`).",
        env=CHROOT_ENV,
    )
