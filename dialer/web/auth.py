"""Logging in: scrypt passwords, session cookies, CSRF tokens, a limit on failed logins, roles.

Browsers carry an HttpOnly, SameSite=Strict session cookie and send the session's CSRF token with every
change (a form field or the X-CSRF-Token header). Other systems (the clinic's own software importing
appointments) use `Authorization: Bearer <API token>`, which needs no CSRF token because no browser sends it
on its own.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web

from dialer.core.clock import Clock
from dialer.core.passwords import (
    HASH_THREADS,
    WeakPassword,
    hash_password,
    needs_rehash,
    new_token,
    token_digest,
    verify_password,
)
from dialer.engine.model import UserRow
from dialer.engine.stores import UserStore

log = logging.getLogger("dialer.web")

SESSION_COOKIE = "dialer_session"
LOGIN_COOKIE = "dialer_login"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=12)
PUBLIC_PREFIXES = ("/login", "/static/", "/sms/", "/api/health", "/api/openapi.json", "/favicon.ico")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

OPERATOR, SUPERVISOR, ADMIN = "operator", "supervisor", "admin"
ROLES = (OPERATOR, SUPERVISOR, ADMIN)
SUPERVISORS = frozenset({SUPERVISOR, ADMIN})


@dataclass
class LoginLimiter:
    """At most `attempts` failed logins per user name and per address in `window` seconds."""

    attempts: int = 5
    window: float = 600.0
    _failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked_for(self, keys: Collection[str], now: float) -> float:
        waits = [self.window - (now - f[0]) for k in keys if len(f := self._recent(k, now)) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, keys: Collection[str], now: float) -> None:
        for key in keys:
            self._failures[key].append(now)

    def succeeded(self, keys: Collection[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)


@dataclass
class AuthContext:
    users: UserStore
    clock: Clock
    secure_cookies: bool
    limiter: LoginLimiter = field(default_factory=LoginLimiter)


AUTH = web.AppKey("auth", AuthContext)
USER = web.RequestKey("user", UserRow)
CSRF = web.RequestKey("csrf", str)


def same(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes the non-ASCII junk a forged request may carry."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def user_of(request: web.Request) -> UserRow:
    if USER not in request:
        raise web.HTTPUnauthorized()
    return request[USER]


def csrf_of(request: web.Request) -> str:
    return str(request.get(CSRF, ""))


def require_role(request: web.Request, roles: Collection[str]) -> UserRow:
    user = user_of(request)
    if user.role not in roles:
        raise _forbidden(request, "Эта страница только для старшего администратора.")
    return user


def _forbidden(request: web.Request, message: str) -> web.HTTPException:
    if _wants_json(request):
        return web.HTTPForbidden(
            text=json.dumps({"errors": [{"field": "role", "message": message}]}, ensure_ascii=False),
            content_type="application/json",
        )
    return web.HTTPForbidden(text=message)


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/ws"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/" or not request.path.startswith(PUBLIC_PREFIXES):
        ctx = request.app[AUTH]
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            user = await ctx.users.by_api_token(token_digest(bearer[7:].strip()))
            if user is None or user.disabled:
                raise web.HTTPUnauthorized(
                    text=json.dumps(
                        {"errors": [{"field": "token", "message": "неверный токен"}]}, ensure_ascii=False
                    ),
                    content_type="application/json",
                )
            request[USER] = user
            return await handler(request)
        session = await _session(request, ctx)
        if session is None:
            if _wants_json(request):
                raise web.HTTPUnauthorized(
                    text=json.dumps(
                        {"errors": [{"field": "session", "message": "войдите"}]}, ensure_ascii=False
                    ),
                    content_type="application/json",
                )
            raise web.HTTPSeeOther(f"/login?next={request.rel_url.path}")
        request[USER], request[CSRF] = session
        if request.method not in SAFE_METHODS and not await _csrf_ok(request, session[1]):
            raise _forbidden(request, "Форма устарела: обновите страницу (CSRF).")
    return await handler(request)


async def _session(request: web.Request, ctx: AuthContext) -> tuple[UserRow, str] | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    return await ctx.users.session(token_digest(token), ctx.clock.now())


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        given = str((await request.post()).get("csrf", ""))
    return bool(given) and same(given, expected)


# -- login and logout ---------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    from dialer.web.pages import login_html

    # Reuse the browser's token: a second tab, or a stray request that lands here, must not void the first form.
    token = request.cookies.get(LOGIN_COOKIE, "") or secrets.token_urlsafe(24)
    response = web.Response(
        text=login_html(token, request.query.get("next", ""), ""), content_type="text/html"
    )
    _set_cookie(response, LOGIN_COOKIE, token, request.app[AUTH], max_age=3600)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    from dialer.web.pages import login_html

    ctx = request.app[AUTH]
    form = await request.post()
    token = str(form.get("csrf", ""))
    if not token or not same(token, request.cookies.get(LOGIN_COOKIE, "")):
        return web.Response(
            status=403,
            text=login_html(token, "", "Форма устарела, попробуйте ещё раз."),
            content_type="text/html",
        )
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))[:256]
    keys = (f"user:{username.lower()}", f"addr:{request.remote}")
    now = ctx.clock.monotonic()
    wait = ctx.limiter.blocked_for(keys, now)
    if wait > 0:
        return web.Response(
            status=429,
            content_type="text/html",
            text=login_html(token, "", f"Слишком много неудачных попыток. Подождите {wait / 60:.0f} мин."),
        )
    user = await ctx.users.by_name(username) if username else None
    matches = user is not None and await _on_hash_threads(verify_password, password, user.password_hash)
    if user is None or user.disabled or not matches:
        ctx.limiter.failed(keys, now)
        log.warning("failed login for %r from %s", username, request.remote)
        return web.Response(
            status=401, text=login_html(token, "", "Неверное имя или пароль."), content_type="text/html"
        )
    ctx.limiter.succeeded(keys)
    if needs_rehash(user.password_hash):
        await _rehash(ctx, user, password)
    session_token = new_token()
    current = ctx.clock.now()
    await ctx.users.open_session(
        token_digest(session_token),
        user.user_id,
        secrets.token_urlsafe(24),
        current,
        current + SESSION_LIFETIME,
    )
    target = str(form.get("next", "")) or home_of(user)
    if not target.startswith("/") or target.startswith("//"):
        target = home_of(user)
    response = web.HTTPSeeOther(target)
    _set_cookie(response, SESSION_COOKIE, session_token, ctx, max_age=int(SESSION_LIFETIME.total_seconds()))
    response.del_cookie(LOGIN_COOKIE, path="/")
    log.info("login of %s (%s)", user.username, user.role)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = request.app[AUTH]
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        await ctx.users.close_session(token_digest(token))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def _on_hash_threads(fn: Callable[[str, str], bool], password: str, stored: str) -> bool:
    # scrypt is slow on purpose: off the loop, so that a shift logging in at once does not stall pop-ups.
    return await asyncio.get_running_loop().run_in_executor(HASH_THREADS, fn, password, stored)


async def _rehash(ctx: AuthContext, user: UserRow, password: str) -> None:
    """A hash made at an older, cheaper cost is replaced now that the password is known to be right."""
    try:
        fresh = await asyncio.get_running_loop().run_in_executor(HASH_THREADS, hash_password, password)
    except WeakPassword:
        return  # kept as it is until the user sets a longer password
    await ctx.users.set_password(user.username, fresh)
    log.info("password hash of %s moved to the current cost", user.username)


def home_of(user: UserRow) -> str:
    return "/operator" if user.role == OPERATOR else "/supervisor"


def _set_cookie(response: web.StreamResponse, name: str, value: str, ctx: AuthContext, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="Strict", secure=ctx.secure_cookies
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)


def public_user(user: UserRow) -> dict[str, Any]:
    return {"username": user.username, "name": user.display_name, "role": user.role}
