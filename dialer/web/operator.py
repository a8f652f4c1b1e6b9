"""The operator's page and the wrap-up they save after each call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

from aiohttp import web

from dialer.core.clock import Clock
from dialer.core.listening import week_start
from dialer.core.quality import COMPLAINT_LABELS
from dialer.core.skills import SkillStore
from dialer.core.staff import Role, UserRow
from dialer.core.stores import WrapupStore
from dialer.core.wrapup import RESULTS, FormErrors
from dialer.engine.complaints import ComplaintDesk
from dialer.engine.wrapup import AfterWrapup, WrapupGone, save_wrapup
from dialer.settings import Settings
from dialer.web.access import Scope, add_route, allow
from dialer.web.auth import AUTH, csrf_of, user_of
from dialer.web.errors import error_response, errors_response, http_status
from dialer.web.own_recordings import hearing_clinics
from dialer.web.pages import operator_html
from dialer.web.params import path_id


@dataclass
class OperatorContext:
    settings: Settings
    wrapups: WrapupStore
    clock: Clock
    after_wrapup: AfterWrapup | None = None
    complaints: ComplaintDesk | None = None
    skills: SkillStore | None = None


OPERATORS = web.AppKey("operators", OperatorContext)


async def operator_page(request: web.Request) -> web.Response:
    user = user_of(request)
    reasons = request.app[OPERATORS].settings.reasons
    options = json.dumps(
        {
            "results": RESULTS,
            "refusal": reasons.refusal,
            "call_again": reasons.call_again,
            "complaints": {c.value: label for c, label in COMPLAINT_LABELS.items()},
        },
        ensure_ascii=False,
    )
    html = operator_html(user, csrf_of(request))
    skills = await _own_skills(request.app[OPERATORS], user)
    if hearing_clinics(request.app[OPERATORS].settings, user) and user.role == Role.OPERATOR:
        skills += '<p class="own-recordings-link"><a href="/operator/calls">Мои записи разговоров</a></p>'
    html = html.replace(
        '<div id="cards"',
        f'{skills}<script id="form-options" type="application/json">{options}</script><div id="cards"',
        1,
    )
    return web.Response(text=html, content_type="text/html")


async def _own_skills(ctx: OperatorContext, user: UserRow) -> str:
    """«Навык недели» the senior administrator set this administrator for the current week, per clinic."""
    if ctx.skills is None:
        return ""
    now = ctx.clock.now()
    clinics = [c for c in ctx.settings.clinics.values() if user.holds(c.id)]
    weeks = {c.id: week_start(now.astimezone(c.timezone).date()) for c in clinics}
    found: list[str] = []
    for week in sorted(set(weeks.values())):
        for clinic_id, skill in await ctx.skills.own_skills(user.user_id, week):
            if weeks.get(clinic_id) == week:
                name = ctx.settings.clinics[clinic_id].name
                found.append(f"{escape(skill)}" + (f" ({escape(name)})" if len(clinics) > 1 else ""))
    if not found:
        return ""
    return '<p class="skill-of-week"><strong>Навык недели:</strong> ' + "; ".join(found) + "</p>"


async def post_wrapup(request: web.Request) -> web.Response:
    user = user_of(request)
    ctx = request.app[OPERATORS]
    wrapup_id = path_id(request, "wrapup_id", "такого звонка для оформления")
    try:
        body = await request.json()
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        return _errors([("body", "ожидался JSON с результатом звонка")])
    if not isinstance(body, dict):
        return _errors([("body", "ожидался объект")])
    try:
        form = await save_wrapup(
            settings=ctx.settings,
            store=ctx.wrapups,
            clock=ctx.clock,
            user=user,
            wrapup_id=wrapup_id,
            raw=body,
            after=ctx.after_wrapup,
            audit=request.app[AUTH].audit,
            complaints=ctx.complaints,
        )
    except FormErrors as err:
        return _errors([(e.field, e.message) for e in err.errors], http_status(err))
    except WrapupGone as err:  # not this operator's (404), or saved already (409)
        return error_response(err, "wrapup")
    return web.json_response({"saved": True, "result": form.result, "label": RESULTS[form.result]})


def _errors(errors: list[tuple[str, str]], status: int = 400) -> web.Response:
    return errors_response([{"field": f, "message": m} for f, m in errors], status)


def add_routes(app: web.Application) -> None:
    add_route(app, "GET", "/operator", operator_page, allow(Role.OPERATOR, Role.ADMIN))
    # Only the operator whose card it was, for a clinic they hold (save_wrapup checks both).
    own = allow(Role.OPERATOR, Role.ADMIN, scope=Scope.OWN, tokens=False)
    add_route(app, "POST", "/api/wrapups/{wrapup_id}", post_wrapup, own)
