"""The leader's fencing token: the dialing lease's generation, which every takeover raises.

A write that starts a call carries the token of the lease its process holds; the database refuses it once
another node has taken the lease, even when the old leader (paused, or cut off and not yet aware) goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.core.errors import ServiceStop


@dataclass(frozen=True)
class Fence:
    """The lease `name` as `holder` took it, at `generation`; generation 0 is never current (a standby)."""

    name: str
    holder: str
    generation: int

    @property
    def standby(self) -> bool:
        return self.generation == 0


class FencedOut(ServiceStop):
    """This node's lease was taken by another: it must not start a call any more."""
