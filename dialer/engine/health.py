"""What the monitoring's health check reads: the link, the calls in the air, the due tasks (counts only)."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.core.health import HealthView
from dialer.core.ports import PbxLink
from dialer.core.stores import DueStore
from dialer.engine.calls import CallDesk


@dataclass(frozen=True, kw_only=True)
class Health:
    link: PbxLink
    desk: CallDesk  # its intake keeps the inbound calls
    due: DueStore

    async def __call__(self) -> HealthView:
        inbound = self.desk.intake.inbound
        return {
            "ami": "connected" if self.link.connected else "disconnected",
            "reconciled": self.desk.reconciled.is_set(),
            "calls_in_flight": self.desk.in_flight,
            "inbound_calls_open": inbound.live_calls if inbound is not None else 0,
            "due_tasks": await self.due.pending_count(),
        }
