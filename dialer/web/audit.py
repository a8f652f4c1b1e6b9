"""The audit log in the web app: one call for the handlers to record what a user did, and the page that
shows the log to the senior administrator."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, tzinfo
from enum import StrEnum

from aiohttp import web

from dialer.core.staff import Role
from dialer.web.access import Scope, add_route, allow
from dialer.web.auth import AUTH, USER, csrf_of, user_of
from dialer.web.pages import filters, layout, nav, table

PAGE_ROWS = 500


class PageAction(StrEnum):
    """What the web pages record beyond `AuditAction`: call quality's and the no-show page's own actions."""

    RECORDING_PLAY = "recording_play"
    RECORDING_DOWNLOAD = "recording_download"
    SCORE = "call_score"
    NOSHOW_REASON = "noshow_reason"


RECORDING_PLAY = PageAction.RECORDING_PLAY
RECORDING_DOWNLOAD = PageAction.RECORDING_DOWNLOAD
SCORE = PageAction.SCORE
NOSHOW_REASON = PageAction.NOSHOW_REASON
# The log's page shows every action in words; a raw action name there means a label is missing.
WEB_LABELS: dict[str, str] = {
    PageAction.RECORDING_PLAY: "прослушивание записи",
    PageAction.RECORDING_DOWNLOAD: "скачивание записи",
    PageAction.SCORE: "оценка звонка",
    PageAction.NOSHOW_REASON: "причина неявки",
}


async def record(request: web.Request, action: str, clinic_id: str, detail: dict[str, object]) -> None:
    """Write down that the request's user did `action`. Ids, counts and masked numbers only in `detail`."""
    user = request.get(USER)
    await request.app[AUTH].record(user.username if user else "", action, clinic_id, detail)


async def audit_page(request: web.Request) -> web.Response:
    user = user_of(request)
    ctx = request.app[AUTH]
    if ctx.audit is None:
        raise web.HTTPServiceUnavailable(text="Журнал недоступен в этом процессе")
    zone = _zone(request)
    raw_since, actor = request.query.get("date", ""), request.query.get("user", "").strip()
    try:
        since = datetime.combine(date.fromisoformat(raw_since), time(0), zone) if raw_since else None
    except ValueError:
        raise web.HTTPBadRequest(text="Дата должна быть в виде ГГГГ-ММ-ДД") from None
    entries = await ctx.audit.entries(since=since, actor=actor or None, limit=PAGE_ROWS)
    # A clinic's senior administrator reads their clinics' lines; lines of no one clinic are for all-clinic staff.
    entries = [e for e in entries if user.holds(e.clinic_id)]
    rows = [
        [
            e.at.astimezone(zone).strftime("%d.%m.%Y %H:%M:%S"),
            e.actor or "—",
            WEB_LABELS.get(e.action, e.label),
            e.clinic_id or "—",
            json.dumps(e.detail, ensure_ascii=False, sort_keys=True),
        ]
        for e in entries
    ]
    body = (
        "<h1>Журнал действий</h1>"
        + filters(
            "/supervisor/audit", [("date", "С даты", raw_since, None), ("user", "Пользователь", actor, None)]
        )
        + table(["Время", "Кто", "Действие", "Клиника", "Подробности"], rows, "Записей нет")
    )
    return web.Response(
        text=layout("Журнал действий", body, user=user, csrf=csrf_of(request), nav=nav(user)),
        content_type="text/html",
    )


def _zone(request: web.Request) -> tzinfo:
    """Times in the zone of the first clinic in the settings (UTC without clinics), as `dialer audit` shows."""
    from dialer.web.supervisor import SUPERVISION

    clinics = request.app[SUPERVISION].settings.clinics
    return next(iter(clinics.values())).timezone if clinics else UTC


def add_routes(app: web.Application) -> None:
    add_route(
        app, "GET", "/supervisor/audit", audit_page, allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINICS)
    )
