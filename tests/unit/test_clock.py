"""The clocks: waiting through FakeClock, the rehearsal clock's shift, and the clinic morning the demo and the
tests are played at, for every quarter-hour of the host's day and in any host zone."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench.lib.clinic import ClinicTime
from dialer.core.calendar import RUSSIAN_ZONES, WorkCalendar, working_morning
from dialer.core.clock import FakeClock, RehearsalClock
from dialer.demo import DEMO_CONFIG, compressed_settings
from dialer.settings import load_settings

START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


async def test_sleepers_wake_in_order_at_their_own_deadlines() -> None:
    clock = FakeClock(START)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("late", 900), ("early", 60), ("mid", 300))]
    await clock.run_for(timedelta(minutes=10))
    assert woke == [("early", 60), ("mid", 300)]
    assert clock.now() == START + timedelta(minutes=10)
    await clock.run_for(300)
    assert woke[-1] == ("late", 900)
    await asyncio.gather(*tasks)


async def test_wait_for_returns_on_the_event_or_on_the_timeout() -> None:
    clock = FakeClock(START)
    event = asyncio.Event()
    timed_out = asyncio.create_task(clock.wait_for(event, 5))
    await clock.run_for(5)
    assert timed_out.done() and timed_out.result() is False
    woken = asyncio.create_task(clock.wait_for(event, 5))
    await clock.settle()
    event.set()
    await clock.settle()
    assert woken.done() and woken.result() is True
    assert clock.sleepers == 0  # the timer of the wait that the event ended is gone


async def test_sleep_until_an_instant() -> None:
    clock = FakeClock(START)
    task = asyncio.create_task(clock.sleep_until(START + timedelta(hours=2)))
    await clock.run_for(timedelta(hours=1, minutes=59))
    assert not task.done()
    await clock.run_for(60)
    assert task.done()


def test_the_rehearsal_clock_reads_the_chosen_instant_and_then_runs() -> None:
    host = datetime(2026, 12, 2, 19, 30, tzinfo=UTC)
    clinic = datetime(2026, 12, 3, 11, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    clock = RehearsalClock.reading(clinic, at_host_time=host)
    assert clock.offset == clinic - host
    assert abs((clock.now() - (datetime.now(UTC) + (clinic - host))).total_seconds()) < 1


QUARTERS = [timedelta(minutes=15 * i) for i in range(96)]
HOST_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kamchatka", "Pacific/Kiritimati")


@pytest.mark.parametrize("host_zone", HOST_ZONES)
def test_the_demo_morning_works_at_every_quarter_hour_in_any_host_zone(host_zone: str) -> None:
    base = load_settings(DEMO_CONFIG, env={})
    clinic = base.clinic("demo")
    hours_seen = set()
    for day in (date(2026, 12, 2), date(2026, 3, 29), date(2026, 10, 25), date(2026, 12, 31)):
        for quarter in QUARTERS:
            host_now = (datetime.combine(day, time(0), ZoneInfo(host_zone)) + quarter).astimezone(UTC)
            settings = compressed_settings(base, host_now)
            start = settings.rehearsal.clinic_time
            assert start is not None and settings.rehearsal.at_host_time == host_now
            local = start.astimezone(clinic.timezone)
            assert local.time() == time(11, 0) and clinic.calendar.is_open(local.date())
            assert local.date() >= host_now.astimezone(clinic.timezone).date()
            assert clinic.timezone.key == "Europe/Moscow"  # the clinic keeps its own zone
            windows = settings.reminders.plan.windows
            assert all(time(9) <= w.span.start < w.span.end <= time(21) for w in windows)
            hours_seen.add(host_now.hour)
    assert hours_seen == set(range(24))


@pytest.mark.parametrize("zone", RUSSIAN_ZONES)
def test_the_tests_clinic_morning_works_at_every_quarter_hour(zone: str) -> None:
    tz = ZoneInfo(zone)
    calendar = WorkCalendar()  # with Russia's days off, the harder case
    for day in (date(2026, 12, 2), date(2026, 12, 31), date(2027, 1, 1)):
        for quarter in QUARTERS:
            host_now = datetime.combine(day, time(0), UTC) + quarter
            start = working_morning(host_now, tz, calendar)
            local = start.astimezone(tz)
            assert local.time() == time(11, 0)
            assert calendar.is_open(local.date())
            assert timedelta(0) <= local.date() - host_now.astimezone(tz).date() < timedelta(days=14)


def test_the_tests_clinic_time_section_puts_the_service_on_the_same_clock(tmp_path: Path) -> None:
    moment = ClinicTime.morning("Asia/Omsk")
    config = tmp_path / "dialer.toml"
    config.write_text(moment.rehearsal(), encoding="utf-8")
    settings = load_settings(config, env={})
    assert settings.rehearsal.clinic_time == moment.start
    clock = RehearsalClock.reading(settings.rehearsal.clinic_time, settings.rehearsal.at_host_time)
    assert abs((clock.now() - moment.now()).total_seconds()) < 1
    assert moment.local_now().hour == 11


def test_a_production_config_cannot_set_the_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dialer.core.clock import SystemClock
    from dialer.core.errors import ConfigError
    from dialer.environment import clock_for

    monkeypatch.setenv("DIALER_SANDBOX_DIR", str(tmp_path / "no-sandbox"))
    moment = ClinicTime.morning()
    config = tmp_path / "dialer.toml"
    ami = '[ami]\nhost = "10.0.0.5"\nsecret = "a-long-production-secret"\n'
    config.write_text(ami, encoding="utf-8")
    assert isinstance(clock_for(load_settings(config, env={})), SystemClock)
    config.write_text(ami + moment.rehearsal(), encoding="utf-8")
    with pytest.raises(ConfigError, match="rehearsal"):
        clock_for(load_settings(config, env={}))
    config.write_text(moment.rehearsal(), encoding="utf-8")  # no [ami] host: the sandbox
    assert isinstance(clock_for(load_settings(config, env={})), RehearsalClock)
