"""Who may use each route. Every route is added with its rule, beside the route (`add_route`); the middleware
(`dialer.web.auth.auth_middleware`) looks the rule up for the route a request matched and refuses any matched
route that has none (fail closed). A rule names the roles that may use the route, whether an API token may be
used instead of a browser session, and how the route meets clinics:

    add_route(app, "GET", "/supervisor/missed", missed_page, allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC))
    add_route(app, "POST", "/api/kos", post_kos, allow(Role.ADMIN, scope=Scope.ROWS))
    add_route(app, "GET", "/login", login_page, public("the login form"))

An API token belongs to a user and acts as that user: the same role and clinics, never more, on every route
their role may use except those only a browser uses (the live socket, the wrap-up form, logging out), whose
rules say `tokens=False`. Clinics: a user holds a set of clinics, or every clinic ("*"). A request that names a
clinic the user does not hold is answered 403, on every route, whether that clinic exists or not; records of
other clinics are never shown, and a record the user may not act on is answered as if it did not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address
from pathlib import Path

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from dialer.core.staff import Role, UserRow
from dialer.web.errors import json_refusal

log = logging.getLogger("dialer.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
EVERYONE = frozenset(Role)


class Scope(StrEnum):
    """How a route meets clinics."""

    NONE = "none"  # no clinic's records: a page frame, the login, the health check
    CLINIC = "clinic"  # one clinic: ?clinic= (checked here) or the user's first clinic
    CLINICS = "clinics"  # ?clinic= (checked here) or every clinic the user holds
    ROWS = "rows"  # the body names clinics: the handler refuses each row or request for a clinic not held
    OWN = "own"  # the user's own records (their pop-ups and wrap-ups), each of a clinic they hold


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    scope: Scope = Scope.NONE
    tokens: bool = True  # may an API token (Authorization: Bearer) be used instead of a session?
    # A public route says what protects it instead: its own signature check, or nothing to hide.
    public: str = ""
    # Also open without a login to a client on this host that no proxy forwarded (Prometheus beside it).
    loopback: bool = False

    def admits(self, user: UserRow, by_token: bool) -> bool:
        return user.role in self.roles and (self.tokens or not by_token)

    def describe(self) -> str:
        if self.public:
            return f"public ({self.public})"
        via = "session or API token" if self.tokens else "session"
        here = "; this host without login" if self.loopback else ""
        return f"{', '.join(r for r in Role if r in self.roles)}; {via}; clinics: {self.scope.value}{here}"


def allow(*roles: Role, scope: Scope = Scope.NONE, tokens: bool = True, loopback: bool = False) -> Rule:
    if not roles:
        raise ValueError("a rule needs roles")
    if loopback and scope is not Scope.NONE:
        raise ValueError("a route open to this host without login cannot show any clinic's records")
    return Rule(frozenset(roles), scope, tokens, loopback=loopback)


# A reverse proxy on this host makes every outside request look local: it is told apart by the headers it adds.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


def from_this_host(request: web.Request) -> bool:
    """A request from a loopback address that no proxy forwarded."""
    try:
        local = ip_address(request.remote or "").is_loopback
    except ValueError:
        return False
    return local and not any(h in request.headers for h in PROXY_HEADERS)


def public(why: str) -> Rule:
    if not why:
        raise ValueError("a public route must say why it may be public")
    return Rule(frozenset(), Scope.NONE, tokens=False, public=why)


RULES = web.AppKey("access_rules", dict[tuple[str, str], Rule])


def _rules(app: web.Application) -> dict[tuple[str, str], Rule]:
    if RULES not in app:
        app[RULES] = {}
    return app[RULES]


def _key(method: str, path: str) -> tuple[str, str]:
    return ("GET" if method == "HEAD" else method, path)


def declare(app: web.Application, route: AbstractRoute, rule: Rule) -> None:
    """Give an already added route its rule (each route once: a second rule for one route is a mistake)."""
    resource = route.resource
    if resource is None:
        raise ValueError("a rule needs a route with a path")
    key = _key(route.method, resource.canonical)
    rules = _rules(app)
    if key in rules and rules[key] != rule:
        raise ValueError(f"{key[0]} {key[1]} already has a different rule")
    rules[key] = rule


def add_route(app: web.Application, method: str, path: str, handler: Handler, rule: Rule) -> None:
    """Add a route with its rule. GET routes answer HEAD too, under the same rule."""
    route = (
        app.router.add_get(path, handler) if method == "GET" else app.router.add_route(method, path, handler)
    )
    declare(app, route, rule)


def add_static(app: web.Application, prefix: str, folder: Path, rule: Rule) -> None:
    resource = app.router.add_static(prefix, folder)
    for route in resource:
        declare(app, route, rule)


def rule_for(request: web.Request) -> Rule | None:
    """The matched route's rule; None when it has none (refused). Unmatched requests are not asked."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return request.app.get(RULES, {}).get(_key(request.method, resource.canonical))


def matched(request: web.Request) -> bool:
    """Did the request match a route (rather than end in 404 or 405)?"""
    return request.match_info.route.resource is not None


def route_table(app: web.Application) -> list[tuple[str, str, Rule | None]]:
    """Every route the app answers (method, path, rule or None), HEAD folded into GET: what tests walk."""
    rules = app.get(RULES, {})
    seen: dict[tuple[str, str], Rule | None] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        key = _key(route.method, resource.canonical)
        seen[key] = rules.get(key)
    return [(m, p, r) for (m, p), r in sorted(seen.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


# -- clinics --------------------------------------------------------------------------------------------


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/ws"


def forbidden(request: web.Request, message: str, field: str = "role") -> web.HTTPForbidden:
    if wants_json(request):
        return json_refusal(web.HTTPForbidden, field, message)
    return web.HTTPForbidden(text=message)


def not_held(request: web.Request, clinic: str) -> web.HTTPForbidden:
    return forbidden(request, f"нет доступа к клинике {clinic!r}", "clinic")


def check_named_clinic(request: web.Request, user: UserRow) -> None:
    """The wall for ?clinic=: a clinic the user does not hold is refused before any handler runs."""
    clinic = request.query.get("clinic", "")
    if clinic and not user.holds(clinic):
        log.warning("%s (%s) refused clinic %r on %s", user.username, user.role, clinic, request.path)
        raise not_held(request, clinic)


def held(user: UserRow, configured: Iterable[str]) -> list[str]:
    """The configured clinics this user holds, in the configuration's order."""
    return [c for c in configured if user.holds(c)]


def one_clinic(request: web.Request, user: UserRow, configured: Sequence[str]) -> str:
    """Scope.CLINIC: the clinic named by ?clinic= if the user holds it, else the first one they hold."""
    named = request.query.get("clinic", "")
    if named:
        if not user.holds(named):
            raise not_held(request, named)
        return named
    mine = held(user, configured)
    if not mine:
        raise forbidden(request, "вам не назначена ни одна клиника", "clinic")
    return mine[0]


def some_clinics(request: web.Request, user: UserRow, configured: Sequence[str]) -> list[str] | None:
    """Scope.CLINICS: the clinic named by ?clinic= (if held), else all the user holds; None: every clinic."""
    named = request.query.get("clinic", "")
    if named:
        if not user.holds(named):
            raise not_held(request, named)
        return [named]
    return None if user.all_clinics else held(user, configured)
