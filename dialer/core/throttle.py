"""How often a login may be tried: growing waits per user name, per address and per known browser.

Every attempt is counted as a failure the moment it arrives, before the password is checked, and given back
when the password turns out right: twenty attempts sent at once are twenty attempts, not twenty free checks.
Past a few free failures a key must wait before its next attempt, and the wait doubles with each failure up
to a short cap, so nobody can lock anybody out for long:

- per user name, from anywhere: guessing one person's password from many addresses is slowed;
- per address, for any name: trying many names from one place is slowed; a clinic's call centre behind one
  NAT address has plenty of free failures before that bites;
- per known browser: a browser that has logged in as that user before (a signed cookie) is throttled on its
  own key only, so a stranger's failures for a name or from the same NAT address do not stop that person.

Pure and synchronous: `now` is a monotonic reading passed in. The state is bounded: each table forgets keys
that have been quiet for a while and holds at most `max_keys` of them, dropping the quietest first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    free: int  # failures allowed before any wait
    first: float  # the wait after the first failure past `free`, seconds
    cap: float  # the longest wait, seconds
    forget: float  # a key with no failure for this long starts again from nothing

    def wait(self, failures: int) -> float:
        """How long after the last failure the next attempt must wait, after `failures` failures."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.first * 2.0 ** min(failures - self.free, 32))


@dataclass
class _Count:
    failures: int
    last: float


@dataclass
class Throttle:
    """Failures per key under one backoff rule, oldest-touched first."""

    backoff: Backoff
    max_keys: int = 10_000
    _counts: OrderedDict[str, _Count] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._counts)

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again (0: now)."""
        self._forget(now)
        count = self._counts.get(key)
        if count is None:
            return 0.0
        return max(0.0, count.last + self.backoff.wait(count.failures) - now)

    def count(self, key: str, now: float) -> None:
        count = self._counts.pop(key, None) or _Count(0, now)
        count.failures += 1
        count.last = max(count.last, now)
        self._counts[key] = count  # to the end: the most recently touched
        while len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)

    def give_back(self, key: str) -> None:
        """Undo one counted failure (the attempt turned out to be right)."""
        count = self._counts.get(key)
        if count is None:
            return
        count.failures -= 1
        if count.failures <= 0:
            del self._counts[key]

    def clear(self, key: str) -> None:
        self._counts.pop(key, None)

    def _forget(self, now: float) -> None:
        while self._counts:
            key, oldest = next(iter(self._counts.items()))
            if now - oldest.last <= self.backoff.forget:
                return
            del self._counts[key]


BY_NAME = Backoff(free=5, first=5.0, cap=60.0, forget=900.0)
BY_ADDRESS = Backoff(free=20, first=5.0, cap=60.0, forget=900.0)
BY_BROWSER = Backoff(free=5, first=5.0, cap=60.0, forget=900.0)


@dataclass(frozen=True)
class Ticket:
    """The keys an admitted attempt was counted against, to give back if the password is right."""

    name: str
    address: str
    browser: str  # "" unless the attempt came from a browser known for this name


@dataclass
class LoginLimiter:
    by_name: Throttle = field(default_factory=lambda: Throttle(BY_NAME))
    by_address: Throttle = field(default_factory=lambda: Throttle(BY_ADDRESS))
    by_browser: Throttle = field(default_factory=lambda: Throttle(BY_BROWSER))

    def admit(self, name: str, address: str, browser: str, now: float) -> Ticket | float:
        """Count the attempt and return its ticket, or return how many seconds it must wait (not counted).

        `browser` names a browser known to have logged in as `name` (or is ""): such an attempt answers to
        its own key alone.
        """
        name = name.casefold()
        if browser:
            wait = self.by_browser.wait(browser, now)
            if wait > 0:
                return wait
            self.by_browser.count(browser, now)
            return Ticket(name, address, browser)
        wait = max(self.by_name.wait(name, now), self.by_address.wait(address, now))
        if wait > 0:
            return wait
        self.by_name.count(name, now)
        self.by_address.count(address, now)
        return Ticket(name, address, "")

    def succeeded(self, ticket: Ticket) -> None:
        if ticket.browser:
            self.by_browser.clear(ticket.browser)
            return
        self.by_name.give_back(ticket.name)
        self.by_address.give_back(ticket.address)
