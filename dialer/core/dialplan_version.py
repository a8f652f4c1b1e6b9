"""Which version of the shipped dialplan (config/asterisk/extensions_dialer.conf) an Asterisk runs.

The file states its own version in its last context, `dialer-dialplan-version`, whose one priority is
NoOp(<version>): the first 12 hex digits of SHA-256 over every other line of the file. `dialer check-config`
asks the PBX for that context (AMI ShowDialPlan) and compares it with the file the service came with, so that
an upgrade whose dialplan was not copied to the PBX and reloaded is caught before a call depends on it.
"""

from __future__ import annotations

import hashlib
import re

VERSION_CONTEXT = "dialer-dialplan-version"
_HEADER = f"[{VERSION_CONTEXT}]"
_NOOP = re.compile(r"^exten\s*=>\s*s,1,NoOp\(([0-9a-f]*)\)\s*$")


def _split(text: str) -> tuple[list[str], list[str]]:
    """The file's lines outside the version context, and those inside it (up to the next context)."""
    outside: list[str] = []
    inside: list[str] = []
    within = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            within = stripped == _HEADER
        (inside if within else outside).append(line)
    return outside, inside


def dialplan_version(text: str) -> str:
    """The version the file's content makes: what its version context must state."""
    outside, _ = _split(text)
    return hashlib.sha256("\n".join(outside).encode("utf-8")).hexdigest()[:12]


def stated_version(text: str) -> str | None:
    """The version the file's version context states, or None when it has none."""
    _, inside = _split(text)
    for line in inside:
        found = _NOOP.match(line.strip())
        if found:
            return found.group(1)
    return None
