"""The port through which the service holds an administrator out of the queue (Asterisk's member pause)."""

from __future__ import annotations

from typing import Protocol


class QueuePauses(Protocol):
    async def pause(self, interface: str, reason: str) -> None:
        """Pause this member in every queue it is in, with a reason the queue's status shows.
        Raises TelephonyUnavailable when it cannot."""
        ...

    async def unpause(self, interface: str) -> None:
        """Unpause it in every queue. Raises TelephonyUnavailable when it cannot."""
        ...

    async def paused_with(self, reason: str) -> set[str]:
        """The members paused now with this reason (QueueStatus). Raises TelephonyUnavailable."""
        ...
