"""Call quality in the web app: what its pages share, and the weekly scores of each administrator with their
trend against the clinic's goal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape
from pathlib import Path

from aiohttp import web

from dialer.core.clock import Clock
from dialer.core.quality_ports import CallLogStore, ScoreStore
from dialer.core.scoring import WeekScore, below_goal, recent_weeks, trend, week_bounds, weekly_scores
from dialer.core.staff import Role
from dialer.settings import ClinicSettings, Settings
from dialer.web.access import Scope, add_route, allow, held, one_clinic
from dialer.web.auth import csrf_of, user_of
from dialer.web.pages import filters, layout, nav
from dialer.web.params import known_clinic, query_day

WEEKS_SHOWN = 8


@dataclass
class QualityContext:
    settings: Settings
    calls: CallLogStore
    scores: ScoreStore
    clock: Clock
    recordings_dir: Path


QUALITY = web.AppKey("quality", QualityContext)


def clinic_of(request: web.Request) -> ClinicSettings:
    """The clinic the page is about: ?clinic= if the user holds it, else their first."""
    settings = request.app[QUALITY].settings
    return known_clinic(request, settings, one_clinic(request, user_of(request), list(settings.clinics)))


def clinic_options(request: web.Request) -> list[tuple[str, str]]:
    settings = request.app[QUALITY].settings
    return [(c, settings.clinics[c].name) for c in held(user_of(request), settings.clinics)]


def today_in(request: web.Request, clinic: ClinicSettings) -> date:
    return request.app[QUALITY].clock.now().astimezone(clinic.timezone).date()


def page(request: web.Request, title: str, body: str, scripts: tuple[str, ...] = ()) -> web.Response:
    user = user_of(request)
    html = layout(title, body, user=user, csrf=csrf_of(request), nav=nav(user), scripts=scripts)
    return web.Response(text=html, content_type="text/html")


async def quality_page(request: web.Request) -> web.Response:
    ctx = request.app[QUALITY]
    clinic = clinic_of(request)
    today = query_day(request, default=today_in(request, clinic))
    weeks = recent_weeks(today, WEEKS_SHOWN)
    start, _ = week_bounds(weeks[0], clinic.timezone)
    _, end = week_bounds(weeks[-1], clinic.timezone)
    scored = weekly_scores(await ctx.scores.scores_of_calls(clinic.id, start, end), clinic.timezone)
    names = await ctx.scores.names(clinic.id)
    goal = clinic.quality.qa_goal
    head = "".join(f"<th>{w:%d.%m}</th>" for w in weeks)
    rows = []
    for user_id in sorted(scored, key=lambda u: names.get(u, "") if u is not None else "\uffff"):
        averages = [scored[user_id][w].average if w in scored[user_id] else None for w in weeks]
        cells = "".join(_week_cell(scored[user_id].get(w), goal) for w in weeks)
        direction = trend(averages)
        name = names.get(user_id, "—") if user_id is not None else "без администратора"
        rows.append(
            f'<tr data-user="{user_id or ""}"><td>{escape(name)}</td>{cells}'
            f'<td class="trend {direction.value}">{direction.arrow}</td></tr>'
        )
    table = (
        f'<table class="quality"><thead><tr><th>Администратор</th>{head}<th>Тренд</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="empty">Оценённых звонков за эти недели нет</p>'
    )
    body = (
        f"<h1>Оценка звонков по неделям: {escape(clinic.name)}</h1>"
        + filters(
            "/supervisor/quality",
            [
                ("clinic", "Клиника", clinic.id, clinic_options(request)),
                ("date", "Неделя с датой", request.query.get("date", ""), None),
            ],
        )
        + '<p class="muted">Средний балл оценённых звонков за неделю (с понедельника, по дню звонка), '
        + f"цель — не ниже {goal} из 100. "
        + 'Ниже цели отмечено красным. <a href="/supervisor/calls?scored=no">Звонки без оценки</a> · '
        '<a href="/supervisor/listening">Прослушка недели</a></p>' + table
    )
    return page(request, "Оценка звонков", body)


def _week_cell(score: WeekScore | None, goal: int) -> str:
    if score is None:
        return '<td class="muted">—</td>'
    mark = ' class="below-goal" title="ниже цели"' if below_goal(score.average, goal) else ""
    return f'<td{mark}>{score.average:g} <span class="muted">({score.calls})</span></td>'


def add_routes(app: web.Application) -> None:
    add_route(
        app,
        "GET",
        "/supervisor/quality",
        quality_page,
        allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC),
    )
