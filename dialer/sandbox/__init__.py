"""A real Asterisk 22 in a Debian sid chroot, for development, tests and demos: `dialer sandbox up|down`.

This is an adapter: it touches the host (debootstrap, chroot, processes) and nothing of the service's own
packages except `dialer.core` and the prompt synthesis.
"""

from __future__ import annotations

from dialer.sandbox.layout import SandboxError, SandboxLayout
from dialer.sandbox.sandbox import AmiCredentials, Sandbox, SandboxStatus, sandbox_prompts_dir

__all__ = [
    "AmiCredentials",
    "Sandbox",
    "SandboxError",
    "SandboxLayout",
    "SandboxStatus",
    "sandbox_prompts_dir",
]
