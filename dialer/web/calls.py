"""The supervisor's call log, a call's card beside its recordings' player, and the scorecard saved with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from aiohttp import web

from dialer.core.errors import FieldError
from dialer.core.privacy import mask_phone
from dialer.core.quality import Criterion
from dialer.core.quality_ports import KINDS, CallCard, CallLine, CallQuery, NewScore, Recording, SavedScore
from dialer.core.scoring import read_sheet
from dialer.core.staff import Role
from dialer.core.wrapup import RESULTS
from dialer.settings import ClinicSettings
from dialer.web.access import Scope, add_route, allow
from dialer.web.audit import SCORE, record
from dialer.web.auth import csrf_of, user_of
from dialer.web.pages import filters
from dialer.web.params import path_id, query_day, query_id, refusal
from dialer.web.quality import QUALITY, clinic_of, clinic_options, page, today_in

PAGE_CALLS = 50
MAX_SPAN = timedelta(days=93)
MAX_SECONDS = 24 * 3600


def _seconds(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_SECONDS:
        raise refusal(request, name, f"длительность — целое число секунд от 0 до {MAX_SECONDS}")
    return float(raw)


def _choice(request: web.Request, name: str, allowed: dict[str, str]) -> str | None:
    raw = request.query.get(name, "")
    if raw and raw not in allowed:
        raise refusal(request, name, f"выберите одно из: {', '.join(allowed.values())}")
    return raw or None


YES_NO = {"yes": "есть", "no": "нет"}
SCORED = {"yes": "оценённые", "no": "не оценённые"}


def _yes_no(request: web.Request, name: str, allowed: dict[str, str]) -> bool | None:
    chosen = _choice(request, name, allowed)
    return None if chosen is None else chosen == "yes"


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise refusal(request, "page", "номер страницы — целое число от 1")
    return int(raw)


def call_query(request: web.Request, clinic: ClinicSettings) -> tuple[CallQuery, date, date, int]:
    first = query_day(request, default=today_in(request, clinic))
    last = query_day(request, "until", default=first)
    if last < first or last - first > MAX_SPAN:
        raise refusal(request, "until", f"конец периода — не раньше начала и не дальше {MAX_SPAN.days} дней")
    start = datetime.combine(first, datetime.min.time(), clinic.timezone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), clinic.timezone)
    number = _page_number(request)
    query = CallQuery(
        clinic_id=clinic.id,
        start=start,
        end=end,
        user_id=query_id(request, "operator"),
        kind=_choice(request, "kind", KINDS),
        result=_choice(request, "result", RESULTS),
        min_seconds=_seconds(request, "min"),
        max_seconds=_seconds(request, "max"),
        recorded=_yes_no(request, "recorded", YES_NO),
        scored=_yes_no(request, "scored", SCORED),
        offset=(number - 1) * PAGE_CALLS,
        limit=PAGE_CALLS,
    )
    return query, first, last, number


def kind_label(line: CallLine) -> str:
    kinds = [KINDS.get(line.direction, line.direction)]
    kinds += [flag for flag in line.flags.split(",") if flag]
    return ", ".join(kinds)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _local(at: datetime, clinic: ClinicSettings, fmt: str = "%d.%m %H:%M") -> str:
    return at.astimezone(clinic.timezone).strftime(fmt)


def _call_row(line: CallLine, clinic: ClinicSettings) -> str:
    cells = [
        _local(line.created_at, clinic),
        mask_phone(line.phone),
        kind_label(line),
        line.operator or "—",
        RESULTS.get(line.result, line.result),
        _duration(line.talk_seconds),
        "есть" if line.recordings else "нет",
        str(line.score) if line.score is not None else "—",
    ]
    below = line.score is not None and line.score < clinic.quality.qa_goal
    mark = ' class="below-goal"' if below else ""
    tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
    return (
        f'<tr data-contact="{line.contact_id}"{mark}>{tds}'
        f'<td><a href="/supervisor/calls/{line.contact_id}">Открыть</a></td></tr>'
    )


async def calls_page(request: web.Request) -> web.Response:
    ctx = request.app[QUALITY]
    clinic = clinic_of(request)
    query, first, last, number = call_query(request, clinic)
    found = await ctx.calls.calls(query)
    operators = [("", "все"), *((str(i), n) for i, n in await ctx.calls.operators(clinic.id))]
    form = filters(
        "/supervisor/calls",
        [
            ("clinic", "Клиника", clinic.id, clinic_options(request)),
            ("date", "С", first.isoformat(), None),
            ("until", "по", request.query.get("until", ""), None),
            ("operator", "Администратор", request.query.get("operator", ""), operators),
            ("kind", "Вид", query.kind or "", [("", "все"), *KINDS.items()]),
            ("result", "Итог", query.result or "", [("", "все"), *RESULTS.items()]),
            ("min", "Длительность от, с", request.query.get("min", ""), None),
            ("max", "до, с", request.query.get("max", ""), None),
            ("recorded", "Запись", request.query.get("recorded", ""), [("", "все"), *YES_NO.items()]),
            ("scored", "Оценка", request.query.get("scored", ""), [("", "все"), *SCORED.items()]),
        ],
    ).replace('type="text" name="until"', 'type="date" name="until"')
    headers = ["Время", "Номер", "Вид", "Администратор", "Итог", "Разговор", "Запись", "Оценка", ""]
    table = (
        '<table class="calls"><thead><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in headers)
        + "</tr></thead><tbody>"
        + "".join(_call_row(line, clinic) for line in found.lines)
        + "</tbody></table>"
        if found.lines
        else '<p class="empty">Звонков с такими условиями нет</p>'
    )
    period = f"{first:%d.%m.%Y}" + (f"–{last:%d.%m.%Y}" if last != first else "")
    body = (
        f"<h1>Журнал звонков: {escape(clinic.name)}, {period}</h1>"
        + form
        + f'<p class="muted">Найдено звонков: {found.total} · '
        + f'<a href="{escape(_csv_url(request))}">Скачать CSV</a></p>'
        + table
        + _pager(request, number, found.total)
    )
    return page(request, "Журнал звонков", body)


def _csv_url(request: web.Request) -> str:
    """The same filters, every page: the CSV has no pages."""
    url = request.rel_url
    return str(url.with_path("/supervisor/calls.csv").with_query(url.query).without_query_params("page"))


def _pager(request: web.Request, number: int, total: int) -> str:
    pages = max(1, -(-total // PAGE_CALLS))
    if pages == 1:
        return ""
    links = []
    for n, label in ((number - 1, "← раньше"), (number + 1, "дальше →")):
        if 1 <= n <= pages:
            url = request.rel_url.update_query(page=str(n))
            links.append(f'<a href="{escape(str(url))}">{label}</a>')
    return f'<p class="pager">Страница {number} из {pages} {" ".join(links)}</p>'


async def _held_card(request: web.Request) -> tuple[CallCard, ClinicSettings]:
    """The call in the path, if it is of a clinic the user holds; else answered as if it did not exist."""
    ctx = request.app[QUALITY]
    contact_id = path_id(request, "contact_id", "такого звонка")
    card = await ctx.calls.card(contact_id)
    clinic = ctx.settings.clinics.get(card.line.clinic_id) if card is not None else None
    if card is None or clinic is None or not user_of(request).holds(clinic.id):
        raise web.HTTPNotFound(text="Такого звонка нет")
    return card, clinic


async def card_page(request: web.Request) -> web.Response:
    card, clinic = await _held_card(request)
    return page(request, "Звонок", _card_html(card, clinic, csrf_of(request), Refused.none()))


@dataclass(frozen=True)
class Refused:
    """A sheet sent back: what was wrong, and what the supervisor typed, shown again for them to correct."""

    problem: FieldError | None
    typed: Mapping[str, str]

    @classmethod
    def none(cls) -> Refused:
        return cls(None, {})


def _card_html(card: CallCard, clinic: ClinicSettings, csrf: str, refused: Refused) -> str:
    line = card.line
    facts = [
        ("Когда", _local(line.created_at, clinic, "%d.%m.%Y %H:%M")),
        ("Номер", mask_phone(line.phone)),
        ("Вид", kind_label(line)),
        ("Администратор", line.operator or "—"),
        ("Итог", RESULTS.get(line.result, line.result) + (f": {line.reason}" if line.reason else "")),
        ("Разговор", _duration(line.talk_seconds)),
        ("Оформление", _duration(card.wrap_seconds)),
        ("Следующий шаг", f"{card.follow_up:%d.%m.%Y}" if card.follow_up else "—"),
        ("Комментарий", card.comment or "—"),
    ]
    facts_html = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    day = _local(line.created_at, clinic, "%Y-%m-%d")
    return (
        f'<p><a href="/supervisor/calls?clinic={escape(clinic.id)}&amp;date={day}">'
        "← Журнал звонков</a></p>"
        f"<h1>Звонок {_local(line.created_at, clinic, '%d.%m.%Y %H:%M')}, {escape(mask_phone(line.phone))}</h1>"
        '<div class="call-card">'
        f'<section><h2>Карточка звонка</h2><dl class="facts">{facts_html}</dl>'
        f"<h2>Запись разговора</h2>{_players(card.recordings, clinic)}</section>"
        f"<section><h2>Оценка по чек-листу</h2>"
        f"{_score_form(card, clinic.quality.scorecard, clinic.quality.qa_goal, csrf, refused)}</section>"
        "</div>"
    )


def _players(found: list[Recording], clinic: ClinicSettings) -> str:
    if not found:
        return '<p class="empty">Записи этого разговора нет</p>'
    parts = []
    for rec in found:
        when = _local(rec.started_at, clinic, "%H:%M:%S")
        if not rec.file_name:
            parts.append(f'<p class="muted">{when}: запись ещё сохраняется</p>')
            continue
        notice = "с предупреждением о записи" if rec.announced else "без предупреждения о записи"
        parts.append(
            f'<figure class="recording"><audio controls preload="metadata" src="/recordings/{rec.recording_id}">'
            "</audio>"
            f"<figcaption>{when}, {_duration(rec.seconds)}, {notice} · "
            f'<a href="/recordings/{rec.recording_id}?download=1">Скачать</a></figcaption></figure>'
        )
    return "".join(parts)


def _typed_or_saved(saved: SavedScore | None, refused: Refused) -> dict[str, str]:
    """The form's values: what was just typed if it was sent back, else the saved sheet's."""
    if refused.problem is not None:
        return dict(refused.typed)
    if saved is None:
        return {}
    values = {"comment": saved.sheet.comment}
    for key, item in saved.sheet.items.items():
        values[f"points_{key}"], values[f"comment_{key}"] = str(item.points), item.comment
    return values


def _score_form(
    card: CallCard, scorecard: tuple[Criterion, ...], goal: int, csrf: str, refused: Refused
) -> str:
    saved: SavedScore | None = card.score
    problem = refused.problem
    values = _typed_or_saved(saved, refused)
    status = (
        f'<p class="score-total{" below-goal" if saved.total < goal else ""}">Оценка: <b>{saved.total}</b> из 100 '
        f"(цель — {goal})</p>"
        if saved is not None
        else f'<p class="muted">Звонок ещё не оценён. Цель — {goal} из 100.</p>'
    )
    error = (
        f'<p class="error" role="alert" data-field="{escape(problem.field)}">{escape(problem.message)}</p>'
        if problem
        else ""
    )
    rows = []
    for criterion in scorecard:
        points, comment = (
            values.get(f"points_{criterion.key}", ""),
            values.get(f"comment_{criterion.key}", ""),
        )
        fields = (f"points_{criterion.key}", f"comment_{criterion.key}")
        wrong = " field-wrong" if problem is not None and problem.field in fields else ""
        rows.append(
            f'<tr class="criterion{wrong}"><td>{escape(criterion.label)}</td>'
            f'<td><input type="number" name="points_{criterion.key}" min="0" max="{criterion.points}" '
            f'value="{escape(points)}" required> из {criterion.points}</td>'
            f'<td><input name="comment_{criterion.key}" value="{escape(comment)}" maxlength="2000" '
            f'aria-label="Комментарий: {escape(criterion.label)}"></td></tr>'
        )
    overall = values.get("comment", "")
    return (
        status
        + error
        + f'<form class="scorecard" method="post" action="/supervisor/calls/{card.line.contact_id}/score">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        "<table><thead><tr><th>Критерий</th><th>Баллы</th><th>Комментарий</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<label>Общий комментарий<textarea name="comment" maxlength="2000">{escape(overall)}</textarea></label>'
        '<button type="submit">Сохранить оценку</button></form>'
    )


async def post_score(request: web.Request) -> web.Response:
    ctx = request.app[QUALITY]
    card, clinic = await _held_card(request)
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    try:
        sheet = read_sheet(clinic.quality.scorecard, form)
    except FieldError as problem:
        html = _card_html(card, clinic, csrf_of(request), Refused(problem, form))
        response = page(request, "Звонок", html)
        response.set_status(400)
        return response
    user = user_of(request)
    await ctx.scores.save(
        NewScore(
            clinic_id=clinic.id,
            contact_id=card.line.contact_id,
            user_id=card.line.user_id,
            scored_by=user.user_id,
            sheet=sheet,
            scored_at=ctx.clock.now(),
        )
    )
    await record(request, SCORE, clinic.id, {"contact_id": card.line.contact_id, "total": sheet.total})
    raise web.HTTPSeeOther(f"/supervisor/calls/{card.line.contact_id}")


def add_routes(app: web.Application) -> None:
    supervisors = (Role.SUPERVISOR, Role.ADMIN)
    add_route(app, "GET", "/supervisor/calls", calls_page, allow(*supervisors, scope=Scope.CLINIC))
    # A call names its clinic itself: a call of a clinic the user does not hold is answered as not found.
    add_route(app, "GET", "/supervisor/calls/{contact_id}", card_page, allow(*supervisors, scope=Scope.ROWS))
    add_route(
        app,
        "POST",
        "/supervisor/calls/{contact_id}/score",
        post_score,
        allow(*supervisors, scope=Scope.ROWS, tokens=False),
    )
