"""What a КОС round's end and an administrator's wrap-up mean for the recall."""

from __future__ import annotations

from datetime import date

from dialer.campaigns.kos import (
    NO_ANSWER_REASON,
    NOBODY_FREE_REASON,
    after_round_nobody_free,
    after_round_unreached,
    after_wrapup,
    round_day,
)
from dialer.core.recalls import NOT_REACHED, RecallStatus
from dialer.core.wrapup import WrapupForm

MONDAY = date(2026, 3, 2)


def test_an_unreached_round_moves_the_date_a_gap_on_from_today_when_it_ran_late() -> None:
    change = after_round_unreached(0, MONDAY, date(2026, 3, 4), max_moves=3, gap_days=7)
    assert change.status is RecallStatus.CALL and change.reason == NO_ANSWER_REASON
    assert change.target_day == date(2026, 3, 11) and change.moves == 1


def test_the_round_after_the_last_move_is_refused_as_not_reached() -> None:
    change = after_round_unreached(3, MONDAY, MONDAY, max_moves=3, gap_days=7)
    assert (change.status, change.reason, change.moves, change.target_day) == (
        RecallStatus.REFUSED,
        NOT_REACHED,
        3,
        None,
    )


def test_a_round_goes_on_today_when_its_day_has_passed() -> None:
    assert round_day(MONDAY, date(2026, 3, 5)) == date(2026, 3, 5)
    assert round_day(date(2026, 3, 9), MONDAY) == date(2026, 3, 9)


def test_wrapups_become_the_journals_statuses() -> None:
    booked = after_wrapup(WrapupForm("booked", "", "ок", visit_day=date(2026, 3, 10)), MONDAY, 7)
    assert booked.status is RecallStatus.BOOKED and booked.booked_day == date(2026, 3, 10)
    refused = after_wrapup(WrapupForm("refused", "дорого", ""), MONDAY, 7)
    assert (refused.status, refused.reason) == (RecallStatus.REFUSED, "дорого")
    again = after_wrapup(WrapupForm("call_again", "", ""), MONDAY, 7)
    assert again.status is RecallStatus.CALL and again.target_day == date(2026, 3, 9)
    assert again.reason and again.moves is None


def test_a_round_answered_while_nobody_was_free_moves_the_date_but_not_the_count() -> None:
    change = after_round_nobody_free(MONDAY, date(2026, 3, 4), gap_days=7)
    assert (change.status, change.reason, change.target_day, change.moves) == (
        RecallStatus.CALL,
        NOBODY_FREE_REASON,
        date(2026, 3, 11),
        None,  # the recall's count of moves stays as it was
    )
