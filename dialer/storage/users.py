"""Users and their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dialer.engine.model import UserExists, UserRow
from dialer.storage.schema import sessions, users


def _user(r: Any) -> UserRow:
    return UserRow(
        r.user_id,
        r.username,
        r.display_name,
        r.role,
        r.password_hash,
        tuple(i for i in r.interfaces.splitlines() if i),
        r.clinic_id,
        bool(r.disabled),
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
        clinic_id: str,
        api_token_hash: str | None,
        now: datetime,
    ) -> int:
        try:
            async with self.engine.begin() as conn:
                return int(
                    (
                        await conn.execute(
                            insert(users)
                            .values(
                                username=username,
                                display_name=display_name,
                                role=role,
                                password_hash=password_hash,
                                interfaces="\n".join(interfaces),
                                clinic_id=clinic_id,
                                api_token_hash=api_token_hash,
                                created_at=now,
                            )
                            .returning(users.c.user_id)
                        )
                    ).scalar_one()
                )
        except IntegrityError:
            raise UserExists(username) from None

    async def set_password(self, username: str, password_hash: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(users).where(users.c.username == username).values(password_hash=password_hash)
            )
        return bool(result.rowcount)

    async def by_name(self, username: str) -> UserRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.username == username))).first()
        return _user(row) if row else None

    async def by_id(self, user_id: int) -> UserRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.user_id == user_id))).first()
        return _user(row) if row else None

    async def by_api_token(self, token_hash: str) -> UserRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.api_token_hash == token_hash))).first()
        return _user(row) if row else None

    async def all(self) -> list[UserRow]:
        async with self.engine.connect() as conn:
            return [_user(r) for r in await conn.execute(select(users).order_by(users.c.username))]

    async def open_session(
        self, token_hash: str, user_id: int, csrf: str, now: datetime, expires: datetime
    ) -> None:
        async with self.engine.begin() as conn:
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
                    select(sessions.c.csrf_token, users)
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
