"""The clinic day benchmark's pure parts: the hourly load and its capacity verdict, the day's callers, and the
world's figures read from Asterisk's and the carrier's events."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from bench.clinic_day import parser
from bench.day.measure import day_figures, outside_hours
from bench.day.nodes import Node, rss_course
from bench.day.profile import DAY_CALLS, HOURLY_SHARE, TALK_REAL, erlang_c, hour_loads
from bench.day.report import rss_lines
from bench.day.run import TAKEOVER_S, DayDriver, DayRun, clinic_clock
from bench.day.traffic import DayTraffic, Window, generate_day
from dialer.sandbox import Sandbox
from dialer.sandbox.layout import ENV_DIR, ENV_PORT, SandboxLayout, repo_config_dir
from dialer.sandbox.sandbox import AmiCredentials
from dialer.settings.load import load_settings


def test_erlang_c_matches_the_textbook_and_is_certain_at_capacity() -> None:
    assert erlang_c(2.0, 3) == pytest.approx(4 / 9)
    assert erlang_c(5.0, 5) == 1.0
    assert erlang_c(0.0, 5) == 0.0


def test_the_seeds_day_is_beyond_five_administrators_and_short_talks_are_not() -> None:
    assert sum(HOURLY_SHARE.values()) == pytest.approx(1.0)
    seed = hour_loads(DAY_CALLS, 5, TALK_REAL)
    assert not any(load.in_capacity for load in seed)  # 1,000 calls of 5-7 min need more than 5 people
    short = hour_loads(DAY_CALLS, 5, (30.0, 50.0))
    assert all(load.in_capacity for load in short)


def test_the_day_follows_the_hours_and_replays_from_its_seed() -> None:
    day = generate_day(Window(9, 11), 1.0, 5, TALK_REAL, 6.0, seed=3)
    again = generate_day(Window(9, 11), 1.0, 5, TALK_REAL, 6.0, seed=3)
    assert day.traffic.callers == again.traffic.callers
    ats = [c.at for c in day.traffic.callers]
    assert ats == sorted(ats) and ats[0] >= 0 and ats[-1] <= 2 * 3600 / 6
    for caller in day.traffic.callers:
        hour = day.hour_of[caller.index]
        assert (hour - 9) * 600 <= caller.at <= (hour - 8) * 600
    # About 120 calls an hour at full scale; a Poisson count stays within a few of its root of that.
    assert 200 <= len(day.traffic.callers) <= 280
    with pytest.raises(ValueError, match="outside the clinic's day"):
        Window(7, 9)


def _run(
    events: list[dict[str, str]],
    carrier: list[dict[str, str]],
    tasks: list[dict[str, object]],
    stopped: float = 1.0,
) -> DayRun:
    return DayRun(
        t0=0.0, stopped=stopped, offset_s=0.0, zone="UTC", events=[(0.0, e) for e in events],
        carrier_events=[(0.0, e) for e in carrier], calls=[], tasks=tasks, attempts=[], killed_at=None,
        back_at=None, standby="", rss_growth_mb=0.0, rss_samples=0,
    )  # fmt: skip


def _small_day() -> DayTraffic:
    return generate_day(Window(10, 11), 0.05, 5, TALK_REAL, 6.0, seed=1)


def test_a_missed_caller_rung_in_time_counts_and_one_rung_late_or_twice_does_not() -> None:
    day = _small_day()
    first, second = day.traffic.callers[:2]
    attempt = "abcd1234:callback:1:1"
    events = [
        {"Event": "Newchannel", "Uniqueid": attempt, "Timestamp": "100.0"},
        {"Event": "Newchannel", "Uniqueid": attempt + ";2", "Timestamp": "100.1"},
        {"Event": "Newchannel", "Uniqueid": attempt, "Timestamp": "300.0"},  # the same attempt again
    ]
    carrier = [
        {"Event": "Hangup", "Uniqueid": f"peak-dead-{first.index:05d}", "Timestamp": "90.0"},
        {"Event": "Hangup", "Uniqueid": f"peak-dead-{second.index:05d}", "Timestamp": "90.0"},
        {
            "Event": "Newchannel",
            "Uniqueid": "x1",
            "Channel": "PJSIP/c-1",
            "Exten": first.digits,
            "Timestamp": "150",
        },
        # 15 min at x6 is 150 s: the second caller's phone rings 1 s too late.
        {
            "Event": "Newchannel",
            "Uniqueid": "x2",
            "Channel": "PJSIP/c-2",
            "Exten": second.digits,
            "Timestamp": "241",
        },
    ]
    tasks: list[dict[str, object]] = [{"phone": "+" + first.digits, "state": "open", "contacted_at": None}]
    figures = day_figures(_run(events, carrier, tasks), day, hour_loads(DAY_CALLS, 5, TALK_REAL))
    assert (figures.missed, figures.reached_in_15) == (2, 1)
    assert figures.callbacks_in_15min == 0.5
    assert figures.double_dials == 1 and figures.originates == 2
    assert figures.lost_detail["missed call without a callback task"] == 1
    assert math.isnan(figures.in_capacity_share)  # the seed's talks: no hour is in capacity


def test_an_originate_after_nine_in_the_evening_is_outside_hours() -> None:
    evening = 1_764_000_000.0 - 1_764_000_000.0 % 86400 + 20 * 3600 + 59 * 60  # 20:59 UTC
    placed = [(evening, "a"), (evening + 61.0, "b"), (evening - 13 * 3600, "c")]
    assert outside_hours(placed, 0.0, "UTC") == 2


def test_each_node_runs_on_one_database_with_a_short_takeover_and_reads_asterisks_queue_log(
    tmp_path: Path,
) -> None:
    layout = SandboxLayout(tmp_path / "sandbox", repo_config_dir(), 5999)
    creds = AmiCredentials("127.0.0.1", 5999, "dialer", "secret")
    url = "postgresql+asyncpg://bench@127.0.0.1:5432/clinic_day"
    driver = DayDriver(
        _small_day(), creds, Sandbox(layout), tmp_path, database_url=url, nodes=2, kill_at=60.0
    )
    path = tmp_path / "dialer.toml"
    path.write_text(driver._config(clinic_clock(3600.0), 8080), encoding="utf-8")
    settings = load_settings(path, {ENV_DIR: str(layout.base), ENV_PORT: "5999"})
    assert settings.service.database_url == url
    assert settings.service.takeover == timedelta(seconds=TAKEOVER_S) < timedelta(seconds=10)
    assert settings.inbound.queue_log == str(layout.root / "var/log/asterisk/queue_log")


def test_two_nodes_are_the_default_and_one_is_a_choice() -> None:
    assert parser().parse_args([]).nodes == 2
    assert parser().parse_args(["--nodes", "1"]).nodes == 1
    with pytest.raises(SystemExit):
        parser().parse_args(["--nodes", "3"])


@pytest.mark.parametrize(("answered_at", "lost"), [(400.0, 1), (500.5, 0)])
def test_a_callback_answered_but_not_recorded_is_lost_unless_it_was_answered_after_the_run_stopped(
    answered_at: float, lost: int
) -> None:
    day = _small_day()
    caller = day.traffic.callers[0]
    carrier = [
        {
            "Event": "Newchannel",
            "Uniqueid": "x1",
            "Channel": "PJSIP/c-1",
            "Exten": caller.digits,
            "Timestamp": "398",
        },
        {
            "Event": "Newstate",
            "Channel": "PJSIP/c-1",
            "ChannelStateDesc": "Up",
            "Timestamp": str(answered_at),
        },
    ]
    tasks: list[dict[str, object]] = [{"phone": "+" + caller.digits, "state": "open", "contacted_at": None}]
    figures = day_figures(_run([], carrier, tasks, stopped=500.0), day, hour_loads(DAY_CALLS, 5, TALK_REAL))
    assert figures.lost_detail["answered callback not recorded as contact"] == lost


def test_each_processs_memory_is_shown_by_quarters_with_the_growth_of_its_last_half() -> None:
    leader, standby = (Node(name, Path(name), Path("c"), 0, {}) for name in ("a", "b"))
    t0 = 1000.0
    leader.rss = [(t0 + s, 11, 100.0 + s / 10) for s in range(0, 401)]  # grows all its life: 40 MB
    standby.rss = [(t0 + s, 12, 90.0 if s < 200 else 120.0) for s in range(0, 801)]  # one step at takeover
    course = rss_course([leader, standby], t0, until=t0 + 800)
    assert [(p["node"], p["pid"], len(p["samples"])) for p in course] == [("a", 11, 41), ("b", 12, 81)]
    run = DayRun(
        t0=t0, stopped=t0 + 800, offset_s=0.0, zone="Asia/Omsk", events=[], carrier_events=[], calls=[],
        tasks=[], attempts=[], killed_at=None, back_at=None, standby="", rss_growth_mb=0.0, rss_samples=0,
        rss_course=course,
    )  # fmt: skip
    assert rss_lines(run) == [
        "    a (pid 11), 0-400 s: 100 → 110 → 120 → 130 → 140 MB; last half +20.0 MB",
        "    b (pid 12), 0-800 s: 90 → 120 → 120 → 120 → 120 MB; last half +0.0 MB",
    ]
