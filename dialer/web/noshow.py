"""The week's no-shows for the senior administrator (the weekly meeting's «разбор неявок»): each missed visit
with its reminder's outcome and why the patient did not come, the count per reason, a form to record a reason,
and the list as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from html import escape
from urllib.parse import quote, urlencode

from aiohttp import web

from dialer.core.clock import Clock
from dialer.core.csvfile import formula_safe_row
from dialer.core.noshow import (
    MAX_COMMENT,
    UNKNOWN_LABEL,
    NoShowNote,
    NoShowReason,
    NoShowRow,
    NoShowStore,
    ReasonTally,
    parse_reason,
    squeeze,
    tally,
)
from dialer.core.records import ReminderStatus
from dialer.core.staff import AuditAction, Role
from dialer.settings import ClinicSettings, Settings
from dialer.web.access import Scope, add_route, allow, held, one_clinic
from dialer.web.audit import NOSHOW_REASON, record
from dialer.web.auth import csrf_of, user_of
from dialer.web.pages import filters, layout, nav
from dialer.web.params import known_clinic, query_day, refusal
from dialer.web.period_report import Period


@dataclass
class NoShowContext:
    settings: Settings
    store: NoShowStore
    clock: Clock


NOSHOWS = web.AppKey("noshows", NoShowContext)


def _clinic_and_week(request: web.Request) -> tuple[ClinicSettings, date]:
    ctx = request.app[NOSHOWS]
    clinic = known_clinic(
        request, ctx.settings, one_clinic(request, user_of(request), list(ctx.settings.clinics))
    )
    day = query_day(request, default=ctx.clock.now().astimezone(clinic.timezone).date())
    return clinic, day


async def no_show_page(request: web.Request) -> web.Response:
    user = user_of(request)
    ctx = request.app[NOSHOWS]
    clinic, day = _clinic_and_week(request)
    first = Period.WEEK.first_day(day)
    rows = await ctx.store.week(clinic.id, first, 7)
    back = urlencode({"clinic": clinic.id, "date": day.isoformat()})
    mine = held(user, ctx.settings.clinics)
    form = filters(
        "/supervisor/noshow",
        [
            ("clinic", "Клиника", clinic.id, [(c, ctx.settings.clinics[c].name) for c in mine]),
            ("date", "Неделя (любой её день)", day.isoformat(), None),
        ],
        f"/supervisor/noshow.csv?{back}",
    )
    body = (
        f"<h1>Неявки за неделю: {escape(clinic.name)}, {Period.WEEK.heading(day)}</h1>"
        + form
        + _summary(tally(rows))
        + _table(rows, clinic, back, csrf_of(request))
    )
    return web.Response(
        text=layout("Неявки", body, user=user, csrf=csrf_of(request), nav=nav(user)),
        content_type="text/html",
    )


def _summary(counts: ReasonTally) -> str:
    if not counts.total:
        return ""
    items = "".join(
        f'<li data-reason="{reason.value}">{escape(reason.label)}: <b>{n}</b></li>'
        for reason, n in counts.counts
    )
    unknown = counts.total - counts.known
    if unknown:
        items += f'<li data-reason="">{UNKNOWN_LABEL}: <b>{unknown}</b></li>'
    share = f"{counts.known_pct:.0f} %" if counts.known_pct is not None else "—"
    return (
        '<section class="noshow-reasons"><h2>Причины неявок</h2>'
        f'<p class="known">Причина известна: {counts.known} из {counts.total} ({share})</p>'
        f"<ul>{items}</ul></section>"
    )


def _table(rows: list[NoShowRow], clinic: ClinicSettings, back: str, csrf: str) -> str:
    if not rows:
        return '<p class="empty">Неявок за неделю нет</p>'
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "Запись",
            "Приём",
            "Врач",
            "Специальность",
            "Напоминание",
            "Нажал",
            "Причина",
            "Комментарий",
            "",
        )
    )
    body = "".join(_row(r, clinic, back, csrf) for r in rows)
    return f'<table class="noshows"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _row(r: NoShowRow, clinic: ClinicSettings, back: str, csrf: str) -> str:
    cells = [
        r.appointment_id,
        r.visit_at.astimezone(clinic.timezone).strftime("%d.%m %H:%M"),
        r.doctor,
        r.specialty,
        ReminderStatus(r.reminder_status).label,
        r.reminder_digit or "—",
        r.reason.label if r.reason else UNKNOWN_LABEL,
        r.comment,
    ]
    tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
    return f'<tr data-appointment="{escape(r.appointment_id)}">{tds}<td>{_form(r, back, csrf)}</td></tr>'


def _form(r: NoShowRow, back: str, csrf: str) -> str:
    options = '<option value="">— причина —</option>' + "".join(
        f'<option value="{reason.value}"{" selected" if reason is r.reason else ""}>{escape(reason.label)}</option>'
        for reason in NoShowReason
    )
    action = f"/supervisor/noshow/{quote(r.appointment_id, safe='')}/reason?{back}"
    return (
        f'<form class="noshow-reason" method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<select name="reason" required>{options}</select> '
        f'<input name="comment" maxlength="{MAX_COMMENT}" value="{escape(r.comment)}" placeholder="комментарий"> '
        "<button>Записать</button></form>"
    )


async def post_reason(request: web.Request) -> web.StreamResponse:
    """The senior administrator's word on why a patient did not come: the last one recorded is the one shown."""
    user = user_of(request)
    ctx = request.app[NOSHOWS]
    clinic, day = _clinic_and_week(request)
    appointment_id = request.match_info["appointment_id"]
    form = await request.post()
    reason = parse_reason(str(form.get("reason", "")))
    if reason is None:
        raise refusal(request, "reason", "причина неявки: выберите из списка")
    comment = squeeze(str(form.get("comment", "")))
    if len(comment) > MAX_COMMENT:
        raise refusal(request, "comment", f"комментарий: не больше {MAX_COMMENT} знаков")
    note = NoShowNote(reason, comment)
    if not await ctx.store.record(clinic.id, appointment_id, note, user.user_id, ctx.clock.now()):
        raise refusal(request, "appointment_id", "нет такой неявки в этой клинике", 404)
    # Ids only: the comment may speak of the patient.
    await record(
        request, NOSHOW_REASON, clinic.id, {"appointment_id": appointment_id, "reason": reason.value}
    )
    raise web.HTTPSeeOther(f"/supervisor/noshow?{urlencode({'clinic': clinic.id, 'date': day.isoformat()})}")


async def no_show_csv(request: web.Request) -> web.Response:
    """The week's no-shows with their reasons, without the patients' names or numbers."""
    ctx = request.app[NOSHOWS]
    clinic, day = _clinic_and_week(request)
    first = Period.WEEK.first_day(day)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["appointment_id", "visit_at", "doctor", "specialty", "reminder", "digit", "reason", "reason_label",
         "comment", "source", "recorded_at"]
    )  # fmt: skip
    for r in await ctx.store.week(clinic.id, first, 7):
        writer.writerow(
            formula_safe_row(
                [
                    r.appointment_id,
                    r.visit_at.astimezone(clinic.timezone).strftime("%Y-%m-%d %H:%M"),
                    r.doctor,
                    r.specialty,
                    ReminderStatus(r.reminder_status).label,
                    r.reminder_digit or "",
                    r.reason.value if r.reason else "",
                    r.reason.label if r.reason else UNKNOWN_LABEL,
                    r.comment,
                    r.source.value if r.source else "",
                    r.recorded_at.astimezone(clinic.timezone).isoformat(timespec="minutes")
                    if r.recorded_at
                    else "",
                ]
            )
        )
    await record(request, AuditAction.EXPORT, clinic.id, {"report": "noshow", "date": first.isoformat()})
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="noshow-{clinic.id}-{first}.csv"'},
    )


def add_routes(app: web.Application) -> None:
    one = allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC)
    add_route(app, "GET", "/supervisor/noshow", no_show_page, one)
    add_route(app, "GET", "/supervisor/noshow.csv", no_show_csv, one)
    # A person's judgement after talking to the patient: in a browser, never by an API token.
    add_route(
        app,
        "POST",
        "/supervisor/noshow/{appointment_id}/reason",
        post_reason,
        allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC, tokens=False),
    )
