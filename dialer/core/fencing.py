"""The leader's fencing token: the dialing lease's generation, which every takeover raises.

A write that starts a call carries the token of the lease its process holds; the database refuses it once
another node has taken the lease, even when the old leader (paused, or cut off and not yet aware) goes on.
"""

from __future__ import annotations

import math
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


@dataclass
class Tenure:
    """How long this node may still act on its lease, by its own monotonic clock: from its last renewal
    (`renewed`) for `good_for` seconds, less than the lease's life. The database's fence stops an old
    leader's attempt rows; this stops what follows a row already written (the Originate), when the process
    was paused past its lease between the two and has not yet seen it lost."""

    renewed: float = -math.inf
    good_for: float = 0.0

    def fresh(self, monotonic_now: float) -> bool:
        return monotonic_now - self.renewed < self.good_for
