"""The LIKE patterns by which a report counts one campaign's calls from their ids alone."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from dialer.campaigns.kinds import CampaignKind
from dialer.core.ids import AttemptId


def like(text: str, pattern: str) -> bool:
    """SQL LIKE as both databases read these patterns: % is any run of characters, the rest is itself."""
    return (
        re.fullmatch(".*".join(re.escape(part) for part in pattern.split("%")), text, re.DOTALL) is not None
    )


@given(
    campaign=st.sampled_from(list(CampaignKind)),
    asked=st.sampled_from(list(CampaignKind)),
    target=st.integers(min_value=1, max_value=10**9),
    n=st.integers(min_value=1, max_value=99),
    # As storage/installation.py makes them (8 hex digits, no campaign's name), or none on an older id.
    installation=st.one_of(st.just(""), st.text("0123456789abcdef", min_size=8, max_size=8)),
)
def test_an_attempt_matches_the_patterns_of_its_own_campaign_only(
    campaign: CampaignKind, asked: CampaignKind, target: int, n: int, installation: str
) -> None:
    text = str(AttemptId(campaign, target, n, installation))
    matched = any(like(text, p) for p in AttemptId.like_campaign(asked))
    assert matched == (campaign == asked), text


def test_the_patterns_hold_no_wildcard_but_percent() -> None:
    for campaign in CampaignKind:
        for pattern in AttemptId.like_campaign(campaign):
            assert "_" not in pattern.replace(campaign, "")
            assert "\\" not in pattern
