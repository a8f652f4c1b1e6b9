"""Starting, finding and stopping the sandbox's Asterisk process, and checking that its AMI answers."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from dialer.sandbox.layout import AMI_HOST, AsteriskInstance, SandboxError
from dialer.sandbox.procs import CHROOT_ENV, asterisk_rx, clean_env, pid_exists, probe

START_TIMEOUT = 45.0
STOP_TIMEOUT = 15.0


def port_is_free(port: int, host: str = AMI_HOST) -> bool:
    """True when nothing listens on host:port (a bind succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


# A stopped Asterisk's port can stay taken a moment after its process is gone (its connections still closing,
# a child exiting): a start right after a stop waits this long for it before it calls the port another's.
PORT_RELEASE_SECONDS = 3.0


def port_frees(port: int, within: float = PORT_RELEASE_SECONDS, host: str = AMI_HOST) -> bool:
    """True once nothing listens on host:port, looked at again for up to `within` seconds."""
    deadline = time.monotonic() + within
    while not port_is_free(port, host):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def port_busy_message(port: int) -> str:
    return (
        f"Port {port} on {AMI_HOST} is already taken by another program; stop it "
        f"(`ss -ltnp 'sport = :{port}'` shows which) or set DIALER_SANDBOX_AMI_PORT to a free port."
    )


def _accepts(port: int, host: str = AMI_HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def asterisk_pids(instance: AsteriskInstance) -> list[int]:
    """Asterisk processes of this instance: their filesystem root is the chroot, and their `-C` config (none
    for the clinic's) says which of the chroot's two Asterisks they are."""
    if not instance.root.is_dir():
        return []
    target = str(instance.root.resolve())
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != target:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"asterisk") and config_of(argv) == instance.conf:
            found.append(int(entry.name))
    return sorted(found)


def config_of(argv: list[bytes]) -> str | None:
    """The `-C` config an asterisk command line names; None for the packaged default (the clinic's)."""
    for flag, value in itertools.pairwise(argv):
        if flag == b"-C":
            return value.decode("utf-8", "replace")
    return None


def _alive(pid: int) -> bool:
    if not pid_exists(pid):
        return False
    # A zombie is not alive for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _log_tail(instance: AsteriskInstance, lines: int = 12) -> str:
    try:
        text = instance.log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def spawn(instance: AsteriskInstance) -> int:
    """Start `asterisk -f` in the chroot, detached (own session, output to the log file); return its pid."""
    script = 'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    done = subprocess.run(
        ["sh", "-c", script, "sh", str(instance.log_file), *instance.asterisk_argv("-f")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
        start_new_session=True,
        env=clean_env(CHROOT_ENV),
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        raise SandboxError(
            f"Could not start the {instance.name} Asterisk in {instance.root} ({done.stderr.strip()}); rebuild it."
        )
    pid = int(done.stdout.strip())
    instance.pid_file.write_text(f"{pid}\n", encoding="utf-8")
    return pid


def wait_ready(
    instance: AsteriskInstance, pid: int, secret: str, username: str, timeout: float = START_TIMEOUT
) -> None:
    """Wait for the AMI port, for Asterisk to be fully booted, and for our user to log in."""
    deadline = time.monotonic() + timeout
    while not _accepts(instance.ami_port):
        if not _alive(pid):
            raise SandboxError(
                f"The {instance.name} Asterisk exited during start-up; read {instance.log_file} and fix the "
                "config it names.\n" + _log_tail(instance)
            )
        if time.monotonic() > deadline:
            raise SandboxError(
                f"The {instance.name} Asterisk did not open AMI port {instance.ami_port} within "
                f"{timeout:.0f} s; read {instance.log_file}."
            )
        time.sleep(0.1)
    asterisk_rx(instance, "core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
    ami_login(instance.ami_port, username, secret)


def start(instance: AsteriskInstance, secret: str, username: str) -> None:
    """Start one Asterisk of the sandbox and wait until `username` can log in; stopped again if it cannot."""
    if not port_frees(instance.ami_port):
        raise SandboxError(port_busy_message(instance.ami_port))
    pid = spawn(instance)
    try:
        wait_ready(instance, pid, secret, username)
    except SandboxError:
        stop(instance)
        raise


def ami_login(port: int, username: str, secret: str, host: str = AMI_HOST, timeout: float = 5.0) -> None:
    """Log in over raw AMI and log off; raise SandboxError when the manager refuses the user."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            reader = sock.makefile("rb")
            reader.readline()  # the banner
            sock.sendall(
                f"Action: Login\r\nActionID: probe\r\nUsername: {username}\r\nSecret: {secret}\r\n"
                "Events: off\r\n\r\n".encode()
            )
            reply: dict[str, str] = {}
            for raw in reader:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    if reply.get("ActionID") == "probe":
                        break
                    reply = {}
                    continue
                key, _, value = line.partition(":")
                reply[key.strip()] = value.strip()
            with contextlib.suppress(OSError):
                sock.sendall(b"Action: Logoff\r\n\r\n")
    except OSError as exc:
        raise SandboxError(f"AMI on {host}:{port} did not answer ({exc}); try `dialer sandbox up`.") from exc
    if reply.get("Response") != "Success":
        raise SandboxError(
            f"AMI on {host}:{port} refused user {username!r} ({reply.get('Message', 'no reply')}); "
            "run `dialer sandbox up` to rewrite its config."
        )


def stop(instance: AsteriskInstance) -> bool:
    """Stop this Asterisk of the sandbox; True when it was running."""
    pids = asterisk_pids(instance)
    if not pids:
        instance.pid_file.unlink(missing_ok=True)
        return False
    probe(instance.asterisk_argv("-rx", "core stop now"), timeout=STOP_TIMEOUT)
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not any(_alive(p) for p in pids):
            break
    instance.pid_file.unlink(missing_ok=True)
    if any(_alive(p) for p in pids):
        raise SandboxError(f"Asterisk (pid {pids}) did not stop; kill it by hand with `kill -9 {pids[0]}`.")
    return True
