"""Where the hours of a clinic's day begin, for the board's hourly sums."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.core.sla_sums import hour_starts

DAY = date(2026, 12, 3)


def test_a_day_has_its_hours_where_the_clinic_sees_them() -> None:
    kolkata = hour_starts(DAY, ZoneInfo("Asia/Kolkata"))
    assert [h.hour for h in kolkata] == list(range(24))
    assert kolkata[1].at == datetime(2026, 12, 2, 19, 30, tzinfo=UTC)
    # The clocks go forward on 29 March 2026 in Berlin: 02:00 never comes; back on 25 October: 02:00 twice.
    spring = hour_starts(date(2026, 3, 29), ZoneInfo("Europe/Berlin"))
    assert [h.hour for h in spring] == [0, 1, *range(3, 24)]
    autumn = hour_starts(date(2026, 10, 25), ZoneInfo("Europe/Berlin"))
    assert [h.hour for h in autumn] == list(range(24))
    assert autumn[3].at - autumn[2].at == timedelta(hours=2)
