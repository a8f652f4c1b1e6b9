"""The `dialer users` commands that create, change or list accounts, and `dialer audit`.

They run in their own process, beside the service: disabling a user or changing a password deletes that user's
sessions in the database, and the service closes the pages' live sockets of a deleted session within a second
(dialer.web.live). Every change is written to the audit log, with the system user who ran the command.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, tzinfo
from typing import TextIO

from dialer.cli.audit import cli_actor, command_time
from dialer.cli.exits import EXIT_ERROR, EXIT_OK
from dialer.core.passwords import WeakPassword, hash_password, new_token, token_digest
from dialer.core.staff import ALL_CLINICS, AuditAction, Role, UserExists, UserRow
from dialer.settings import Settings
from dialer.storage.repository import Storage

AUDIT_LIMIT = 1000


async def _with_user(
    settings: Settings, username: str, out: TextIO, change: Callable[[Storage, UserRow], Awaitable[int]]
) -> int:
    storage = await Storage.open(settings.service.db_url)
    try:
        user = await storage.users.by_name(username)
        if user is None:
            out.write(f"Нет пользователя {username!r}\n")
            return EXIT_ERROR
        return await change(storage, user)
    finally:
        await storage.close()


async def _record(settings: Settings, storage: Storage, action: str, user: UserRow, **detail: object) -> None:
    await storage.audit.record(
        cli_actor(),
        action,
        user.clinic_of_record,
        {"user": user.username, **detail},
        command_time(settings),
    )


async def users_disable(settings: Settings, username: str, out: TextIO) -> int:
    """Nobody logs in as this user any more; their sessions end and their open pages are closed."""

    async def change(storage: Storage, user: UserRow) -> int:
        ended = await storage.users.set_disabled(user.username, True) or 0
        await _record(settings, storage, AuditAction.USER_DISABLE, user, sessions_ended=ended)
        out.write(f"Пользователь {user.username} отключён; завершено сессий: {ended}.\n")
        return EXIT_OK

    return await _with_user(settings, username, out, change)


async def users_enable(settings: Settings, username: str, out: TextIO) -> int:
    async def change(storage: Storage, user: UserRow) -> int:
        await storage.users.set_disabled(user.username, False)
        await _record(settings, storage, AuditAction.USER_ENABLE, user)
        out.write(f"Пользователь {user.username} снова может входить.\n")
        return EXIT_OK

    return await _with_user(settings, username, out, change)


async def users_passwd(settings: Settings, username: str, password: str | None, out: TextIO) -> int:
    """A new password (made up and shown once unless given); every session of the user ends."""
    hashed = password_and_hash(password, out)
    if hashed is None:
        return EXIT_ERROR
    secret, password_hash = hashed

    async def change(storage: Storage, user: UserRow) -> int:
        ended = await storage.users.set_password(user.username, password_hash) or 0
        await _record(settings, storage, AuditAction.USER_PASSWD, user, sessions_ended=ended)
        out.write(f"Пароль пользователя {user.username} сменён; завершено сессий: {ended}.\n")
        if password is None:
            out.write(f"Пароль (показан один раз): {secret}\n")
        return EXIT_OK

    return await _with_user(settings, username, out, change)


async def users_token(settings: Settings, username: str, out: TextIO) -> int:
    """A new API token, shown once; it replaces the user's old one."""
    token = new_token()

    async def change(storage: Storage, user: UserRow) -> int:
        await storage.users.set_api_token(user.username, token_digest(token))
        await _record(settings, storage, AuditAction.USER_TOKEN, user, replaced=user.has_api_token)
        out.write(f"API-токен (показан один раз): {token}\n")
        if user.has_api_token:
            out.write("Прежний токен больше не действует.\n")
        return EXIT_OK

    return await _with_user(settings, username, out, change)


async def users_revoke_token(settings: Settings, username: str, out: TextIO) -> int:
    async def change(storage: Storage, user: UserRow) -> int:
        if not user.has_api_token:
            out.write(f"У пользователя {user.username} нет API-токена.\n")
            return EXIT_OK
        await storage.users.set_api_token(user.username, None)
        await _record(settings, storage, AuditAction.USER_REVOKE_TOKEN, user)
        out.write(f"API-токен пользователя {user.username} отозван.\n")
        return EXIT_OK

    return await _with_user(settings, username, out, change)


LIST_HEADER = ("имя", "роль", "клиники", "телефоны", "отключён", "API-токен", "последний вход", "ФИО")


async def users_list(settings: Settings, out: TextIO) -> int:
    """One line per user, tab-separated, with a header line."""
    zone = display_zone(settings)
    storage = await Storage.open(settings.service.db_url)
    try:
        users = await storage.users.all()
    finally:
        await storage.close()
    out.write("\t".join(LIST_HEADER) + "\n")
    for user in users:
        last = user.last_login_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if user.last_login_at else "—"
        cells = (
            user.username,
            user.role,
            ", ".join(sorted(user.clinics)) or "—",
            ", ".join(user.interfaces) or "—",
            "да" if user.disabled else "нет",
            "есть" if user.has_api_token else "нет",
            last,
            user.display_name,
        )
        out.write("\t".join(cells) + "\n")
    return EXIT_OK


def display_zone(settings: Settings) -> tzinfo:
    """Times are shown in the zone of the first clinic in the settings (UTC without clinics)."""
    return next(iter(settings.clinics.values())).timezone if settings.clinics else UTC


async def audit(settings: Settings, since: date | None, username: str | None, out: TextIO) -> int:
    """The audit log, newest first: time, who, action, clinic, details (JSON)."""
    zone = display_zone(settings)
    start = datetime.combine(since, time(0), zone) if since else None
    storage = await Storage.open(settings.service.db_url)
    try:
        entries = await storage.audit.entries(since=start, actor=username, limit=AUDIT_LIMIT)
    finally:
        await storage.close()
    for e in entries:
        detail = json.dumps(e.detail, ensure_ascii=False, sort_keys=True)
        when = e.at.astimezone(zone).isoformat(timespec="seconds")
        out.write(f"{when}\t{e.actor or '—'}\t{e.action}\t{e.clinic_id or '—'}\t{detail}\n")
    if len(entries) == AUDIT_LIMIT:
        out.write(f"(показаны последние {AUDIT_LIMIT}; уточните --since или --user)\n")
    return EXIT_OK


async def users_add(
    settings: Settings,
    *,
    username: str,
    role: str,
    name: str,
    interfaces: list[str],
    clinics: list[str],
    password: str | None,
    api_token: bool,
    out: TextIO,
) -> int:
    """Create a user; a password that was not given is made up and shown once, as is an API token."""
    if role not in tuple(Role):
        out.write(f"Роль: {', '.join(Role)}\n")
        return EXIT_ERROR
    held = user_clinics(settings, role, clinics, out)
    if held is None:
        return EXIT_ERROR
    hashed = password_and_hash(password, out)
    if hashed is None:
        return EXIT_ERROR
    secret, password_hash = hashed
    token = new_token() if api_token else None
    storage = await Storage.open(settings.service.db_url)
    try:
        await storage.users.add(
            username=username,
            display_name=name or username,
            role=role,
            password_hash=password_hash,
            interfaces=tuple(interfaces),
            clinics=held,
            api_token_hash=token_digest(token) if token else None,
            now=command_time(settings),
        )
        detail = {"user": username, "role": role, "clinics": sorted(held), "api_token": bool(token)}
        only = next(iter(held)) if len(held) == 1 else ALL_CLINICS
        await storage.audit.record(cli_actor(), AuditAction.USER_ADD, only, detail, command_time(settings))
    except UserExists:
        out.write(f"Пользователь {username!r} уже есть\n")
        return EXIT_ERROR
    finally:
        await storage.close()
    where = "все клиники" if ALL_CLINICS in held else ", ".join(sorted(held))
    out.write(f"Пользователь {username} ({role}; {where}) создан.\n")
    if password is None:
        out.write(f"Пароль (показан один раз): {secret}\n")
    if token:
        out.write(f"API-токен (показан один раз): {token}\n")
    return EXIT_OK


def user_clinics(settings: Settings, role: str, clinics: list[str], out: TextIO) -> frozenset[str] | None:
    """The clinics a new user works for. "*" is every clinic. Without --clinic: an admin gets every clinic, and
    so does anyone where only one clinic is set up; where there are several, an operator's or a supervisor's
    clinics must be named, so that nobody sees another clinic's patients by default."""
    unknown = [c for c in clinics if c != ALL_CLINICS and c not in settings.clinics]
    if unknown:
        known = ", ".join(settings.clinics) or "нет ни одной"
        out.write(f"Неизвестная клиника {unknown[0]!r} (настроены: {known})\n")
        return None
    if ALL_CLINICS in clinics:
        return frozenset({ALL_CLINICS})
    if clinics:
        return frozenset(clinics)
    if role == Role.ADMIN or len(settings.clinics) <= 1:
        return frozenset({ALL_CLINICS})
    out.write(
        "Укажите клиники пользователя: --clinic c1 (можно несколько раз), или --clinic '*' для всех клиник\n"
    )
    return None


def password_and_hash(password: str | None, out: TextIO) -> tuple[str, str] | None:
    """The password given, or one made up when none was, and its hash; None (and why, on `out`) when the
    password given is too weak to store."""
    secret = password if password is not None else secrets.token_urlsafe(12)
    try:
        return secret, hash_password(secret)
    except WeakPassword as err:
        out.write(f"Пароль не подходит: {err}\n")
        return None
