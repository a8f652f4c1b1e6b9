"""An administrator's own recorded conversations of the last 30 days, to listen to themselves, where their clinic
allows it (`operators_hear_own`); refused where it does not."""

from __future__ import annotations

from datetime import timedelta
from html import escape

from aiohttp import web

from dialer.core.privacy import mask_phone
from dialer.core.quality_ports import Recording
from dialer.core.staff import Role, UserRow
from dialer.settings import ClinicSettings, Settings
from dialer.web.access import Scope, add_route, allow, forbidden, held, some_clinics
from dialer.web.auth import user_of
from dialer.web.quality import QUALITY, page

SPAN = timedelta(days=30)
MOST_SHOWN = 500
KIND_LABELS = {
    "inbound": "Входящий",
    "callback": "Перезвон",
    "reminder": "Напоминание",
    "kos": "КОС",
    "diary": "ЕЖ.",
}


def hearing_clinics(
    settings: Settings, user: UserRow, named: list[str] | None = None
) -> list[ClinicSettings]:
    """The user's clinics (or those named) that let an administrator hear their own calls."""
    ids = named if named is not None else held(user, settings.clinics)
    return [
        c for c in (settings.clinics.get(i) for i in ids) if c is not None and c.quality.operators_hear_own
    ]


def _row(rec: Recording, clinic: ClinicSettings | None) -> str:
    zone = clinic.timezone if clinic else None
    when = rec.started_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
    length = "—" if rec.seconds is None else f"{round(rec.seconds) // 60}:{round(rec.seconds) % 60:02d}"
    cells = [
        when,
        KIND_LABELS.get(rec.kind, "Мы звоним"),
        mask_phone(rec.phone) if rec.phone else "—",
        length,
    ]
    tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
    return (
        f'<tr data-recording="{rec.recording_id}">{tds}'
        f'<td><audio controls preload="none" src="/recordings/{rec.recording_id}"></audio> '
        f'<a href="/recordings/{rec.recording_id}?download=1">Скачать</a></td></tr>'
    )


async def own_recordings_page(request: web.Request) -> web.Response:
    ctx = request.app[QUALITY]
    user = user_of(request)
    clinics = hearing_clinics(ctx.settings, user, some_clinics(request, user, list(ctx.settings.clinics)))
    if not clinics:
        raise forbidden(request, "в вашей клинике администраторы не слушают записи своих звонков", "clinic")
    found = await ctx.calls.own_recordings(
        [c.id for c in clinics], user.user_id, ctx.clock.now() - SPAN, MOST_SHOWN
    )
    by_id = {c.id: c for c in clinics}
    table = (
        '<table class="own-recordings"><thead><tr><th>Когда</th><th>Вид</th><th>Номер</th><th>Длительность</th>'
        "<th>Запись</th></tr></thead><tbody>"
        + "".join(_row(rec, by_id.get(rec.clinic_id)) for rec in found)
        + "</tbody></table>"
        if found
        else '<p class="empty">Записей ваших разговоров за 30 дней нет</p>'
    )
    body = (
        "<h1>Мои записи разговоров</h1>"
        f'<p class="muted">Ваши разговоры за последние {SPAN.days} дней, новые сверху. '
        "Каждое прослушивание записывается в журнал.</p>" + table
    )
    return page(request, "Мои записи", body)


def add_routes(app: web.Application) -> None:
    # Only their own calls, and a person listening: never another system by an API token.
    rule = allow(Role.OPERATOR, scope=Scope.CLINICS, tokens=False)
    add_route(app, "GET", "/operator/calls", own_recordings_page, rule)
