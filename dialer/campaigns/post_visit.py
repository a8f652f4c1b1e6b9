"""The post-visit IVR calls: the follow-up N days after a visit ("press 1 if all is well, 2 to talk to us") and
the 1-5 survey. Which key answers which call, and which answers need people."""

from __future__ import annotations

from dialer.campaigns.kinds import CampaignKind

# The dialplan context each call plays (config/asterisk).
DIALPLAN_CONTEXTS = {CampaignKind.FOLLOWUP: "dialer-followup", CampaignKind.SURVEY: "dialer-survey"}
TALK_TO_US = "2"
TALK_TO_US_COMMENT = "После визита: пациент просит связаться (опрос самочувствия)"


def is_answer(kind: str, digit: str) -> bool:
    """A key that answers the call's question; any other key leaves the call unanswered."""
    if kind == CampaignKind.FOLLOWUP:
        return digit in ("1", "2")
    return digit in "12345"


def asks_to_talk(kind: str, digit: str) -> bool:
    """The follow-up's "talk to us": a diary call for the administrators, today."""
    return kind == CampaignKind.FOLLOWUP and digit == TALK_TO_US


def is_low_rating(kind: str, digit: str, low_rating: int) -> bool:
    """A survey rating at or below the clinic's threshold: an alert to the senior administrator."""
    return kind == CampaignKind.SURVEY and digit.isdigit() and int(digit) <= low_rating


def low_rating_detail(digit: str, subject: str) -> str:
    return f"оценка {digit} из 5, запись {subject}"
