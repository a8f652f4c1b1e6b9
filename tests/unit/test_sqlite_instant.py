"""The fast paths store an instant on SQLite as the very text SQLAlchemy's UtcDateTime stores, so that rows
from both paths compare, sort and read back alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from dialer.storage.schema import attempts
from dialer.storage.types import sqlite_instant

DIALECT = sqlite.dialect()
SQLALCHEMY_TEXT = attempts.c.created_at.type.dialect_impl(DIALECT).bind_processor(DIALECT)
ZONES = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(min_value=-23 * 60, max_value=23 * 60)
)


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=ZONES))
def test_the_text_is_sqlalchemys(at: datetime) -> None:
    assert SQLALCHEMY_TEXT is not None
    assert sqlite_instant(at) == SQLALCHEMY_TEXT(at)


def test_whole_seconds_keep_their_microseconds() -> None:
    assert sqlite_instant(datetime(2026, 12, 5, 9, 0, tzinfo=UTC)) == "2026-12-05 09:00:00.000000"


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_instant(datetime(2026, 12, 5, 9, 0))
