"""Pausing and unpausing queue members over AMI (QueuePause; the manager user needs `write = agent`)."""

from __future__ import annotations

from dialer.ami.connection import AmiActionError, AmiConnection, AmiLinkLost
from dialer.core.ports import TelephonyUnavailable


class AmiQueuePauses:
    def __init__(self, connection: AmiConnection) -> None:
        self.connection = connection

    async def _set(self, interface: str, paused: bool, reason: str) -> None:
        fields = {"Action": "QueuePause", "Interface": interface, "Paused": "true" if paused else "false"}
        if reason:
            fields["Reason"] = reason
        try:
            await self.connection.action(fields, timeout=5.0)
        except (AmiActionError, AmiLinkLost, TimeoutError) as err:
            raise TelephonyUnavailable(str(err)) from None

    async def pause(self, interface: str, reason: str) -> None:
        await self._set(interface, True, reason)

    async def unpause(self, interface: str) -> None:
        await self._set(interface, False, "")

    async def paused_with(self, reason: str) -> set[str]:
        try:
            reply = await self.connection.action({"Action": "QueueStatus"}, as_list=True, timeout=15.0)
        except (AmiLinkLost, AmiActionError, TimeoutError) as err:
            raise TelephonyUnavailable(str(err)) from None
        return {
            str(item.get("Location", ""))
            for item in reply
            if item.get("Event") == "QueueMember"
            and str(item.get("Paused", "")) == "1"
            and str(item.get("PausedReason", "")) == reason
        }
