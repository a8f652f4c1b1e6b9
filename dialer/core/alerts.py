"""Overload alerts for the senior administrator, raised once and cleared once, never flapping.

An alert is raised the moment its condition holds, and cleared only once the condition has stayed false
for `clear_after`: a queue that dips to two callers for a second does not clear and re-raise the alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class AlertKind(StrEnum):
    WAITING = "waiting"  # too many callers waiting
    LONG_WAIT = "long_wait"  # someone waits too long
    MISSED_RATE = "missed_rate"  # too many misses over the last 15 minutes
    CALLBACK_AT_RISK = "callback_at_risk"  # a callback is due soon and nobody is free
    LOW_RATING = "low_rating"  # a patient rated a visit low in the survey (raised by the survey itself)
    COMPLAINT = "complaint"  # a class A complaint marked in a wrap-up (raised by the wrap-up itself)

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    AlertKind.WAITING: "много звонящих в очереди",
    AlertKind.LONG_WAIT: "долгое ожидание ответа",
    AlertKind.MISSED_RATE: "много пропущенных за 15 минут",
    AlertKind.CALLBACK_AT_RISK: "перезвон вот-вот опоздает, свободных администраторов нет",
    AlertKind.LOW_RATING: "низкая оценка визита",
    AlertKind.COMPLAINT: "жалоба класса A (качество/безопасность)",
}

# Alerts that are news rather than a condition: nothing clears them, the board shows them for a while.
NEWS_KINDS = frozenset({AlertKind.LOW_RATING, AlertKind.COMPLAINT})


@dataclass(frozen=True)
class AlertRow:
    """A stored alert still up (not cleared)."""

    alert_id: int
    clinic_id: str
    kind: AlertKind
    raised_at: datetime
    detail: str


@dataclass(frozen=True)
class Limits:
    waiting_callers: int
    longest_wait: timedelta
    missed_percent: float
    min_calls: int
    clear_after: timedelta


@dataclass(frozen=True)
class Observation:
    waiting: int
    longest_wait: float
    calls_15m: int
    missed_15m: int
    callback_at_risk: int  # callbacks due within the limit with no administrator free


@dataclass(frozen=True)
class Change:
    kind: AlertKind
    raised: bool  # True: raised now; False: cleared now
    detail: str


def conditions(obs: Observation, limits: Limits) -> dict[AlertKind, str | None]:
    """For each kind, a description when its condition holds now, else None."""
    missed_pct = 100.0 * obs.missed_15m / obs.calls_15m if obs.calls_15m else 0.0
    return {
        AlertKind.WAITING: f"в очереди {obs.waiting}" if obs.waiting > limits.waiting_callers else None,
        AlertKind.LONG_WAIT: (
            f"ждёт {obs.longest_wait:.0f} с"
            if obs.longest_wait > limits.longest_wait.total_seconds()
            else None
        ),
        AlertKind.MISSED_RATE: (
            f"пропущено {obs.missed_15m} из {obs.calls_15m} ({missed_pct:.0f}%)"
            if obs.calls_15m >= limits.min_calls and missed_pct > limits.missed_percent
            else None
        ),
        AlertKind.CALLBACK_AT_RISK: (
            f"перезвонов под угрозой: {obs.callback_at_risk}" if obs.callback_at_risk else None
        ),
    }


@dataclass
class AlertBook:
    """Which alerts are up, and since when each one's condition has been false."""

    limits: Limits
    active: dict[AlertKind, datetime] = field(default_factory=dict)
    calm_since: dict[AlertKind, datetime] = field(default_factory=dict)

    def update(self, obs: Observation, now: datetime) -> list[Change]:
        changes: list[Change] = []
        for kind, detail in conditions(obs, self.limits).items():
            if detail is not None:
                self.calm_since.pop(kind, None)
                if kind not in self.active:
                    self.active[kind] = now
                    changes.append(Change(kind, True, detail))
            elif kind in self.active:
                calm = self.calm_since.setdefault(kind, now)
                if now - calm >= self.limits.clear_after:
                    del self.active[kind]
                    del self.calm_since[kind]
                    changes.append(Change(kind, False, "норма восстановлена"))
        return changes
