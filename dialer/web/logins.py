"""What guards the login form besides the password: where it may send you afterwards, the browsers known to
have logged in as someone, and the stand-in hash that makes an unknown name cost as much as a known one."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from dialer.core.passwords import HASH_THREADS, hash_password

# A path on this site and nothing a browser could read as another host: one leading slash, then only the
# printable ASCII of a URL's path, query and fragment. No "//" or "/\" (both mean "another host" to a
# browser), no backslash, space, tab or control character (browsers drop tabs and newlines: "/\t/evil"
# becomes "//evil"), no scheme.
_SAME_SITE_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/%?#]*")
NEXT_LIMIT = 2000


def safe_next(raw: str) -> str | None:
    """`raw` if it is a same-site absolute path to go to after logging in, else None."""
    return raw if len(raw) <= NEXT_LIMIT and _SAME_SITE_PATH.fullmatch(raw) else None


KNOWN_COOKIE = "dialer_known"
KNOWN_LIFETIME = 180 * 24 * 3600
KNOWN_MAX = 8  # a workstation shared by a few administrators
_NONCE, _MAC = 16, 24  # hex characters


@dataclass
class KnownBrowsers:
    """A cookie that says "this browser has logged in as NAME before", signed with a key of this process.

    The login limiter counts such a browser's failures on its own key, so a stranger's failures for the same
    name, or from the same NAT address, do not slow that person down. The cookie grants nothing else. The
    key lives in memory: after a restart every browser is a stranger again until it logs in once more.
    """

    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def key_for(self, cookie: str, username: str) -> str:
        """The limiter key of this browser for `username`, or "" if the cookie does not vouch for it."""
        for entry in cookie.split(".")[:KNOWN_MAX]:
            if self._vouches(entry, username):
                return f"{username.casefold()}:{entry[:_NONCE]}"
        return ""

    def remember(self, cookie: str, username: str) -> str:
        """The cookie's new value after `username` logged in from this browser."""
        entries = [e for e in cookie.split(".")[:KNOWN_MAX] if len(e) == _NONCE + _MAC]
        mine = next((e for e in entries if self._vouches(e, username)), None)
        if mine is None:
            nonce = secrets.token_hex(_NONCE // 2)
            mine = nonce + self._mac(nonce, username)
        others = [e for e in entries if e != mine]
        return ".".join([mine, *others][:KNOWN_MAX])

    def _vouches(self, entry: str, username: str) -> bool:
        if len(entry) != _NONCE + _MAC:
            return False
        nonce, mac = entry[:_NONCE], entry[_NONCE:]
        return hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(nonce, username).encode())

    def _mac(self, nonce: str, username: str) -> str:
        message = f"{nonce}:{username.casefold()}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:_MAC]


@dataclass
class DummyHash:
    """A hash of a random password, made like every stored one: checked when the name is unknown, so that
    an unknown name takes as long to refuse as a known one with a wrong password."""

    _value: str = ""

    async def get(self) -> str:
        if not self._value:
            self._value = await asyncio.get_running_loop().run_in_executor(
                HASH_THREADS, hash_password, secrets.token_urlsafe(24)
            )
        return self._value
