"""Call quality as the clinic's administrator checklist defines it: the 100-point scorecard, its goal, and the
classes of complaints.

The scorecard's eight criteria and their points are the checklist's (§11); a clinic may weigh them differently,
as long as they still add up to 100. Complaint classes are the checklist's (§9, §14): A is quality or safety and
is escalated at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dialer.core.errors import FieldError

QA_GOAL = 85  # the shift's goal: a scorecard of at least 85 of 100
SCORECARD_TOTAL = 100


@dataclass(frozen=True)
class Criterion:
    key: str
    label: str
    points: int  # the most a call can get for it


CRITERIA: tuple[Criterion, ...] = (
    Criterion("greeting", "Приветствие/имя пациента", 10),
    Criterion("need", "Выявление потребности", 15),
    Criterion("solution", "Решение (услуга/врач)", 15),
    Criterion("presentation", "Презентация клиники и врача", 10),
    Criterion("slots", "Два конкретных слота", 15),
    Criterion("objections", "Работа с возражениями", 15),
    Criterion("summary", "Итог/подготовка/правила отмен", 10),
    Criterion("crm", "Запись в CRM + следующий шаг", 10),
)
CRITERION_KEYS: tuple[str, ...] = tuple(c.key for c in CRITERIA)


def scorecard(weights: dict[str, int] | None = None) -> tuple[Criterion, ...]:
    """The clinic's scorecard: the checklist's criteria with the clinic's own points, which must add up to 100."""
    if not weights:
        return CRITERIA
    unknown = sorted(set(weights) - set(CRITERION_KEYS))
    if unknown:
        raise FieldError("weights", f"неизвестные критерии {unknown}; есть {list(CRITERION_KEYS)}")
    card = tuple(Criterion(c.key, c.label, weights.get(c.key, c.points)) for c in CRITERIA)
    total = sum(c.points for c in card)
    if total != SCORECARD_TOTAL:
        raise FieldError("weights", f"сумма баллов должна быть {SCORECARD_TOTAL}, а не {total}")
    return card


class ComplaintClass(StrEnum):
    A = "A"  # quality or safety: the senior administrator is alerted at once
    B = "B"
    C = "C"


COMPLAINT_LABELS: dict[ComplaintClass, str] = {
    ComplaintClass.A: "A — качество/безопасность",
    ComplaintClass.B: "B",
    ComplaintClass.C: "C",
}
