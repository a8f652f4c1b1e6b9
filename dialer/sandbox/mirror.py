"""Which Debian mirror the sandbox build uses: the host's own, read from its apt sources.

The machines this runs on reach Debian only through the mirror their apt is already set up for, so the sandbox
never names a host of its own. An explicit mirror can still be given with DIALER_SANDBOX_MIRROR.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from dialer.sandbox.layout import ENV_MIRROR, SandboxError

APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")
APT_SOURCES_LIST = Path("/etc/apt/sources.list")


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
        elif line.lstrip().startswith("#"):
            continue
        elif line[0].isspace() and key:
            stanza[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            stanza[key] = value.strip()


def _is_base_suite(suite: str) -> bool:
    # "bookworm", not "bookworm-security" or "bookworm-updates": only the base archive has sid beside it.
    return bool(suite) and "-" not in suite and "/" not in suite


def _uri_ok(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "file:/")) and "security" not in uri


def mirror_from_deb822(text: str) -> str | None:
    for stanza in _deb822_stanzas(text):
        if stanza.get("enabled", "yes").lower() == "no" or "deb" not in stanza.get("types", "").split():
            continue
        if "main" not in stanza.get("components", "").split():
            continue
        if not any(_is_base_suite(s) for s in stanza.get("suites", "").split()):
            continue
        for uri in stanza.get("uris", "").split():
            if _uri_ok(uri):
                return uri.rstrip("/")
    return None


def mirror_from_one_line(text: str) -> str | None:
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 4 or words[0] != "deb":
            continue
        rest = words[1:]
        if rest[0].startswith("["):  # options such as [signed-by=...] sit before the URI
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if len(rest) >= 3 and _uri_ok(rest[0]) and _is_base_suite(rest[1]) and "main" in rest[2:]:
            return rest[0].rstrip("/")
    return None


def find_debian_mirror(sources_dir: Path = APT_SOURCES_DIR, sources_list: Path = APT_SOURCES_LIST) -> str:
    """The Debian archive URI the host's apt uses for its base release's main component."""
    override = os.environ.get(ENV_MIRROR)
    if override:
        return override.rstrip("/")
    candidates = sorted(sources_dir.glob("*.sources")) if sources_dir.is_dir() else []
    for path in candidates:
        found = mirror_from_deb822(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            return found
    lists = [sources_list, *(sorted(sources_dir.glob("*.list")) if sources_dir.is_dir() else [])]
    for path in lists:
        if path.is_file():
            found = mirror_from_one_line(path.read_text(encoding="utf-8", errors="replace"))
            if found:
                return found
    raise SandboxError(
        f"No Debian mirror found in {sources_dir}/*.sources or {sources_list}; "
        f"set {ENV_MIRROR} to your Debian archive URI."
    )
