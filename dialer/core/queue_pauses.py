"""The port through which the service holds an administrator out of the queue (Asterisk's member pause)."""

from __future__ import annotations

from typing import Protocol


class QueuePauses(Protocol):
    """Members are named by seat (`QueueState.seat`): the interface headed by its Asterisk's name, so that
    two Asterisks' «PJSIP/101» are paused apart."""

    async def pause(self, seat: str, reason: str) -> None:
        """Pause this member in every queue it is in on its Asterisk, with a reason the queue's status shows.
        Raises TelephonyUnavailable when it cannot."""
        ...

    async def unpause(self, seat: str) -> None:
        """Unpause it in every queue of its Asterisk. Raises TelephonyUnavailable when it cannot."""
        ...

    async def paused_with(self, reason: str) -> set[str]:
        """The seats paused now with this reason (QueueStatus). Raises TelephonyUnavailable."""
        ...
