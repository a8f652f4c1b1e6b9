"""The operator's wrap-up after a call, in the customer's words, validated field by field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time

from dialer.core import rows
from dialer.core.errors import BadInput, FieldError

RESULTS = {
    "booked": "Записан",
    "call_again": "Звать / перезвонить",
    "refused": "Отказ",
    "no_result": "Просто позвонил без результата",
}
REFUSAL_REASONS = (
    "дорого",
    "нет времени",
    "лечится в другой клинике",
    "уже не нужно",
    "не устроил врач",
    "не устроило время",
    "другое",
)
CALL_AGAIN_REASONS = (
    "не берёт трубку",
    "хочет подумать",
    "не знает, когда удобно",
    "просил перезвонить",
    "другое",
)


@dataclass(frozen=True)
class Reasons:
    """The clinic's lists of reasons the administrator picks from: why a patient refused, why to call again."""

    refusal: tuple[str, ...] = REFUSAL_REASONS
    call_again: tuple[str, ...] = CALL_AGAIN_REASONS


FIELDS = frozenset(
    {
        "result",
        "visit_date",
        "visit_time",
        "call_again_date",
        "reason",
        "comment",
        "slots",
        "diary_date",
        "diary_comment",
        "waiting_doctor",
        "waiting_date",
        "waiting_comment",
    }
)
MAX_COMMENT = 1000


class FormErrors(BadInput):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class WrapupForm:
    result: str
    reason: str
    comment: str
    visit_day: date | None = None
    visit_time: time | None = None
    call_again_day: date | None = None
    slots: tuple[str, ...] = ()
    diary_day: date | None = None
    diary_comment: str = ""
    waiting_doctor: str | None = None
    waiting_day: date | None = None
    waiting_comment: str = ""

    @property
    def follow_up(self) -> date | None:
        return self.visit_day if self.result == "booked" else self.call_again_day


def parse_wrapup(raw: Mapping[str, object], today: date, reasons: Reasons = Reasons()) -> WrapupForm:
    """Every problem is reported, each naming its field; nothing is half-accepted."""
    errors: list[FieldError] = []

    def take(parse: object) -> object:
        try:
            return parse() if callable(parse) else parse
        except FieldError as err:
            errors.append(err)
            return None

    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        errors.append(FieldError(unknown[0], f"неизвестные поля {unknown}"))
    result = raw.get("result")
    if result not in RESULTS:
        errors.append(FieldError("result", f"выберите результат: {', '.join(RESULTS.values())}"))
    reason = take(lambda: rows.text(raw, "reason", required=False))
    comment = take(lambda: rows.text(raw, "comment", required=False, max_len=MAX_COMMENT))
    visit_day = (
        take(lambda: rows.day(raw, "visit_date")) if raw.get("visit_date") or result == "booked" else None
    )
    visit_time = take(lambda: rows.time_of_day(raw, "visit_time")) if raw.get("visit_time") else None
    again_day = (
        take(lambda: rows.day(raw, "call_again_date"))
        if raw.get("call_again_date") or result == "call_again"
        else None
    )
    if result == "refused" and reason not in reasons.refusal:
        errors.append(FieldError("reason", f"причина отказа из списка: {', '.join(reasons.refusal)}"))
    if result == "call_again" and not reason:
        errors.append(FieldError("reason", "укажите причину: " + ", ".join(reasons.call_again)))
    for name, value in (("visit_date", visit_day), ("call_again_date", again_day)):
        if isinstance(value, date) and value < today:
            errors.append(FieldError(name, "дата в прошлом"))
    slots_raw = raw.get("slots", [])
    if not isinstance(slots_raw, list) or not all(isinstance(s, str) and len(s) <= 100 for s in slots_raw):
        errors.append(FieldError("slots", "список предложенных времён (строки)"))
        slots_raw = []
    diary_day = take(lambda: rows.day(raw, "diary_date")) if raw.get("diary_date") else None
    waiting_doctor = take(lambda: rows.text(raw, "waiting_doctor", required=False)) or None
    waiting_day = take(lambda: rows.day(raw, "waiting_date")) if raw.get("waiting_date") else None
    diary_comment = take(lambda: rows.text(raw, "diary_comment", required=False, max_len=MAX_COMMENT))
    waiting_comment = take(lambda: rows.text(raw, "waiting_comment", required=False, max_len=MAX_COMMENT))
    if errors:
        raise FormErrors(errors)
    return WrapupForm(
        result=str(result),
        reason=str(reason or ""),
        comment=str(comment or ""),
        visit_day=visit_day if isinstance(visit_day, date) else None,
        visit_time=visit_time if isinstance(visit_time, time) else None,
        call_again_day=again_day if isinstance(again_day, date) else None,
        slots=tuple(str(s) for s in slots_raw)[:4],
        diary_day=diary_day if isinstance(diary_day, date) else None,
        diary_comment=str(diary_comment or ""),
        waiting_doctor=str(waiting_doctor) if waiting_doctor else None,
        waiting_day=waiting_day if isinstance(waiting_day, date) else None,
        waiting_comment=str(waiting_comment or ""),
    )
