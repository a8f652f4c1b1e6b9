"""Why a patient did not come to a visit: the reasons in the clinic's words, read from the clinic's export or
recorded by the senior administrator, and the week's count of them for the weekly meeting."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

MAX_COMMENT = 500


class NoShowReason(StrEnum):
    FORGOT = "forgot"
    ILL = "ill"
    BUSY = "busy"
    CHANGED_MIND = "changed_mind"
    OTHER_CLINIC = "other_clinic"
    UNREACHED = "unreached"
    RESCHEDULED = "rescheduled"
    OTHER = "other"

    @property
    def label(self) -> str:
        return REASON_LABELS[self]


REASON_LABELS = {
    NoShowReason.FORGOT: "забыл о приёме",
    NoShowReason.ILL: "заболел / плохое самочувствие",
    NoShowReason.BUSY: "работа или дела",
    NoShowReason.CHANGED_MIND: "дорого / передумал",
    NoShowReason.OTHER_CLINIC: "лечится в другой клинике",
    NoShowReason.UNREACHED: "не дозвонились",
    NoShowReason.RESCHEDULED: "перенёс на другой день",
    NoShowReason.OTHER: "другое",
}
UNKNOWN_LABEL = "не выяснена"


class NoShowSource(StrEnum):
    IMPORT = "import"  # the clinic's own system, in the appointments file
    STAFF = "staff"  # the senior administrator, on the no-show page


def _key(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split()).strip(" .,;!")


# Short words clinics' exports and administrators write for the same reasons (compared after `_key`).
_ALIASES = {
    NoShowReason.FORGOT: ("забыл", "забыла", "забыли", "forgot"),
    NoShowReason.ILL: ("заболел", "заболела", "болеет", "болезнь", "плохое самочувствие", "ill", "sick"),
    NoShowReason.BUSY: ("работа", "дела", "занят", "занята", "работа или дела", "busy", "work"),
    NoShowReason.CHANGED_MIND: ("дорого", "передумал", "передумала", "changed_mind"),
    NoShowReason.OTHER_CLINIC: ("другая клиника", "в другой клинике", "other_clinic"),
    NoShowReason.UNREACHED: ("не дозвонились", "недозвон", "unreached"),
    NoShowReason.RESCHEDULED: (
        "перенос",
        "перенес",
        "перенесла",
        "перезаписан",
        "перезаписана",
        "rescheduled",
    ),
    NoShowReason.OTHER: ("другое", "other"),
}
_BY_TEXT = {
    **{_key(word): reason for reason, words in _ALIASES.items() for word in words},
    **{_key(reason.label): reason for reason in NoShowReason},
    **{reason.value: reason for reason in NoShowReason},
}


@dataclass(frozen=True)
class NoShowNote:
    """A reason with the free comment that goes with it (may be empty)."""

    reason: NoShowReason
    comment: str = ""


def squeeze(raw: str) -> str:
    """Free text on one line, single-spaced."""
    return " ".join(raw.split())


def clean_comment(raw: str) -> str:
    """The clinic's text as a comment: a longer one is cut rather than costing the visit its import."""
    return squeeze(raw)[:MAX_COMMENT]


def note_from_text(raw: str) -> NoShowNote | None:
    """The clinic's free text read as a reason: a label or a short word of the list, or "reason: comment";
    anything else is «другое» with the text kept as its comment. None for an empty cell."""
    text = clean_comment(raw)
    if not text:
        return None
    whole = _BY_TEXT.get(_key(text))
    if whole is not None:
        return NoShowNote(whole)
    head, colon, rest = text.partition(":")
    if colon and (reason := _BY_TEXT.get(_key(head))) is not None:
        return NoShowNote(reason, rest.strip())
    return NoShowNote(NoShowReason.OTHER, text)


def parse_reason(raw: str) -> NoShowReason | None:
    """A form's value: one of the list's codes exactly, else None."""
    try:
        return NoShowReason(raw.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class NoShowRow:
    """A visit the patient did not come to, its reminder's outcome and, when known, why."""

    appointment_id: str
    visit_at: datetime
    doctor: str
    specialty: str
    reminder_status: str
    reminder_digit: str | None
    reason: NoShowReason | None = None
    comment: str = ""
    source: NoShowSource | None = None
    recorded_by: int | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class ReasonTally:
    """The week's no-shows counted by reason, for the weekly meeting."""

    total: int
    known: int
    counts: tuple[tuple[NoShowReason, int], ...]  # most frequent first; reasons nobody gave left out

    @property
    def known_pct(self) -> float | None:
        return round(100.0 * self.known / self.total, 1) if self.total else None


def tally(rows: Sequence[NoShowRow]) -> ReasonTally:
    counted = Counter(r.reason for r in rows if r.reason is not None)
    order = list(NoShowReason)
    ranked = sorted(counted.items(), key=lambda item: (-item[1], order.index(item[0])))
    return ReasonTally(total=len(rows), known=sum(counted.values()), counts=tuple(ranked))


class NoShowStore(Protocol):
    async def week(self, clinic_id: str, first_day: date, days: int) -> list[NoShowRow]: ...

    async def record(
        self, clinic_id: str, appointment_id: str, note: NoShowNote, user_id: int | None, at: datetime
    ) -> bool: ...
