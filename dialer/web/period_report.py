"""The end-of-day report of the checklist (§14) for a day or a week: its figures, each against the shift's goal
(§0) where the checklist gives one."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from dialer.core.sla import Figures
from dialer.core.supervision import DayMetrics
from dialer.settings import ClinicSettings

MISSED_GOAL_PCT = 8.0  # the checklist: missed calls 5–8 %; above 8 % the goal is missed
CALLBACK_GOAL_PCT = 100.0  # the checklist: every missed call called back within 15 minutes


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"

    @property
    def label(self) -> str:
        return {"day": "день", "week": "неделя"}[self.value]

    @property
    def title_word(self) -> str:
        """The period as «Отчёт за …» names it."""
        return {"day": "день", "week": "неделю"}[self.value]

    def first_day(self, day: date) -> date:
        """A week is Monday to Sunday, the one the chosen day is in."""
        return day - timedelta(days=day.weekday()) if self is Period.WEEK else day

    @property
    def days(self) -> int:
        return 7 if self is Period.WEEK else 1

    def bounds(self, clinic: ClinicSettings, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first_day(day), time(0), clinic.timezone)
        return start, start + timedelta(days=self.days)

    def heading(self, day: date) -> str:
        first = self.first_day(day)
        if self is Period.DAY:
            return f"{first:%d.%m.%Y}"
        return f"{first:%d.%m}–{first + timedelta(days=6):%d.%m.%Y}"


REPORT_ROWS = (
    ("contacts", "Обращений"),
    ("bookings", "Записей"),
    ("conversion_pct", "Конверсия обращение→запись, %"),
    ("confirmations", "Подтверждений сделано"),
    ("machines", "Автоответчик: звонков"),
    ("no_show", "No-show (не пришли)"),
    ("no_show_pct", "No-show, %"),
    ("missed", "Пропусков"),
    ("missed_pct", "Пропусков, %"),
    ("callback_in_deadline_pct", "Перезвон ≤ 15 мин, %"),
    ("aht_seconds", "Средняя длительность разговора (AHT), с"),
    ("acw_seconds", "Оформление после звонка (ACW), с"),
    ("complaints_a", "Жалобы A (качество/безопасность)"),
    ("complaints_b", "Жалобы B"),
    ("complaints_c", "Жалобы C"),
    ("qa_average", "QA-балл по скоркарду, среднее"),
    ("qa_scored", "Оценено звонков"),
    ("calls", "Входящих звонков"),
    ("answered_in_target_pct", "Отвечено за 20 с, %"),
    ("breaches", "Нарушений срока перезвона"),
)


@dataclass(frozen=True)
class Goal:
    text: str
    met: bool | None  # None: nothing to judge in the period


@dataclass(frozen=True)
class DayReport:
    """The report of one clinic (or one administrator) for a day or a week: the journal's figures, the quality
    figures and the service level, with the shift's goals."""

    metrics: DayMetrics
    sla: Figures
    qa_goal: int

    def figures(self) -> dict[str, object]:
        sla = {
            "missed": self.sla.missed,
            "missed_pct": self.sla.missed_pct,
            "callback_in_deadline_pct": self.sla.first_attempt_in_deadline_pct,
            "calls": self.sla.calls,
            "answered_in_target_pct": self.sla.answered_in_target_pct,
            "breaches": self.sla.breaches,
        }
        return asdict(self.metrics) | sla

    def cells(self) -> list[str]:
        """The report's figures in the order of REPORT_ROWS, as the page's table and the CSV show them."""
        figures = self.figures()
        return [_cell(figures[key]) for key, _ in REPORT_ROWS]

    def goals(self) -> dict[str, Goal]:
        """The checklist's goals (§0) for the figures it sets one for."""
        m, s = self.metrics, self.sla
        return {
            "missed_pct": Goal(
                f"≤ {MISSED_GOAL_PCT:g} %", s.missed_pct <= MISSED_GOAL_PCT if s.calls else None
            ),
            "callback_in_deadline_pct": Goal(
                "все ≤ 15 мин",
                s.first_attempt_in_deadline_pct >= CALLBACK_GOAL_PCT if s.callbacks else None,
            ),
            "qa_average": Goal(
                f"≥ {self.qa_goal}", m.qa_average >= self.qa_goal if m.qa_average is not None else None
            ),
        }

    def goal_cells(self) -> list[tuple[str, str]]:
        """Per row of REPORT_ROWS: the goal's text and whether it is met ("да", "нет", or "" with no goal)."""
        goals = self.goals()
        out = []
        for key, _ in REPORT_ROWS:
            goal = goals.get(key)
            if goal is None:
                out.append(("", ""))
            else:
                out.append((goal.text, {True: "да", False: "нет", None: "—"}[goal.met]))
        return out


def _cell(value: object) -> str:
    return "—" if value is None else str(value)
