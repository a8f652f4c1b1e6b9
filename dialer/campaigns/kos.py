"""КОС (контрольный осмотр): the senior administrator's recall list, worked in rounds of calls an administrator
takes. What a round's end and an administrator's wrap-up mean for the recall, in the journal's words."""

from __future__ import annotations

from datetime import date, timedelta

from dialer.core.recalls import NOT_REACHED, RecallChange, RecallStatus, after_unreached
from dialer.core.wrapup import WrapupForm

NO_ANSWER_REASON = "не берёт трубку"
NO_RESULT_REASON = "просто позвонил без результата"
NOBODY_FREE_REASON = "ответил, но все администраторы были заняты"


def round_day(target_day: date, today: date) -> date:
    """A round not finished on its day (the service was down, the window closed early) goes on today."""
    return max(target_day, today)


def after_round_unreached(
    moves: int, target_day: date, today: date, max_moves: int, gap_days: int
) -> RecallChange:
    """A round of calls that did not reach the patient: the date moves on, or after the last move, Отказ."""
    moved = after_unreached(moves, round_day(target_day, today), max_moves, gap_days or 1)
    if moved.refused:
        return RecallChange(RecallStatus.REFUSED, reason=NOT_REACHED, moves=moved.moves)
    return RecallChange(
        RecallStatus.CALL, reason=NO_ANSWER_REASON, target_day=moved.target_day, moves=moved.moves
    )


def after_round_nobody_free(target_day: date, today: date, gap_days: int) -> RecallChange:
    """A round whose call the patient answered while no administrator was free to take it (they heard the
    apology): the date moves on as after an unanswered round, but the move is the clinic's and does not count
    toward Отказ «не дозвонились»."""
    day = round_day(target_day, today)
    return RecallChange(
        RecallStatus.CALL, reason=NOBODY_FREE_REASON, target_day=day + timedelta(days=gap_days or 1)
    )


def after_wrapup(form: WrapupForm, today: date, gap_days: int) -> RecallChange:
    """The administrator's result of a call that reached the patient."""
    if form.result == "booked":
        return RecallChange(RecallStatus.BOOKED, comment=form.comment, booked_day=form.visit_day)
    if form.result == "refused":
        return RecallChange(RecallStatus.REFUSED, reason=form.reason, comment=form.comment)
    # Звать: the patient was reached, so this is not one of the unanswered rounds; the date is theirs.
    return RecallChange(
        RecallStatus.CALL,
        reason=form.reason or NO_RESULT_REASON,
        comment=form.comment,
        target_day=form.call_again_day or today + timedelta(days=gap_days),
    )
