"""What the supervisor's call log and scoring read and write, and the stores (ports) that hold them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from dialer.core.scoring import ScoredCall, ScoreSheet

KINDS: dict[str, str] = {
    "in": "Входящий",
    "out": "Мы звоним",
    "kos": "КОС",
    "diary": "ЕЖ.",
}
# The journal's flags for the kinds that are flags rather than a direction.
KIND_FLAGS: dict[str, str] = {"kos": "КОС", "diary": "ЕЖ."}


@dataclass(frozen=True)
class CallQuery:
    """The call log's filters: one clinic, a span of time, and optionally who, what kind, result and length."""

    clinic_id: str
    start: datetime
    end: datetime
    user_id: int | None = None
    kind: str | None = None  # a key of KINDS
    result: str | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    recorded: bool | None = None  # only calls with a recording (True), or only those without (False)
    scored: bool | None = None  # only scored calls (True), or only those still to score (False)
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class CallLine:
    """One call of the log: the journal's contact, with its recordings counted and its score if scored."""

    contact_id: int
    clinic_id: str
    created_at: datetime
    phone: str
    direction: str
    flags: str
    user_id: int | None
    operator: str  # the administrator's display name, "" when unknown
    result: str
    reason: str
    talk_seconds: float | None
    recordings: int
    score: int | None


@dataclass(frozen=True)
class CallPage:
    lines: list[CallLine]
    total: int  # how many calls match the filters, over every page


@dataclass(frozen=True)
class Recording:
    recording_id: int
    clinic_id: str
    call_ref: str
    kind: str
    user_id: int | None
    file_name: str  # relative to the service's recordings folder; "" while Asterisk is still writing it
    seconds: float | None
    size: int | None
    announced: bool
    started_at: datetime
    phone: str = ""  # the patient's number, to be masked wherever it is shown


@dataclass(frozen=True)
class SavedScore:
    sheet: ScoreSheet
    total: int
    scored_by: int | None
    scored_at: datetime


@dataclass(frozen=True)
class CallCard:
    """What the journal knows about one call, its recordings and its scorecard if it has one."""

    line: CallLine
    call_ref: str
    comment: str
    wrap_seconds: float | None
    follow_up: date | None
    recordings: list[Recording]
    score: SavedScore | None


@dataclass(frozen=True)
class NewScore:
    clinic_id: str
    contact_id: int
    user_id: int | None  # the administrator whose call it was
    scored_by: int
    sheet: ScoreSheet
    scored_at: datetime


class CallLogStore(Protocol):
    async def calls(self, query: CallQuery) -> CallPage: ...

    async def card(self, contact_id: int) -> CallCard | None:
        """The call whatever its clinic: the caller checks that the user holds it."""
        ...

    async def recording(self, recording_id: int) -> Recording | None: ...

    async def own_recordings(
        self, clinic_ids: list[str], user_id: int, since: datetime, limit: int
    ) -> list[Recording]:
        """The saved recordings of this administrator's own conversations since `since`, the newest first."""
        ...

    async def operators(self, clinic_id: str) -> list[tuple[int, str]]:
        """The administrators who have calls in this clinic's journal: (user id, display name)."""
        ...


class ScoreStore(Protocol):
    async def save(self, score: NewScore) -> None:
        """Keep this scorecard as the call's only one (a rescore replaces the earlier)."""
        ...

    async def scores_of_calls(self, clinic_id: str, start: datetime, end: datetime) -> list[ScoredCall]:
        """The scores of the calls made between start and end, whenever they were scored."""
        ...

    async def names(self, clinic_id: str) -> dict[int, str]:
        """The display names of the administrators who have scored calls in this clinic."""
        ...
