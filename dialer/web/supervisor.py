"""The senior administrator's pages: the live board, the day's report (and CSV), the drill-down lists."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape

from aiohttp import web

from dialer.core.clock import Clock
from dialer.core.csvfile import formula_safe_row
from dialer.core.inbound import MissReason
from dialer.core.period_reports import PeriodReportStore
from dialer.core.privacy import mask_phone
from dialer.core.records import ReminderStatus, TaskState
from dialer.core.sla_sums import PeriodSums
from dialer.core.staff import AuditAction, Role
from dialer.core.supervision import MissedCall
from dialer.engine.reports import period_service_level
from dialer.settings import ClinicSettings, Settings
from dialer.web.access import EVERYONE, Scope, add_route, allow, held, one_clinic
from dialer.web.audit import record
from dialer.web.auth import csrf_of, user_of
from dialer.web.pages import filters, layout, nav, supervisor_html, table
from dialer.web.params import known_clinic, query_day, query_id, refusal
from dialer.web.period_report import REPORT_ROWS, DayReport, Period


@dataclass
class SupervisorContext:
    settings: Settings
    reports: PeriodReportStore
    sla: PeriodSums
    clock: Clock


SUPERVISION = web.AppKey("supervision", SupervisorContext)


def _period(request: web.Request) -> Period:
    raw = request.query.get("period", Period.DAY.value) or Period.DAY.value
    if raw not in Period._value2member_map_:
        raise refusal(request, "period", "период: day или week")
    return Period(raw)


def _query(request: web.Request) -> tuple[ClinicSettings, date, int | None]:
    ctx = request.app[SUPERVISION]
    clinic_id = one_clinic(request, user_of(request), list(ctx.settings.clinics))
    clinic = known_clinic(request, ctx.settings, clinic_id)
    day = query_day(request, default=ctx.clock.now().astimezone(clinic.timezone).date())
    return clinic, day, query_id(request, "operator")


def _bounds(clinic: ClinicSettings, day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), clinic.timezone)
    return start, start + timedelta(days=1)


async def board_page(request: web.Request) -> web.Response:
    user = user_of(request)
    ctx = request.app[SUPERVISION]
    clinics = [(c.id, c.name) for c in ctx.settings.clinics.values() if user.holds(c.id)]
    return web.Response(text=supervisor_html(user, csrf_of(request), clinics), content_type="text/html")


async def report_data(request: web.Request) -> tuple[ClinicSettings, date, DayReport]:
    ctx = request.app[SUPERVISION]
    clinic, day, operator = _query(request)
    period = _period(request)
    start, end = period.bounds(clinic, day)
    first = period.first_day(day)
    metrics = await ctx.reports.period_metrics(clinic.id, start, end, first, period.days, operator)
    # The whole period's figures only: the hour-by-hour split the board draws is not in the report.
    sla = await period_service_level(ctx.sla, clinic.id, start, end, ctx.clock.now())
    return clinic, day, DayReport(metrics, sla, clinic.quality.qa_goal)


async def report_page(request: web.Request) -> web.Response:
    user = user_of(request)
    clinic, day, report = await report_data(request)
    period = _period(request)
    rows = [
        [label, cell, goal, met]
        for (_, label), cell, (goal, met) in zip(
            REPORT_ROWS, report.cells(), report.goal_cells(), strict=True
        )
    ]
    body = (
        f"<h1>Отчёт за {period.title_word}: {escape(clinic.name)}, {period.heading(day)}</h1>"
        + await _filters(request, "/supervisor/report", clinic, day, csv=True, period=period)
        + table(["Показатель", "Значение", "Цель", "Выполнено"], rows)
        + "<p>Пропуски, перезвон и подтверждения считаются по клинике; no-show — по приёмам периода. "
        + f'<a href="/supervisor/noshow?clinic={escape(clinic.id)}&amp;date={day.isoformat()}">'
        + "No-show за неделю</a> · "
        + f'<a href="/supervisor/listening?clinic={escape(clinic.id)}&amp;date={day.isoformat()}">'
        + "Прослушка недели</a></p>"
    )
    return web.Response(
        text=layout("Отчёт", body, user=user, csrf=csrf_of(request), nav=nav(user)),
        content_type="text/html",
    )


async def report_csv(request: web.Request) -> web.Response:
    clinic, day, report = await report_data(request)
    period = _period(request)
    first = period.first_day(day)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["clinic", "period", "date", "operator", *(key for key, _ in REPORT_ROWS)])
    operator = request.query.get("operator", "")
    writer.writerow(formula_safe_row([clinic.id, period.value, first.isoformat(), operator, *report.cells()]))
    goals = report.goals()
    writer.writerow(["", "", "", "goal", *(goals[k].text if k in goals else "" for k, _ in REPORT_ROWS)])
    detail: dict[str, object] = {"report": "day_report", "period": period.value, "date": first.isoformat()}
    await record(request, AuditAction.EXPORT, clinic.id, detail)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="report-{clinic.id}-{period.value}-{first}.csv"'
        },
    )


async def missed_page(request: web.Request) -> web.Response:
    user = user_of(request)
    ctx = request.app[SUPERVISION]
    clinic, day, operator = _query(request)
    start, end = _bounds(clinic, day)
    rows = []
    for r in await ctx.reports.missed_calls(clinic.id, start, end, operator):
        history = ", ".join(f"{a.n}: {a.leg_status or a.result or 'звоним'}" for a in r.attempts)
        rows.append(
            [
                _local(r.started_at, clinic),
                "скрыт" if r.hidden else mask_phone(r.caller),
                MissReason(r.miss_reason).label,
                f"{r.waited:.0f} с",
                _local(r.deadline_at, clinic),
                _local(r.first_attempt_at, clinic),
                history or "—",
                _task_state(r),
            ]
        )
    body = (
        f"<h1>Пропущенные звонки: {clinic.name}, {day:%d.%m.%Y}</h1>"
        + await _filters(request, "/supervisor/missed", clinic, day)
        + table(
            ["Время", "Номер", "Причина", "Ждал", "Срок", "Первый перезвон", "Попытки", "Итог"],
            rows,
            "Пропущенных звонков нет",
        )
    )
    return web.Response(
        text=layout("Пропущенные", body, user=user, csrf=csrf_of(request), nav=nav(user)),
        content_type="text/html",
    )


async def unreached_page(request: web.Request) -> web.Response:
    user = user_of(request)
    ctx = request.app[SUPERVISION]
    clinic, day, _ = _query(request)
    rows = [
        [
            r.appointment_id,
            _local(r.visit_at, clinic),
            r.doctor,
            ReminderStatus(r.reminder_status).label,
            str(r.attempts),
            str(r.machines),
        ]
        for r in await ctx.reports.unreached(clinic.id, day)
    ]
    body = (
        f"<h1>Не дозвонились с напоминанием: приёмы {day:%d.%m.%Y}, {clinic.name}</h1>"
        + await _filters(request, "/supervisor/unreached", clinic, day, operators=False)
        + table(
            ["Запись", "Приём", "Врач", "Итог", "Звонков", "Автоответчик"], rows, "Все пациенты дозвонены"
        )
    )
    return web.Response(
        text=layout("Не дозвонились", body, user=user, csrf=csrf_of(request), nav=nav(user)),
        content_type="text/html",
    )


async def _filters(
    request: web.Request,
    action: str,
    clinic: ClinicSettings,
    day: date,
    *,
    csv: bool = False,
    operators: bool = True,
    period: Period | None = None,
) -> str:
    ctx = request.app[SUPERVISION]
    mine = held(user_of(request), ctx.settings.clinics)
    fields: list[tuple[str, str, str, list[tuple[str, str]] | None]] = [
        ("clinic", "Клиника", clinic.id, [(c, ctx.settings.clinics[c].name) for c in mine]),
        ("date", "Дата", day.isoformat(), None),
    ]
    if operators:
        options = [("", "все"), *((str(i), n) for i, n in await ctx.reports.operators(clinic.id))]
        fields.append(("operator", "Администратор", request.query.get("operator", ""), options))
    if period is not None:
        fields.append(("period", "Период", period.value, [(p.value, p.label) for p in Period]))
    link = f"{action}.csv?{request.query_string}" if csv else ""
    return filters(action, fields, link)


def _task_state(row: MissedCall) -> str:
    if row.task_id is None:
        return "скрытый номер" if row.hidden else "—"
    state = TaskState._value2member_map_.get(row.state or "")
    return state.label if isinstance(state, TaskState) else ""


def _local(value: datetime | None, clinic: ClinicSettings) -> str:
    return value.astimezone(clinic.timezone).strftime("%H:%M") if value else "—"


async def home(request: web.Request) -> web.StreamResponse:
    from dialer.web.auth import home_of, user_of

    raise web.HTTPSeeOther(home_of(user_of(request)))


def add_routes(app: web.Application) -> None:
    add_route(app, "GET", "/", home, allow(*EVERYONE))
    # The board's page frame lists the user's clinics; the board itself comes over /ws, walled there.
    add_route(app, "GET", "/supervisor", board_page, allow(Role.SUPERVISOR, Role.ADMIN))
    one = allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC)
    add_route(app, "GET", "/supervisor/report", report_page, one)
    add_route(app, "GET", "/supervisor/report.csv", report_csv, one)
    add_route(app, "GET", "/supervisor/missed", missed_page, one)
    add_route(app, "GET", "/supervisor/unreached", unreached_page, one)
