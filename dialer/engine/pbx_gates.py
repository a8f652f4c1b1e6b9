"""Per Asterisk: are its calls reconciled, and since when is it down. One Asterisk down stops only its clinics.

The worker keeps claiming due tasks while any Asterisk is reconciled; a task of a clinic whose Asterisk is
down or not yet reconciled is put back a little later, not run: its patient is neither dialled through a
dead link nor counted as not reached, and no open attempt of that Asterisk is judged before it answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime


class PbxGates:
    def __init__(self, clinic_pbx: Mapping[str, str], names: Iterable[str], default: str) -> None:
        self.clinic_pbx = dict(clinic_pbx)
        self.default = default
        self.reconciled = {name: asyncio.Event() for name in names}
        self.down_since: dict[str, datetime] = {}
        self.any = asyncio.Event()  # some Asterisk's clinics may dial
        self.all = asyncio.Event()  # every Asterisk's calls are reconciled

    def pbx_of(self, clinic_id: str) -> str:
        return self.clinic_pbx.get(clinic_id, self.default)

    def clinic_ready(self, clinic_id: str) -> bool:
        gate = self.reconciled.get(self.pbx_of(clinic_id))
        return gate is not None and gate.is_set()

    def clinics_of(self, name: str) -> list[str]:
        return sorted(clinic for clinic, pbx in self.clinic_pbx.items() if pbx == name)

    def went_down(self, name: str, at: datetime) -> None:
        self.reconciled[name].clear()
        self.down_since.setdefault(name, at)
        self.changed()

    def came_up(self, name: str) -> None:
        """Its link is up again; its calls are reconciled when its gate is set."""
        self.down_since.pop(name, None)
        self.changed()

    def changed(self) -> None:
        for event, on in (
            (self.any, any(gate.is_set() for gate in self.reconciled.values())),
            (self.all, all(gate.is_set() for gate in self.reconciled.values())),
        ):
            if on:
                event.set()
            else:
                event.clear()
