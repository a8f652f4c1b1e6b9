"""Users and their sessions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dialer.core.staff import Role, UserExists, UserRow
from dialer.storage.schema import sessions, user_clinics, users

# Each user row comes with its clinics, as one "\n"-joined column (group_concat on SQLite, string_agg on
# PostgreSQL): one query, whatever the number of users.
_CLINICS = (
    select(func.aggregate_strings(user_clinics.c.clinic_id, "\n"))
    .where(user_clinics.c.user_id == users.c.user_id)
    .scalar_subquery()
    .label("clinics")
)


def _user(r: Any) -> UserRow:
    return UserRow(
        r.user_id,
        r.username,
        r.display_name,
        Role(r.role),
        r.password_hash,
        tuple(i for i in r.interfaces.splitlines() if i),
        frozenset(c for c in (r.clinics or "").split("\n") if c),
        bool(r.disabled),
        r.api_token_hash is not None,
        r.last_login_at,
    )


def _users() -> Any:
    return select(users, _CLINICS)


async def _add_clinics(conn: AsyncConnection, user_id: int, clinics: Collection[str]) -> None:
    if clinics:
        await conn.execute(
            insert(user_clinics), [{"user_id": user_id, "clinic_id": c} for c in sorted(clinics)]
        )


class SqlUserStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(
        self,
        *,
        username: str,
        display_name: str,
        role: str,
        password_hash: str,
        interfaces: tuple[str, ...],
        clinics: Collection[str],
        api_token_hash: str | None,
        now: datetime,
    ) -> int:
        try:
            async with self.engine.begin() as conn:
                user_id = int(
                    (
                        await conn.execute(
                            insert(users)
                            .values(
                                username=username,
                                display_name=display_name,
                                role=role,
                                password_hash=password_hash,
                                interfaces="\n".join(interfaces),
                                api_token_hash=api_token_hash,
                                created_at=now,
                            )
                            .returning(users.c.user_id)
                        )
                    ).scalar_one()
                )
                await _add_clinics(conn, user_id, clinics)
                return user_id
        except IntegrityError:
            raise UserExists(username) from None

    async def set_password(self, username: str, password_hash: str) -> int | None:
        async with self.engine.begin() as conn:
            user_id = await _update_user(conn, username, password_hash=password_hash)
            return None if user_id is None else await _end_sessions(conn, user_id)

    async def rehash_password(self, username: str, password_hash: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(users).where(users.c.username == username).values(password_hash=password_hash)
            )
            return bool(result.rowcount)

    async def set_disabled(self, username: str, disabled: bool) -> int | None:
        async with self.engine.begin() as conn:
            user_id = await _update_user(conn, username, disabled=disabled)
            if user_id is None:
                return None
            return await _end_sessions(conn, user_id) if disabled else 0

    async def set_api_token(self, username: str, token_hash: str | None) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(users).where(users.c.username == username).values(api_token_hash=token_hash)
            )
        return bool(result.rowcount)

    async def _user_where(self, which: ColumnElement[bool]) -> UserRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_users().where(which))).first()
        return _user(row) if row else None

    async def by_name(self, username: str) -> UserRow | None:
        return await self._user_where(users.c.username == username)

    async def by_id(self, user_id: int) -> UserRow | None:
        return await self._user_where(users.c.user_id == user_id)

    async def by_api_token(self, token_hash: str) -> UserRow | None:
        return await self._user_where(users.c.api_token_hash == token_hash)

    async def all(self) -> list[UserRow]:
        async with self.engine.connect() as conn:
            return [_user(r) for r in await conn.execute(_users().order_by(users.c.username))]

    async def interface_names(self) -> dict[str, str]:
        async with self.engine.connect() as conn:
            return await interface_names(conn)

    async def open_session(
        self, token_hash: str, user_id: int, csrf: str, now: datetime, expires: datetime
    ) -> None:
        """Open a session; the user's last login is now."""
        async with self.engine.begin() as conn:
            await conn.execute(update(users).where(users.c.user_id == user_id).values(last_login_at=now))
            await conn.execute(
                insert(sessions).values(
                    token_hash=token_hash,
                    user_id=user_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )

    async def session(self, token_hash: str, now: datetime) -> tuple[UserRow, str] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(sessions.c.csrf_token, users, _CLINICS)
                    .select_from(sessions.join(users, users.c.user_id == sessions.c.user_id))
                    .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
                )
            ).first()
        if row is None or row.disabled:
            return None
        return _user(row), str(row.csrf_token)

    async def close_session(self, token_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    async def live_sessions(self, token_hashes: Collection[str], now: datetime) -> dict[str, datetime]:
        live: dict[str, datetime] = {}
        if not token_hashes:
            return live
        async with self.engine.connect() as conn:
            for chunk in _chunks(token_hashes):
                rows = await conn.execute(
                    select(sessions.c.token_hash, sessions.c.expires_at)
                    .select_from(sessions.join(users, users.c.user_id == sessions.c.user_id))
                    .where(
                        sessions.c.token_hash.in_(chunk),
                        sessions.c.expires_at > now,
                        users.c.disabled.is_(False),
                    )
                )
                live.update((str(r.token_hash), r.expires_at) for r in rows)
        return live

    async def live_tokens(self, token_hashes: Collection[str]) -> set[str]:
        live: set[str] = set()
        if not token_hashes:
            return live
        async with self.engine.connect() as conn:
            for chunk in _chunks(token_hashes):
                rows = await conn.execute(
                    select(users.c.api_token_hash).where(
                        users.c.api_token_hash.in_(chunk), users.c.disabled.is_(False)
                    )
                )
                live.update(str(r.api_token_hash) for r in rows)
        return live


def _chunks(items: Collection[str], size: int = 500) -> list[list[str]]:
    """Small enough for any SQLite's limit on bound parameters."""
    listed = list(items)
    return [listed[i : i + size] for i in range(0, len(listed), size)]


async def _end_sessions(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    return int(result.rowcount)


async def _update_user(conn: AsyncConnection, username: str, **values: Any) -> int | None:
    """Change the user of that name: their id, or None when there is no such user."""
    result = await conn.execute(
        update(users).where(users.c.username == username).values(**values).returning(users.c.user_id)
    )
    user_id: int | None = result.scalar_one_or_none()
    return user_id


async def interface_names(conn: AsyncConnection) -> dict[str, str]:
    """Each phone interface with its user's display name, the later username's where two list the same one."""
    # Only the two columns the board shows, without the clinics `all` gathers for every user.
    query = (
        select(users.c.display_name, users.c.interfaces)
        .where(users.c.interfaces != "")
        .order_by(users.c.username)
    )
    return {i: r.display_name for r in await conn.execute(query) for i in r.interfaces.splitlines() if i}
