"""Password hashing with scrypt (memory-hard), in a self-describing format: scrypt$n$r$p$salt$hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

from dialer.core.errors import BadInput

# OWASP's scrypt setting: N=2^17, r=8, p=1 (128 MiB, about half a second). Hashes made with a lower cost
# (2^14 before) still verify, and `needs_rehash` says to store a new one at the next successful login.
N, R, P, LENGTH = 2**17, 8, 1, 32
MIN_LENGTH = 10  # the one minimum: the CLI, its help and the README say the same
# Two hashes at a time at most (256 MiB), on threads of their own: a shift logging in at once neither swells the
# memory nor holds up the threads the database writes go through.
HASH_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scrypt")
MAX_N = 2**20  # a stored hash asking for more is refused, not computed (a tampered row must not eat the RAM)


class WeakPassword(BadInput):
    """The password is too short to be hashed and stored."""


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"пароль короче {MIN_LENGTH} символов")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=N, r=R, p=P, dklen=LENGTH, maxmem=_maxmem(N, R, P)
    )
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        cost, block, parallel = int(n), int(r), int(p)
        if cost > MAX_N or block > 32 or parallel > 4:
            return False
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=cost,
            r=block,
            p=parallel,
            dklen=len(expected),
            maxmem=_maxmem(cost, block, parallel),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """True for a hash made with weaker settings than today's: replace it after the next successful login."""
    try:
        scheme, n, r, p, _salt, _digest = stored.split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) != (N, R, P)
    except ValueError:
        return True


def _maxmem(n: int, r: int, p: int) -> int:
    # scrypt needs 128·r·(n + p) bytes and a little more; OpenSSL's default cap (32 MiB) is below 2^17.
    return 128 * r * (n + p) + 16 * 1024 * 1024


def token_digest(token: str) -> str:
    """Session and API tokens are stored as digests: a leaked database holds no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
