"""The HTML pages, in Russian, the customer's words. Every value that comes from data is escaped."""

from __future__ import annotations

from html import escape

from dialer.core.staff import Role, UserRow


def layout(
    title: str,
    body: str,
    *,
    user: UserRow | None = None,
    csrf: str = "",
    scripts: tuple[str, ...] = (),
    nav: str = "",
) -> str:
    who = ""
    if user is not None:
        who = (
            f'<div class="who"><span>{escape(user.display_name)}</span> · <span>{user.role.label}</span>'
            f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<button class="link">Выйти</button></form></div>'
        )
    tags = "".join(
        f'<script src="/static/{escape(s)}" defer></script>' for s in ("common.js", *scripts) if scripts
    )
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} — dialer</title><link rel="stylesheet" href="/static/app.css">'
        f'<meta name="csrf" content="{escape(csrf)}">{tags}</head>'
        f'<body><header><a class="brand" href="/">dialer</a>{nav}{who}</header><main>{body}</main></body></html>'
    )


def login_html(csrf: str, next_url: str, error: str) -> str:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        '<form class="login" method="post" action="/login">'
        "<h1>Вход</h1>"
        f"{message}"
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
        '<label>Имя пользователя<input name="username" autocomplete="username" required maxlength="64"></label>'
        '<label>Пароль<input name="password" type="password" autocomplete="current-password" required></label>'
        '<button type="submit">Войти</button></form>'
    )
    return layout("Вход", body)


def operator_html(user: UserRow, csrf: str) -> str:
    phones = ", ".join(escape(i) for i in user.interfaces) or "телефон не назначен"
    body = (
        f'<section class="operator" data-user="{escape(user.username)}">'
        f'<p class="muted">Ваш телефон: {phones}. <span id="link" class="link-state">подключение…</span></p>'
        '<div id="cards" aria-live="polite">'
        '<p class="empty">Звонков нет. Карточка появится, когда зазвонит телефон.</p></div>'
        "</section>"
    )
    return layout("Звонки", body, user=user, csrf=csrf, scripts=("operator.js",), nav=nav(user))


def supervisor_html(user: UserRow, csrf: str, clinics: list[tuple[str, str]]) -> str:
    options = "".join(f'<option value="{escape(c)}">{escape(n)}</option>' for c, n in clinics)
    body = (
        '<section class="supervisor">'
        f'<div class="toolbar"><label>Клиника <select id="clinic">{options}</select></label>'
        '<span id="link" class="link-state">подключение…</span></div>'
        '<div id="alerts"></div>'
        '<div class="tiles" id="tiles"></div>'
        '<div class="columns"><div><h2>Перезвоны</h2><table class="tasks" id="callbacks"></table></div>'
        '<div><h2>Администраторы</h2><table id="admins"></table></div></div>'
        '<h2>Сегодня по часам</h2><div id="charts"></div>'
        '<h2>Напоминания</h2><div id="campaign"></div>'
        "</section>"
    )
    return layout(
        "Старший администратор", body, user=user, csrf=csrf, scripts=("supervisor.js",), nav=nav(user)
    )


def nav(user: UserRow) -> str:
    if user.role == Role.OPERATOR:
        return '<nav><a href="/operator">Звонки</a></nav>'
    return (
        '<nav><a href="/supervisor">Сейчас</a><a href="/supervisor/report">Отчёт</a>'
        '<a href="/supervisor/missed">Пропущенные</a><a href="/supervisor/unreached">Не дозвонились</a>'
        '<a href="/supervisor/noshow">Неявки</a>'
        '<a href="/supervisor/calls">Звонки</a><a href="/supervisor/quality">Оценка</a>'
        '<a href="/supervisor/listening">Прослушка недели</a>'
        '<a href="/supervisor/audit">Журнал</a></nav>'
    )


def table(headers: list[str], rows: list[list[str]], empty: str = "Нет данных") -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def filters(
    action: str, fields: list[tuple[str, str, str, list[tuple[str, str]] | None]], csv: str = ""
) -> str:
    """A GET form of filters: (name, label, value, options or None for a text/date input)."""
    parts = []
    for name, label, value, options in fields:
        if options is None:
            kind = "date" if name == "date" else "text"
            parts.append(
                f'<label>{escape(label)} <input type="{kind}" name="{escape(name)}" value="{escape(value)}"></label>'
            )
        else:
            opts = "".join(
                f'<option value="{escape(v)}"{" selected" if v == value else ""}>{escape(t)}</option>'
                for v, t in options
            )
            parts.append(f'<label>{escape(label)} <select name="{escape(name)}">{opts}</select></label>')
    link = f' <a class="button" href="{escape(csv)}">Скачать CSV</a>' if csv else ""
    return (
        f'<form class="filters" method="get" action="{escape(action)}">{"".join(parts)}'
        f"<button>Показать</button>{link}</form>"
    )
