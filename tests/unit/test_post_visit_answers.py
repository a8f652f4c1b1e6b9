"""Which key answers a post-visit call, and which answers need people."""

from __future__ import annotations

from dialer.campaigns.kinds import CampaignKind
from dialer.campaigns.post_visit import asks_to_talk, is_answer, is_low_rating

FOLLOWUP, SURVEY = CampaignKind.FOLLOWUP, CampaignKind.SURVEY


def test_the_follow_up_takes_1_and_2_and_the_survey_1_to_5() -> None:
    assert [d for d in "0123456789*#" if is_answer(FOLLOWUP, d)] == ["1", "2"]
    assert [d for d in "0123456789*#" if is_answer(SURVEY, d)] == ["1", "2", "3", "4", "5"]


def test_talk_to_us_is_the_follow_ups_2_only() -> None:
    assert asks_to_talk(FOLLOWUP, "2") and not asks_to_talk(FOLLOWUP, "1")
    assert not asks_to_talk(SURVEY, "2")


def test_a_low_rating_is_a_survey_answer_at_or_below_the_threshold() -> None:
    assert [d for d in "12345" if is_low_rating(SURVEY, d, 2)] == ["1", "2"]
    assert not is_low_rating(FOLLOWUP, "1", 2)
