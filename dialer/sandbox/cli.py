"""`dialer sandbox up|down|status|reload|rebuild`: the command-line face of the Asterisk sandbox."""

from __future__ import annotations

from typing import TextIO

from dialer.sandbox.layout import SandboxError
from dialer.sandbox.sandbox import Sandbox

ACTIONS = ("up", "down", "status", "reload", "rebuild")
# `status` exits 3 when the sandbox is not running, as LSB init scripts do, so scripts can test it.
EXIT_NOT_RUNNING = 3


def sandbox_command(action: str, out: TextIO) -> int:
    """Run one sandbox action, writing what a person needs to `out`; return the process exit code."""
    if action not in ACTIONS:
        out.write(f"error: unknown sandbox action {action!r}; use one of {', '.join(ACTIONS)}.\n")
        return 2
    try:
        sandbox = Sandbox()
        if action == "status":
            status = sandbox.status()
            out.write("\n".join(status.lines()) + "\n")
            return 0 if status.running else EXIT_NOT_RUNNING
        if action == "down":
            was_running = sandbox.down(out)
            out.write("Asterisk sandbox stopped.\n" if was_running else "Asterisk sandbox was not running.\n")
            return 0
        if action == "reload":
            sandbox.reload(out)
            creds = sandbox.credentials()
        elif action == "rebuild":
            creds = sandbox.rebuild(out)
        else:
            creds = sandbox.up(out)
    except SandboxError as exc:
        out.write(f"error: {exc}\n")
        return 1
    out.write(
        f"Asterisk sandbox is up. AMI host {creds.host} port {creds.port} user {creds.username} "
        f"(secret in {sandbox.layout.secret_file})\n"
        f"Its carrier answers PJSIP/<number>@trunk on SIP {creds.host}:{sandbox.layout.carrier_sip_port} "
        "(README: The carrier).\n"
    )
    return 0
