"""What the weekly listening reads and writes: the week's calls to draw from, which of them are scored, and
«навык недели», the one skill the senior administrator sets each administrator to work on that week."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Protocol

from dialer.core.listening import ListenCall

MAX_SKILL = 200


class ListeningStore(Protocol):
    async def week_calls(self, clinic_id: str, start: datetime, end: datetime) -> list[ListenCall]:
        """The clinic's contacts between start and end that an administrator had."""
        ...

    async def scored(self, contact_ids: Iterable[int]) -> set[int]:
        """Of these contacts, those with a scorecard."""
        ...


class SkillStore(Protocol):
    async def set_skill(
        self, *, clinic_id: str, user_id: int, week: date, skill: str, set_by: int, at: datetime
    ) -> None:
        """The week's skill for this administrator; a second one that week replaces the first."""
        ...

    async def week_skills(self, clinic_id: str, week: date) -> dict[int, str]:
        """The week's skill of each administrator who has one."""
        ...

    async def own_skills(self, user_id: int, week: date) -> list[tuple[str, str]]:
        """This administrator's skills of the week, as (clinic, skill), for each clinic that set one."""
        ...
