"""Tells this installation's calls from everyone else's on a shared PBX, by their Uniqueid (the attempt id)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from dialer.core.ids import AttemptId


@dataclass(frozen=True)
class OurAttempts:
    """An attempt is ours when its id names this installation and one of the campaigns it runs."""

    installation: str
    campaigns: Collection[str]

    def campaign_of(self, uniqueid: str) -> str | None:
        parsed = AttemptId.try_parse(uniqueid)
        if (
            parsed is None
            or parsed.installation != self.installation
            or parsed.campaign not in self.campaigns
        ):
            return None
        return parsed.campaign

    def is_ours(self, uniqueid: str) -> bool:
        return self.campaign_of(uniqueid) is not None
