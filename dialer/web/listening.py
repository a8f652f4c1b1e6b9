"""The weekly listening (§12 of the checklist): for each administrator, the week's calls the service proposes to
listen to and score, and «навык недели», the skill the senior administrator sets them for the week."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from dialer.core.clock import Clock
from dialer.core.listening import STRATUM_LABELS, Proposed, propose_all, week_bounds, week_start
from dialer.core.rows import FIRST_DAY, LAST_DAY
from dialer.core.skills import MAX_SKILL, ListeningStore, SkillStore
from dialer.core.staff import Role
from dialer.core.wrapup import RESULTS
from dialer.settings import ClinicSettings, Settings
from dialer.web.access import Scope, add_route, allow, held, one_clinic
from dialer.web.auth import csrf_of, user_of
from dialer.web.pages import filters, layout, nav
from dialer.web.params import known_clinic, query_day, refusal
from dialer.web.supervisor import SUPERVISION

KIND_LABELS = {"inbound": "входящий", "callback": "перезвон", "kos": "КОС", "diary": "ежедневник"}


@dataclass
class ListeningContext:
    settings: Settings
    calls: ListeningStore
    skills: SkillStore
    clock: Clock


LISTENING = web.AppKey("listening", ListeningContext)


def clinic_seed(clinic_id: str) -> int:
    """The draw's seed: the same for a clinic every time, so a week's list does not change between visits."""
    return zlib.crc32(clinic_id.encode())


def _week(request: web.Request, clinic: ClinicSettings) -> date:
    ctx = request.app[LISTENING]
    today = ctx.clock.now().astimezone(clinic.timezone).date()
    return week_start(query_day(request, default=today))


async def listening_page(request: web.Request) -> web.Response:
    user = user_of(request)
    ctx = request.app[LISTENING]
    clinic = known_clinic(request, ctx.settings, one_clinic(request, user, list(ctx.settings.clinics)))
    monday = _week(request, clinic)
    start, end = week_bounds(monday, clinic.timezone)
    calls = await ctx.calls.week_calls(clinic.id, start, end)
    proposed = propose_all(calls, monday=monday, zone=clinic.timezone, seed=clinic_seed(clinic.id))
    scored = await ctx.calls.scored(p.call.contact_id for ps in proposed.values() for p in ps)
    skills = await ctx.skills.week_skills(clinic.id, monday)
    names = dict(await request.app[SUPERVISION].reports.operators(clinic.id))
    mine = held(user, ctx.settings.clinics)
    form = filters(
        "/supervisor/listening",
        [
            ("clinic", "Клиника", clinic.id, [(c, ctx.settings.clinics[c].name) for c in mine]),
            ("date", "Неделя (любой её день)", monday.isoformat(), None),
        ],
    )
    sections = [
        _administrator(
            clinic, monday, user_id, names.get(user_id, f"администратор №{user_id}"), proposed.get(user_id, []),
            scored, skills.get(user_id, ""), csrf_of(request),
        )
        for user_id in sorted(set(names) | set(proposed), key=lambda u: names.get(u, ""))
    ]  # fmt: skip
    body = (
        f"<h1>Прослушка недели: {escape(clinic.name)}, с {monday:%d.%m.%Y}</h1>"
        + form
        + "<p>5–10 звонков каждого администратора: запись, отказ, перезвон, КОС, длинный разговор, остальные "
        + "случайно. Прослушайте, оцените по скоркарду и выберите навык недели.</p>"
        + ("".join(sections) or '<p class="empty">Администраторов нет</p>')
    )
    return web.Response(
        text=layout("Прослушка недели", body, user=user, csrf=csrf_of(request), nav=nav(user)),
        content_type="text/html",
    )


def _administrator(
    clinic: ClinicSettings,
    monday: date,
    user_id: int,
    name: str,
    proposed: list[Proposed],
    scored: set[int],
    skill: str,
    csrf: str,
) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{p.call.created_at.astimezone(clinic.timezone):%d.%m %H:%M}</td>"
        f"<td>{escape(KIND_LABELS.get(p.call.kind, p.call.kind))}</td>"
        f"<td>{escape(RESULTS.get(p.call.result, p.call.result))}</td>"
        f"<td>{_minutes(p.call.talk_seconds)}</td>"
        f"<td>{escape(STRATUM_LABELS[p.why])}</td>"
        f'<td class="scored">{"оценён" if p.call.contact_id in scored else "—"}</td>'
        f'<td><a href="/supervisor/calls/{p.call.contact_id}">Слушать и оценить</a></td>'
        "</tr>"
        for p in proposed
    )
    calls = (
        "<table><thead><tr><th>Когда</th><th>Звонок</th><th>Итог</th><th>Разговор</th><th>Почему</th>"
        f"<th>Оценка</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
        if proposed
        else '<p class="empty">Звонков за неделю нет</p>'
    )
    action = "/supervisor/listening/skill?" + urlencode({"clinic": clinic.id})
    form = (
        f'<form class="skill" method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="user_id" value="{user_id}">'
        f'<input type="hidden" name="week" value="{monday.isoformat()}">'
        f'<label>Навык недели <input name="skill" maxlength="{MAX_SKILL}" value="{escape(skill)}"></label>'
        "<button>Сохранить</button></form>"
    )
    return f'<section class="listening" data-user="{user_id}"><h2>{escape(name)}</h2>{calls}{form}</section>'


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


async def post_skill(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    ctx = request.app[LISTENING]
    clinic = known_clinic(request, ctx.settings, one_clinic(request, user, list(ctx.settings.clinics)))
    form = await request.post()
    operators = dict(await request.app[SUPERVISION].reports.operators(clinic.id))
    raw_user = str(form.get("user_id", ""))
    if not raw_user.isdecimal() or int(raw_user) not in operators:
        raise refusal(request, "user_id", "нет такого администратора в этой клинике")
    try:
        week = week_start(date.fromisoformat(str(form.get("week", ""))))
    except ValueError:
        raise refusal(request, "week", "неделя: дата ГГГГ-ММ-ДД") from None
    if not FIRST_DAY <= week <= LAST_DAY:
        raise refusal(request, "week", "неделя вне допустимых дат")
    skill = " ".join(str(form.get("skill", "")).split())
    if not skill or len(skill) > MAX_SKILL:
        raise refusal(request, "skill", f"навык недели: от 1 до {MAX_SKILL} знаков")
    await ctx.skills.set_skill(
        clinic_id=clinic.id,
        user_id=int(raw_user),
        week=week,
        skill=skill,
        set_by=user.user_id,
        at=ctx.clock.now(),
    )
    query = urlencode({"clinic": clinic.id, "date": week.isoformat()})
    raise web.HTTPSeeOther(f"/supervisor/listening?{query}")


def add_routes(app: web.Application) -> None:
    one = allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC)
    add_route(app, "GET", "/supervisor/listening", listening_page, one)
    add_route(app, "POST", "/supervisor/listening/skill", post_skill, one)
