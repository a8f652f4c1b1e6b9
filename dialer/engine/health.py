"""What the monitoring's health check reads: the link, the calls in the air, the due tasks (counts only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dialer.core.health import HealthView, PbxHealth
from dialer.core.pbx_links import links_by_name
from dialer.core.ports import PbxLink
from dialer.core.stores import DueStore
from dialer.engine.calls import CallDesk
from dialer.engine.pbx_gates import PbxGates


@dataclass(frozen=True, kw_only=True)
class Health:
    link: PbxLink
    desk: CallDesk  # its intake keeps the inbound calls
    due: DueStore
    gates: PbxGates | None = None  # with several Asterisks: each one's state

    async def __call__(self) -> HealthView:
        inbound = self.desk.intake.inbound
        view: HealthView = {
            "ami": "connected" if self.link.connected else "disconnected",
            "reconciled": self.desk.reconciled.is_set(),
            "calls_in_flight": self.desk.in_flight,
            "inbound_calls_open": inbound.live_calls if inbound is not None else 0,
            "due_tasks": await self.due.pending_count(),
        }
        if self.gates is not None:
            view["pbx"] = self._each(self.gates)
            view["ami"], view["reconciled"] = _serving(view["pbx"])
        return view

    def _each(self, gates: PbxGates) -> dict[str, PbxHealth]:
        links = links_by_name(self.link, gates.default)
        return {
            name: {
                "ami": "connected" if link.connected else "disconnected",
                "reconciled": gates.reconciled[name].is_set(),
                "clinics": gates.clinics_of(name),
            }
            for name, link in links.items()
        }


def _serving(each: dict[str, PbxHealth]) -> tuple[Literal["connected", "disconnected"], bool]:
    """With several Asterisks the top line says what /ready says: the service works while one of them is up and
    reconciled; `pbx` names the others."""
    up = [pbx for pbx in each.values() if pbx["ami"] == "connected"]
    return ("connected" if up else "disconnected"), any(pbx["reconciled"] for pbx in up)
