"""Complaints marked in the wrap-up (§9 of the checklist): where they are kept, and the senior administrator's
message about a class A one (quality or safety), which carries nothing medical and no patient's name."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from dialer.core.quality import ComplaintClass


class ComplaintStore(Protocol):
    async def add(
        self,
        *,
        clinic_id: str,
        call_ref: str,
        user_id: int,
        complaint_class: ComplaintClass,
        comment: str,
        at: datetime,
    ) -> int:
        """Keep the complaint, linked to the administrator's contact for this call; its id."""
        ...

    async def claim_alert(self, complaint_id: int, at: datetime) -> bool:
        """Mark the complaint as told to the senior administrator; False when it was told before."""
        ...


def alert_text(clinic_name: str, complaint_id: int, administrator: str) -> str:
    """The SMS and board line about a class A complaint: the clinic, the number, whose call; the details stay in
    the service, where the senior administrator reads them."""
    return (
        f"{clinic_name}: жалоба класса A (качество/безопасность) №{complaint_id}, "
        f"звонок администратора {administrator}"
    )
