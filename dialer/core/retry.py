"""How long to wait before trying a failed piece of work again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryBackoff:
    """A wait that doubles with every failed try, from `first`, never longer than `longest`."""

    first: timedelta
    longest: timedelta
    # Doublings stop here even below `longest`: the count of tries is unbounded, the power must not be.
    max_doublings: int

    def after(self, tries: int) -> timedelta:
        """The wait before the next try, after `tries` failed ones."""
        doublings: int = min(max(tries, 0), self.max_doublings)
        return min(self.longest, self.first * (1 << doublings))
