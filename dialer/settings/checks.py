"""Checks across sections, made once every section is parsed: what no single section can know alone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time

from dialer.campaigns.plan import WindowRule
from dialer.core.errors import ConfigError
from dialer.core.timeutil import format_time_of_day
from dialer.settings.model import (
    CUSTOMER_PLAN,
    SAME_DAY_PLAN,
    ClinicSettings,
    KosSettings,
    Settings,
)

_WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")


@dataclass(frozen=True)
class _Span:
    """One span of local time some setting asks to call in, as the error names it."""

    setting: str
    label: str  # "окно 18:00-22:30", "часы работы «пт 08:00-22:00»"
    start: time
    end: time
    default: bool  # the built-in value, not written in the settings file


def refuse_calls_outside_hours(settings: Settings) -> None:
    """Every calling window and every clinic's opening hours (when callbacks go out) lie within each clinic's
    calling hours: a window reaching into the night is a mistake to fix at start, not a call at 22:20."""
    for index, clinic in enumerate(settings.clinics.values()):
        for span in _spans(settings, clinic, index):
            if not clinic.calling_hours.covers(span.start, span.end):
                raise ConfigError(_message(span, clinic, index))


def _spans(settings: Settings, clinic: ClinicSettings, index: int) -> Iterator[_Span]:
    reminders = settings.reminders
    yield from _windows("campaigns.reminders.windows", reminders.plan.windows, CUSTOMER_PLAN.windows)
    if reminders.same_day is not None:
        yield from _windows(
            "campaigns.reminders.same_day.windows", reminders.same_day.windows, SAME_DAY_PLAN.windows
        )
    kos = settings.kos.window
    default_kos = KosSettings().window
    yield _Span(
        "campaigns.kos.window",
        f"окно {_text(kos.span.start, kos.span.end)}",
        kos.span.start,
        kos.span.end,
        kos.span == default_kos.span,
    )
    defaults = Settings()
    yield from _windows(
        "campaigns.followup.windows", settings.followup.plan.windows, defaults.followup.plan.windows
    )
    yield from _windows(
        "campaigns.survey.windows", settings.survey.plan.windows, defaults.survey.plan.windows
    )
    for day, start, end in clinic.hours.spans:
        label = f"часы работы «{_WEEKDAYS[day - 1]} {_text(start, end)}» (по ним идут перезвоны)"
        yield _Span(f"clinics[{index}].hours", label, start, end, False)


def _windows(
    setting: str, rules: tuple[WindowRule, ...], defaults: tuple[WindowRule, ...]
) -> Iterator[_Span]:
    default = rules == defaults
    for i, rule in enumerate(rules):
        start, end = rule.span.start, rule.span.end
        yield _Span(f"{setting}[{i}]", f"окно {_text(start, end)}", start, end, default)


def _message(span: _Span, clinic: ClinicSettings, index: int) -> str:
    source = " (значение по умолчанию)" if span.default else ""
    name = f" «{clinic.name}»" if clinic.name != clinic.id else ""
    return (
        f"{span.setting}: {span.label}{source} — за пределами часов звонков клиники {clinic.id!r}{name}: "
        f"{clinic.calling_hours} по её времени ({clinic.timezone.key}, clinics[{index}].calling_hours). "
        f"Звонить пациентам можно только в эти часы: исправьте {span.setting} или calling_hours клиники"
    )


def _text(start: time, end: time) -> str:
    return f"{format_time_of_day(start)}-{format_time_of_day(end)}"
