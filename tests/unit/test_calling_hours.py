"""A clinic's calling hours: the setting, and the start refused for any window that reaches outside them.

The incident behind them: a clinic in Europe/Moscow whose windows were set at 22:20 local got its reminder calls
at 22:22-22:25. Calls to patients are not made at night; a window that says otherwise is a mistake in the
settings, refused at start with a message that names the setting, the window, the clinic and the hours.
"""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path

import pytest

from dialer.core.errors import ConfigError
from dialer.core.hours import CallingHours
from dialer.settings import Settings, load_settings, parse_settings

REPO = Path(__file__).resolve().parents[2]
CLINIC = '[[clinics]]\nid = "center"\nname = "Улыбка"\ntimezone = "Europe/Moscow"\n'


def parse(text: str) -> Settings:
    return parse_settings(tomllib.loads(text))


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse(text)
    return str(err.value)


# The setting ------------------------------------------------------------------------------------------------


def test_by_default_a_clinic_calls_from_8_to_21_its_own_time() -> None:
    clinic = parse(CLINIC).clinic("center")
    assert (clinic.calling_hours.start, clinic.calling_hours.end) == (time(8), time(21))


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("09:00-20:30", time(9), time(20, 30)),
        (" 08:30 - 21:00 ", time(8, 30), time(21)),
        ("07:00-24:00", time(7), time(23, 59, 59, 999999)),
        (
            "00:00-24:00",
            time(0),
            time(23, 59, 59, 999999),
        ),  # the whole day: for a test bench, not for patients
        ("08:00:30-21:00", time(8, 0, 30), time(21)),
    ],
)
def test_a_clinic_sets_its_own_calling_hours(text: str, start: time, end: time) -> None:
    clinic = parse(f'{CLINIC}calling_hours = "{text}"').clinic("center")
    assert clinic.calling_hours == CallingHours(start, end)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"21:00-08:00"', "конец не позже начала"),  # inverted: a night span is not calling hours
        ('"09:00-09:00"', "конец не позже начала"),  # empty
        ('"08:00"', "не промежуток времени"),
        ('""', "не промежуток времени"),
        ('"8-21"', "не время суток"),
        ('"08:00-25:00"', "время вне суток"),
        ('"с 8 до 21"', "не промежуток времени"),
        ('"8 утра-9 вечера"', "не время суток"),
        ("8", "нужна строка"),
        ('["08:00", "21:00"]', "нужна строка"),
    ],
)
def test_bad_calling_hours_are_refused_by_name(value: str, why: str) -> None:
    message = refused(f"{CLINIC}calling_hours = {value}")
    assert message.startswith("clinics[0].calling_hours: ")
    assert why in message


def test_each_clinic_has_its_own_calling_hours() -> None:
    s = parse(
        f'{CLINIC}calling_hours = "09:00-21:00"\n[[clinics]]\nid = "east"\ntimezone = "Asia/Vladivostok"\n'
    )
    assert s.clinic("center").calling_hours == CallingHours(time(9), time(21))
    assert s.clinic("east").calling_hours == CallingHours()


def test_the_shipped_configs_load_within_the_hours() -> None:
    example = load_settings(REPO / "config" / "dialer.example.toml", env={})
    assert example.clinic("center").calling_hours == CallingHours(time(8), time(21))
    load_settings(REPO / "config" / "demo.toml", env={})


# The start refused: one case per kind of window -------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "setting", "window"),
    [
        (
            '[campaigns.reminders]\nwindows = [{ start = "11:00", end = "16:00", attempts = 2 },'
            ' { start = "18:00", end = "22:30", attempts = 1 }]',
            "campaigns.reminders.windows[1]",
            "окно 18:00-22:30",
        ),
        (
            '[campaigns.reminders]\nsame_day = { windows = [{ start = "07:30", end = "11:00" }] }',
            "campaigns.reminders.same_day.windows[0]",
            "окно 07:30-11:00",
        ),
        (
            '[campaigns.kos]\nwindow = { start = "10:00", end = "21:30", min_gap = "2h" }',
            "campaigns.kos.window",
            "окно 10:00-21:30",
        ),
        (
            '[campaigns.followup]\nwindows = [{ start = "20:00", end = "24:00" }]',
            "campaigns.followup.windows[0]",
            "окно 20:00-24:00",
        ),
        (
            '[campaigns.survey]\nwindows = [{ start = "05:00", end = "09:00" }]',
            "campaigns.survey.windows[0]",
            "окно 05:00-09:00",
        ),
    ],
)
def test_a_window_reaching_outside_the_calling_hours_is_refused(
    section: str, setting: str, window: str
) -> None:
    message = refused(f"{CLINIC}\n{section}")
    assert message.startswith(f"{setting}: {window} ")
    assert "'center'" in message and "«Улыбка»" in message
    assert "08:00-21:00" in message and "Europe/Moscow" in message and "clinics[0].calling_hours" in message


def test_opening_hours_reaching_outside_the_calling_hours_are_refused() -> None:
    """Callbacks go out in the opening hours: a clinic open until 22:00 would call back at 21:50."""
    message = refused(f'{CLINIC}hours = ["пн-пт 08:00-20:00", "сб 09:00-22:00"]')
    assert message.startswith("clinics[0].hours: ")
    assert "сб 09:00-22:00" in message and "'center'" in message and "08:00-21:00" in message


def test_the_incident_a_reminder_window_at_22_20_moscow_is_refused() -> None:
    message = refused(f'{CLINIC}[campaigns.reminders]\nwindows = [{{ start = "22:20", end = "22:30" }}]')
    assert "campaigns.reminders.windows[0]: окно 22:20-22:30" in message


def test_narrower_calling_hours_refuse_the_built_in_windows_and_say_so() -> None:
    message = refused(f'{CLINIC}calling_hours = "12:00-17:00"')
    assert message.startswith("campaigns.reminders.windows[0]: окно 11:00-16:00 (значение по умолчанию)")
    assert "12:00-17:00" in message


def test_every_clinic_is_checked_against_its_own_hours() -> None:
    text = (
        f"{CLINIC}"
        '[[clinics]]\nid = "late"\ntimezone = "Asia/Omsk"\ncalling_hours = "09:00-21:00"\n'
        '[campaigns.reminders]\nsame_day = { windows = [{ start = "08:30", end = "11:00" }] }\n'
    )
    message = refused(text)
    assert message.startswith("campaigns.reminders.same_day.windows[0]: окно 08:30-11:00")
    assert "'late'" in message and "09:00-21:00" in message and "clinics[1].calling_hours" in message


def test_windows_on_the_edges_of_the_hours_are_accepted() -> None:
    s = parse(
        f'{CLINIC}calling_hours = "08:00-24:00"\n'
        '[campaigns.reminders]\nwindows = [{ start = "08:00", end = "24:00" }]\n'
        '[campaigns.kos]\nwindow = { start = "08:00", end = "24:00" }\n'
    )
    assert s.kos.window.span.end == time(23, 59, 59, 999999)
    parse(
        f'{CLINIC}hours = ["пн-вс 08:00-21:00"]\n'
        '[campaigns.reminders]\nwindows = [{ start = "20:00", end = "21:00" }]'
    )


def test_without_clinics_there_is_nothing_to_check() -> None:
    parse('[campaigns.reminders]\nwindows = [{ start = "22:20", end = "22:30" }]')
