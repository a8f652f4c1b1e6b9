"""Opening hours as clinic staff write them, and the questions the callback deadline asks of them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.errors import FieldError
from dialer.core.hours import CallingHours, OpeningHours

MSK = ZoneInfo("Europe/Moscow")
OMSK = ZoneInfo("Asia/Omsk")
CLINIC = OpeningHours.parse(["пн-пт 08:00-20:00", "сб 09:00-15:00"])


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the week of 2026-11-23 (Monday = 23) in Moscow."""
    return datetime(2026, 11, 22 + day, hour, minute, tzinfo=MSK)


def test_russian_day_names_and_ranges() -> None:
    assert CLINIC.spans == (
        *((d, time(8), time(20)) for d in range(1, 6)),
        (6, time(9), time(15)),
    )


def test_english_day_names_mixed_case_and_lists() -> None:
    hours = OpeningHours.parse(["Mon-Fri 08:00-20:00", "SAT,sun 10:00-14:00"])
    assert hours == OpeningHours.parse(["пн-пт 08:00-20:00", "сб,вс 10:00-14:00"])
    assert OpeningHours.parse(["ПН-ПТ 08:00-20:00"]) == OpeningHours.parse(["пн-пт 08:00-20:00"])


def test_a_single_day_and_seconds_and_the_end_of_the_day() -> None:
    hours = OpeningHours.parse(["ср 08:30:15-24:00"])
    assert hours.spans == ((3, time(8, 30, 15), time(23, 59, 59, 999999)),)
    assert hours.is_open(msk(3, 23, 59), MSK)
    assert not hours.is_open(msk(4, 0, 0), MSK)


def test_a_range_over_the_weekend_wraps_around() -> None:
    hours = OpeningHours.parse(["пт-пн 10:00-18:00"])
    assert sorted(d for d, _, _ in hours.spans) == [1, 5, 6, 7]
    assert OpeningHours.parse(["сб-вт 10:00-18:00"]).spans == tuple(
        (d, time(10), time(18)) for d in (6, 7, 1, 2)
    )


@pytest.mark.parametrize(
    "line",
    [
        "пн-пт",  # no times
        "пн-пт 08:00",  # no end
        "пн-пт 8-20",  # not ЧЧ:ММ
        "пн-пт 08:00-25:00",
        "пн-пт 20:00-08:00",  # the end before the start
        "пн-пт 08:00-08:00",
        "xx 08:00-20:00",  # not a day
        "пн-xx 08:00-20:00",
        "понедельник 08:00-20:00",
        "",
        "08:00-20:00",
    ],
)
def test_bad_lines_raise_a_field_error_naming_the_field(line: str) -> None:
    with pytest.raises(FieldError) as err:
        OpeningHours.parse(["пн-пт 08:00-20:00", line], field="clinics[0].hours")
    assert err.value.field == "clinics[0].hours"
    assert str(err.value).startswith("clinics[0].hours: ")


def test_is_open_on_each_side_of_the_edges() -> None:
    assert not CLINIC.is_open(msk(1, 7, 59), MSK)
    assert CLINIC.is_open(msk(1, 8, 0), MSK)
    assert CLINIC.is_open(msk(5, 19, 59), MSK)
    assert not CLINIC.is_open(msk(5, 20, 0), MSK)  # the end is not open
    assert CLINIC.is_open(msk(6, 9, 0), MSK)
    assert not CLINIC.is_open(msk(6, 15, 0), MSK)
    assert not CLINIC.is_open(msk(7, 12, 0), MSK)  # Sunday


def test_is_open_reads_the_clinics_own_zone() -> None:
    # 03:30 UTC on a Monday is 09:30 in Omsk (open) and 06:30 in Moscow (closed).
    instant = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)
    assert CLINIC.is_open(instant, OMSK)
    assert not CLINIC.is_open(instant, MSK)
    # 17:30 UTC on a Friday is 20:30 in Moscow (closed), and 23:30 in Omsk: Friday still, closed too.
    assert not CLINIC.is_open(datetime(2026, 11, 27, 17, 30, tzinfo=UTC), MSK)
    # 16:30 UTC on a Friday is 19:30 in Moscow (open) but 22:30 in Omsk (closed).
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    assert CLINIC.is_open(friday, MSK) and not CLINIC.is_open(friday, OMSK)


def test_next_opening_when_open_is_now() -> None:
    now = msk(2, 12, 0)
    assert CLINIC.next_opening(now, MSK) == now


def test_next_opening_across_midnight() -> None:
    assert CLINIC.next_opening(msk(2, 21, 0), MSK) == msk(3, 8, 0)
    assert CLINIC.next_opening(msk(3, 0, 30), MSK) == msk(3, 8, 0)
    assert CLINIC.next_opening(msk(3, 7, 59), MSK) == msk(3, 8, 0)


def test_next_opening_across_the_weekend() -> None:
    assert CLINIC.next_opening(msk(5, 20, 0), MSK) == msk(6, 9, 0)  # Friday night: Saturday's short day
    assert CLINIC.next_opening(msk(6, 15, 0), MSK) == msk(8, 8, 0)  # Saturday afternoon: Monday
    assert CLINIC.next_opening(msk(7, 12, 0), MSK) == msk(8, 8, 0)  # Sunday
    weekdays = OpeningHours.parse(["mon-fri 08:00-20:00"])
    assert weekdays.next_opening(msk(5, 20, 30), MSK) == msk(8, 8, 0)


def test_next_opening_is_in_the_clinics_zone_from_a_utc_instant() -> None:
    # Friday 15:00 UTC is 21:00 in Omsk: it opens on Saturday at 09:00 Omsk = 03:00 UTC.
    opening = CLINIC.next_opening(datetime(2026, 11, 27, 15, 0, tzinfo=UTC), OMSK)
    assert opening == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def test_a_lunch_break_opens_again_the_same_day() -> None:
    hours = OpeningHours.parse(["пн-пт 08:00-13:00", "пн-пт 14:00-20:00"])
    assert not hours.is_open(msk(1, 13, 30), MSK)
    assert hours.next_opening(msk(1, 13, 30), MSK) == msk(1, 14, 0)
    assert hours.closing(msk(1, 9, 0), MSK) == msk(1, 13, 0)
    assert hours.closing(msk(1, 15, 0), MSK) == msk(1, 20, 0)


def test_closing() -> None:
    assert CLINIC.closing(msk(1, 9, 0), MSK) == msk(1, 20, 0)
    assert CLINIC.closing(msk(6, 9, 0), MSK) == msk(6, 15, 0)
    assert CLINIC.closing(msk(1, 21, 0), MSK) is None  # closed
    assert CLINIC.closing(msk(7, 12, 0), MSK) is None


def test_empty_hours_are_always_open() -> None:
    always = OpeningHours.parse([])
    assert always == OpeningHours()
    for instant in (msk(1, 3, 0), msk(7, 23, 59), datetime(2026, 12, 31, 23, 59, tzinfo=UTC)):
        assert always.is_open(instant, MSK)
        assert always.next_opening(instant, MSK) == instant
        assert always.closing(instant, MSK) is None


@given(
    minutes=st.integers(0, 14 * 24 * 60),
    zone=st.sampled_from([MSK, OMSK, ZoneInfo("Asia/Vladivostok"), ZoneInfo("Europe/Kaliningrad")]),
)
@settings(max_examples=200, deadline=None)
def test_next_opening_is_open_and_nothing_earlier_is(minutes: int, zone: ZoneInfo) -> None:
    instant = datetime(2026, 11, 23, tzinfo=UTC) + timedelta(minutes=minutes)
    opening = CLINIC.next_opening(instant, zone)
    assert opening >= instant
    assert CLINIC.is_open(opening, zone)
    assert opening - instant < timedelta(days=3)
    # Closed all the way to the opening (checked each 10 minutes).
    probe = instant
    while probe < opening - timedelta(minutes=10):
        assert not CLINIC.is_open(probe, zone)
        probe += timedelta(minutes=10)
    closing = CLINIC.closing(opening, zone)
    assert closing is not None and closing > opening


# Cut to the calling hours: when a callback may go out ------------------------------------------------------


def test_always_open_means_open_every_day_for_the_calling_hours() -> None:
    hours = OpeningHours().within(CallingHours())
    assert hours.spans == tuple((d, time(8), time(21)) for d in range(1, 8))
    assert not hours.is_open(msk(7, 3), MSK) and hours.is_open(msk(7, 8), MSK)


def test_opening_hours_are_cut_to_the_calling_hours() -> None:
    hours = OpeningHours.parse(["пн-пт 07:00-22:00", "сб 22:00-23:00", "вс 10:00-14:00"])
    cut = hours.within(CallingHours(time(9), time(21)))
    assert cut.spans == (
        *((d, time(9), time(21)) for d in range(1, 6)),
        (7, time(10), time(14)),
    )


def test_opening_hours_wholly_outside_the_calling_hours_leave_the_calling_hours() -> None:
    """Refused at start; hours made at run time could still say so, and a night is no time to call back."""
    cut = OpeningHours.parse(["пн-вс 22:00-23:00"]).within(CallingHours())
    assert cut == OpeningHours().within(CallingHours())


def test_the_first_allowed_moment() -> None:
    hours = CallingHours()
    assert hours.first_allowed(msk(2, 7), msk(2, 12), MSK) == msk(2, 8)
    assert hours.first_allowed(msk(2, 9), msk(2, 12), MSK) == msk(2, 9)
    assert hours.first_allowed(msk(2, 20, 59), msk(2, 23), MSK) == msk(2, 20, 59)
    assert hours.first_allowed(msk(2, 21), msk(3, 8), MSK) is None  # the end is not included
    assert hours.first_allowed(msk(2, 21), msk(3, 8, 1), MSK) == msk(3, 8)
    assert hours.first_allowed(msk(2, 10), msk(2, 10), MSK) is None
    assert hours.first_allowed(msk(2, 2), msk(2, 12), OMSK) == msk(2, 5)  # 08:00 in Omsk
