"""The operator's wrap-up after a call, in the customer's words, validated field by field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import TypeVar

from dialer.core import rows
from dialer.core.errors import BadInput, FieldError
from dialer.core.quality import ComplaintClass

T = TypeVar("T")

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
        "complaint_class",
        "complaint_comment",
    }
)
MAX_COMMENT = 1000


class FormErrors(BadInput):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class MarkedComplaint:
    """A complaint the administrator marked in the wrap-up (class A: quality or safety)."""

    complaint_class: ComplaintClass
    comment: str


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
    complaint: MarkedComplaint | None = None

    @property
    def follow_up(self) -> date | None:
        return self.visit_day if self.result == "booked" else self.call_again_day


class _Reader:
    """Reads the raw form field by field, collecting every FieldError instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw
        self.errors: list[FieldError] = []

    def take(self, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except FieldError as err:
            self.errors.append(err)
            return None

    def text(self, name: str, max_len: int = 200) -> str:
        return self.take(lambda: rows.text(self.raw, name, required=False, max_len=max_len)) or ""

    def day(self, name: str, required: bool = False) -> date | None:
        """A date field, read when it is filled in or when the result needs it."""
        if not (self.raw.get(name) or required):
            return None
        return self.take(lambda: rows.day(self.raw, name))

    def visit_time(self) -> time | None:
        return (
            self.take(lambda: rows.time_of_day(self.raw, "visit_time"))
            if self.raw.get("visit_time")
            else None
        )

    def slots(self) -> tuple[str, ...]:
        slots = self.raw.get("slots", [])
        if not isinstance(slots, list) or not all(isinstance(s, str) and len(s) <= 100 for s in slots):
            self.errors.append(FieldError("slots", "список предложенных времён (строки)"))
            return ()
        return tuple(str(s) for s in slots)[:4]


# The date each result cannot do without: a booking needs the visit, a call-back needs its day.
_DAY_NEEDED: dict[object, str] = {"booked": "visit_date", "call_again": "call_again_date"}


def _refused_reason(reason: str, reasons: Reasons) -> FieldError | None:
    if reason in reasons.refusal:
        return None
    return FieldError("reason", f"причина отказа из списка: {', '.join(reasons.refusal)}")


def _call_again_reason(reason: str, reasons: Reasons) -> FieldError | None:
    return None if reason else FieldError("reason", "укажите причину: " + ", ".join(reasons.call_again))


# How each result checks the reason the operator picked; the other results take any reason or none.
_REASON_CHECKS: dict[object, Callable[[str, Reasons], FieldError | None]] = {
    "refused": _refused_reason,
    "call_again": _call_again_reason,
}


def parse_wrapup(raw: Mapping[str, object], today: date, reasons: Reasons = Reasons()) -> WrapupForm:
    """Every problem is reported, each naming its field; nothing is half-accepted."""
    form = _Reader(raw)
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        form.errors.append(FieldError(unknown[0], f"неизвестные поля {unknown}"))
    result = raw.get("result")
    if result not in RESULTS:
        form.errors.append(FieldError("result", f"выберите результат: {', '.join(RESULTS.values())}"))
    reason = form.text("reason")
    comment = form.text("comment", MAX_COMMENT)
    needed = _DAY_NEEDED.get(result)
    visit_day = form.day("visit_date", required=needed == "visit_date")
    visit_time = form.visit_time()
    again_day = form.day("call_again_date", required=needed == "call_again_date")
    check = _REASON_CHECKS.get(result)
    problem = check(reason, reasons) if check else None
    if problem:
        form.errors.append(problem)
    for name, value in (("visit_date", visit_day), ("call_again_date", again_day)):
        if value is not None and value < today:
            form.errors.append(FieldError(name, "дата в прошлом"))
    slots = form.slots()
    diary_day = form.day("diary_date")
    waiting_doctor = form.text("waiting_doctor")
    waiting_day = form.day("waiting_date")
    diary_comment = form.text("diary_comment", MAX_COMMENT)
    waiting_comment = form.text("waiting_comment", MAX_COMMENT)
    complaint = _complaint(form)
    if form.errors:
        raise FormErrors(form.errors)
    return WrapupForm(
        result=str(result),
        reason=reason,
        comment=comment,
        visit_day=visit_day,
        visit_time=visit_time,
        call_again_day=again_day,
        slots=slots,
        diary_day=diary_day,
        diary_comment=diary_comment,
        waiting_doctor=waiting_doctor or None,
        waiting_day=waiting_day,
        waiting_comment=waiting_comment,
        complaint=complaint,
    )


def _complaint(form: _Reader) -> MarkedComplaint | None:
    """The patient's complaint, when the administrator marked one: its class and what it was about."""
    klass = form.text("complaint_class", 10)
    comment = form.text("complaint_comment", MAX_COMMENT)
    if not klass:
        if comment:
            form.errors.append(FieldError("complaint_class", "выберите класс жалобы: A, B или C"))
        return None
    if klass not in ComplaintClass._value2member_map_:
        form.errors.append(FieldError("complaint_class", "класс жалобы: A, B или C"))
        return None
    if not comment.strip():
        form.errors.append(FieldError("complaint_comment", "опишите жалобу"))
        return None
    return MarkedComplaint(ComplaintClass(klass), comment.strip())
