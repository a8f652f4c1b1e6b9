"""Attempt ids and SMS keys read back from text, as Asterisk's events and the database give them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.core.errors import DialerError
from dialer.core.ids import AttemptId, SmsKey


@given(
    campaign=st.sampled_from(["reminders", "kos", "callback"]),
    target=st.integers(min_value=0, max_value=10**12),
    n=st.integers(min_value=0, max_value=999),
    installation=st.one_of(st.just(""), st.text("0123456789abcdef", min_size=8, max_size=8)),
)
def test_an_attempt_id_reads_back_as_itself_every_time(
    campaign: str, target: int, n: int, installation: str
) -> None:
    made = AttemptId(campaign, target, n, installation)
    assert AttemptId.parse(str(made)) == made
    assert AttemptId.try_parse(str(made)) == made  # read again: the same answer


@pytest.mark.parametrize(
    "text",
    [
        "1764748800.1",
        "",
        "reminders:17",
        "reminders:²:1",
        "reminders:17:٣",
        "3f9a0c1d:reminders:x:2",
        ":17:2",
    ],
)
def test_what_is_no_attempt_id_is_refused_with_a_clear_error_every_time(text: str) -> None:
    """Asterisk's own Uniqueids and garbage alike: never a ValueError out of the AMI intake ("²" is a digit to
    str.isdigit and no number to int)."""
    for _ in range(2):
        assert AttemptId.try_parse(text) is None
        with pytest.raises(DialerError, match="not an attempt id"):
            AttemptId.parse(text)


def test_an_sms_key_with_a_digit_that_is_no_number_is_refused() -> None:
    assert SmsKey.parse("sms:reminders:17:not_reached") == SmsKey("reminders", 17, "not_reached")
    with pytest.raises(DialerError, match="not an SMS key"):
        SmsKey.parse("sms:reminders:²:not_reached")


@given(text=st.text(max_size=40))
def test_any_text_is_an_attempt_id_or_none_never_an_exception(text: str) -> None:
    parsed = AttemptId.try_parse(text)
    assert parsed is None or AttemptId.parse(str(parsed)) == parsed
