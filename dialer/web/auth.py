"""Logging in: scrypt passwords, session cookies, CSRF tokens, a limit on login attempts; and the middleware
that enforces each route's declared access rule (dialer.web.access).

Browsers carry an HttpOnly, SameSite=Strict session cookie and send the session's CSRF token with every
change (a form field or the X-CSRF-Token header). Other systems (the clinic's own software importing
appointments) use `Authorization: Bearer <API token>`, which needs no CSRF token because no browser sends it
on its own.

Login attempts are counted as they arrive, before the password is checked (dialer.core.throttle), and an
unknown name is checked against a stand-in hash, so it takes as long as a known one. Logging in, failing to
and logging out are written to the audit log.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

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
from dialer.core.staff import AuditAction, Role, UserRow
from dialer.core.stores import AuditLog, UserStore
from dialer.core.throttle import LoginLimiter, Ticket
from dialer.web.access import (
    Handler,
    Scope,
    add_route,
    allow,
    check_named_clinic,
    forbidden,
    from_this_host,
    matched,
    public,
    rule_for,
    wants_json,
)
from dialer.web.errors import json_refusal
from dialer.web.logins import KNOWN_COOKIE, KNOWN_LIFETIME, DummyHash, KnownBrowsers, safe_next

log = logging.getLogger("dialer.web")

SESSION_COOKIE = "dialer_session"
LOGIN_COOKIE = "dialer_login"
CSRF_HEADER = "X-CSRF-Token"
SESSION_LIFETIME = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Credential:
    """What a request was let in with: a browser session or an API token, by its digest."""

    kind: str  # session | token
    digest: str


@dataclass
class AuthContext:
    users: UserStore
    clock: Clock
    secure_cookies: bool
    audit: AuditLog | None = None
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    browsers: KnownBrowsers = field(default_factory=KnownBrowsers)
    dummy: DummyHash = field(default_factory=DummyHash)
    # Set by the app: closes the WebSockets opened with a credential that has just ended (logout).
    on_ended: Callable[[Credential], Awaitable[None]] | None = None

    async def record(self, actor: str, action: str, clinic_id: str, detail: dict[str, object]) -> None:
        if self.audit is not None:
            await self.audit.record(actor, action, clinic_id, detail, self.clock.now())


AUTH = web.AppKey("auth", AuthContext)
USER = web.RequestKey("user", UserRow)
CSRF = web.RequestKey("csrf", str)
CREDENTIAL = web.RequestKey("credential", Credential)


def same(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes the non-ASCII junk a forged request may carry."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def user_of(request: web.Request) -> UserRow:
    if USER not in request:
        raise web.HTTPUnauthorized()
    return request[USER]


def csrf_of(request: web.Request) -> str:
    return str(request.get(CSRF, ""))


def _unauthorized(request: web.Request, field: str, message: str) -> web.HTTPException:
    """Other systems (a token) and scripts get JSON; a browser on a page goes to the login form."""
    if field == "token" or wants_json(request):
        return json_refusal(web.HTTPUnauthorized, field, message)
    return web.HTTPSeeOther("/login?" + urlencode({"next": request.rel_url.raw_path_qs}))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each matched route's declared rule, enforced: who is asking, by session or token, their role, CSRF on
    changes, and the clinic a request names. A matched route without a rule is refused to everyone."""
    if not matched(request):
        return await handler(request)  # aiohttp's own 404 or 405
    rule = rule_for(request)
    if rule is None:
        log.error("refused %s %s: the route declares no access rule", request.method, request.path)
        raise forbidden(request, "Этот адрес никому не открыт.")
    if rule.public or (rule.loopback and from_this_host(request)):
        return await handler(request)
    user, by_token = await _identify(request, request.app[AUTH])
    if not rule.admits(user, by_token):
        how = ", API token" if by_token else ""
        log.warning("refused %s %s to %s (%s%s)", request.method, request.path, user.username, user.role, how)
        raise forbidden(request, _no_right(rule.roles, by_token))
    if not by_token and request.method not in SAFE_METHODS and not await _csrf_ok(request, request[CSRF]):
        raise forbidden(request, "Форма устарела: обновите страницу (CSRF).", "csrf")
    if rule.scope in (Scope.CLINIC, Scope.CLINICS):
        check_named_clinic(request, user)
    return await handler(request)


async def _identify(request: web.Request, ctx: AuthContext) -> tuple[UserRow, bool]:
    """Who is asking, by API token or by session, noted on the request; and whether it was by token."""
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        digest = token_digest(bearer[7:].strip())
        user = await ctx.users.by_api_token(digest)
        if user is None or user.disabled:
            raise _unauthorized(request, "token", "неверный токен")
        request[USER], request[CREDENTIAL] = user, Credential("token", digest)
        return user, True
    session = await _session(request, ctx)
    if session is None:
        raise _unauthorized(request, "session", "войдите")
    request[USER], request[CSRF] = session
    request[CREDENTIAL] = Credential("session", token_digest(request.cookies[SESSION_COOKIE]))
    return session[0], False


def _no_right(roles: Collection[Role], by_token: bool) -> str:
    if by_token:
        return "Этот адрес не принимает API-токен этого пользователя."
    if Role.OPERATOR not in roles:
        return "Эта страница только для старшего администратора."
    return "Нет прав на это действие."


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
        text=login_html(token, safe_next(request.query.get("next", "")) or "", ""), content_type="text/html"
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
    next_url = safe_next(str(form.get("next", ""))) or ""
    address = request.remote or ""
    browser = ctx.browsers.key_for(request.cookies.get(KNOWN_COOKIE, ""), username)
    # Counted now, before the password is checked: attempts sent at once are each counted.
    ticket = ctx.limiter.admit(username, address, browser, ctx.clock.monotonic())
    if not isinstance(ticket, Ticket):
        seconds = math.ceil(ticket)
        return web.Response(
            status=429,
            content_type="text/html",
            headers={"Retry-After": str(seconds)},
            text=login_html(
                token, next_url, f"Слишком много неудачных попыток. Повторите через {seconds} с."
            ),
        )
    user = await _password_holder(ctx, username, password, address)
    if user is None:
        return web.Response(
            status=401, text=login_html(token, next_url, "Неверное имя или пароль."), content_type="text/html"
        )
    ctx.limiter.succeeded(ticket)
    if needs_rehash(user.password_hash):
        await _rehash(ctx, user, password)
    raise await _signed_in(request, ctx, user, next_url or home_of(user))


async def _password_holder(ctx: AuthContext, username: str, password: str, address: str) -> UserRow | None:
    """The enabled user this password is right for; a failure is audited and logged, and answers None."""
    user = await ctx.users.by_name(username) if username else None
    # An unknown name is checked against a stand-in hash: it costs what a known one costs.
    stored = user.password_hash if user is not None else await ctx.dummy.get()
    matches = await _on_hash_threads(verify_password, password, stored)
    if user is not None and not user.disabled and matches:
        return user
    reason = "unknown_user" if user is None else "disabled" if user.disabled else "password"
    # An unknown name is not written down: it may be a password typed into the wrong field.
    await ctx.record(
        user.username if user else "",
        AuditAction.LOGIN_FAILED,
        user.clinic_of_record if user else "",
        {"address": address, "reason": reason},
    )
    log.warning("failed login (%s) from %s", reason, address)
    return None


async def _signed_in(request: web.Request, ctx: AuthContext, user: UserRow, to: str) -> web.HTTPSeeOther:
    """A new session for the user, audited; the redirect that sets its cookie and remembers the browser."""
    session_token = new_token()
    current = ctx.clock.now()
    await ctx.users.open_session(
        token_digest(session_token),
        user.user_id,
        secrets.token_urlsafe(24),
        current,
        current + SESSION_LIFETIME,
    )
    await ctx.record(
        user.username, AuditAction.LOGIN, user.clinic_of_record, {"address": request.remote or ""}
    )
    response = web.HTTPSeeOther(to)
    _set_cookie(response, SESSION_COOKIE, session_token, ctx, max_age=int(SESSION_LIFETIME.total_seconds()))
    known = ctx.browsers.remember(request.cookies.get(KNOWN_COOKIE, ""), user.username)
    _set_cookie(response, KNOWN_COOKIE, known, ctx, max_age=KNOWN_LIFETIME, path="/login")
    response.del_cookie(LOGIN_COOKIE, path="/")
    log.info("login of %s (%s)", user.username, user.role)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    ctx = request.app[AUTH]
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        await ctx.users.close_session(token_digest(token))
        if ctx.on_ended is not None:
            await ctx.on_ended(Credential("session", token_digest(token)))
    if USER in request:
        user = request[USER]
        await ctx.record(user.username, AuditAction.LOGOUT, user.clinic_of_record, {})
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
    await ctx.users.rehash_password(user.username, fresh)
    log.info("password hash of %s moved to the current cost", user.username)


def home_of(user: UserRow) -> str:
    return "/operator" if user.role == Role.OPERATOR else "/supervisor"


def _set_cookie(
    response: web.StreamResponse, name: str, value: str, ctx: AuthContext, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, samesite="Strict", secure=ctx.secure_cookies
    )


def add_routes(app: web.Application) -> None:
    form = public("the login form: its own CSRF cookie and the failed-login limit")
    add_route(app, "GET", "/login", login_page, form)
    add_route(app, "POST", "/login", login, form)
    add_route(app, "POST", "/logout", logout, allow(*Role, tokens=False))
