"""Staff accounts written straight into a test's storage: the users the web app and its sockets serve."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from dialer.core.passwords import new_token, token_digest
from dialer.storage.repository import Storage

NO_LOGIN = "-"  # a password hash no password matches: the account is used by its token or not at all


@dataclass(frozen=True)
class Staff:
    user_id: int
    token: str  # the API bearer token, "" when the account was made without one


async def add_staff(
    storage: Storage,
    username: str,
    role: str = "operator",
    *,
    password_hash: str = NO_LOGIN,
    interfaces: tuple[str, ...] = (),
    clinics: Collection[str] = ("*",),
    token: bool = False,
    display_name: str = "",
    now: datetime | None = None,
) -> Staff:
    """One user of `role`, of every clinic unless told; with a fresh API token when `token`."""
    bearer = new_token() if token else ""
    user_id = await storage.users.add(
        username=username,
        display_name=display_name or username.title(),
        role=role,
        password_hash=password_hash,
        interfaces=interfaces,
        clinics=clinics,
        api_token_hash=token_digest(bearer) if bearer else None,
        now=now or datetime.now(UTC),
    )
    return Staff(user_id, bearer)
