"""Predictive pacing for the calls an administrator takes: whether to dial one more patient now, so that the
patients who answer find an administrator free now or free by the time they answer.

What it weighs, learnt from the clinic's own recent calls because both change with the hour and the list:
- the chance that a call still ringing after t seconds is answered: most patients answer within the first
  rings, so a call ringing for long is probably ringing out and promises little;
- the chance that an administrator who has talked t seconds to one of these patients is free within the
  look-ahead.

One more patient is dialled while the answers expected from the calls in the air, the patients already waiting
and the new call stay within `AIM` of the administrators expected free. Answers are also kept from bunching: a
queue that rings every free administrator for the first patient in line connects one waiting patient per
administrator's ring, so dials are spaced to expect no more than one answer per connection time (how long
recent answered patients took to reach a free administrator). Until the clinic's own calls say
otherwise every patient is taken to answer and no talk to end early, which is progressive dialling: one call
per free administrator. Over the drop cap the pacer is `cautious` and falls back to exactly that.

Pure: times are datetimes on the service's clock, "now" is a parameter.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

AIM = 0.8  # expected answers per administrator expected free: the margin that keeps drops under the cap
HISTORY = 100  # recent rings and talks learnt from
PRIOR_WEIGHT = 5.0  # calls' worth of the assumption that every patient answers, before evidence outweighs it
PRIOR_CONNECT_S = 1.0  # an administrator's phone rings about a second before they pick up


@dataclass
class PredictivePacer:
    lookahead_s: float
    _ringing: dict[str, datetime] = field(default_factory=dict)  # call -> dialled at
    _waiting: set[str] = field(default_factory=set)  # answered, not yet with an administrator
    _talking: dict[str, datetime] = field(default_factory=dict)  # call -> its administrator took it at
    _rings: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _talks: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _connects: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _answered_at: dict[str, datetime] = field(default_factory=dict)
    _last_dial: datetime | None = None

    # -- what happens to the calls ----------------------------------------------------------------------

    def placed(self, call: str, at: datetime) -> None:
        self._ringing[call] = at
        self._last_dial = at

    def answered(self, call: str, at: datetime) -> None:
        dialled = self._ringing.pop(call, None)
        if dialled is not None:
            self._rings.append(((at - dialled).total_seconds(), True))
            self._waiting.add(call)
            self._answered_at[call] = at

    def connected(self, call: str, at: datetime) -> None:
        self.answered(call, at)  # the answer may be reported only with the connection
        self._waiting.discard(call)
        self._talking[call] = at
        answered = self._answered_at.pop(call, None)
        if answered is not None:
            self._connects.append((at - answered).total_seconds())

    def withdrawn(self, call: str) -> None:
        """Counted in the air, then not placed after all: it teaches nothing (and spaces nothing)."""
        if self._ringing.pop(call, None) == self._last_dial:
            self._last_dial = None

    def ended(self, call: str, at: datetime) -> None:
        dialled = self._ringing.pop(call, None)
        if dialled is not None:
            self._rings.append(((at - dialled).total_seconds(), False))
        took = self._talking.pop(call, None)
        if took is not None:
            self._talks.append((at - took).total_seconds())
        self._waiting.discard(call)
        self._answered_at.pop(call, None)

    @property
    def in_the_air(self) -> int:
        """Calls ringing or answered and waiting: none of them has an administrator yet."""
        return len(self._ringing) + len(self._waiting)

    # -- the estimates ----------------------------------------------------------------------------------

    def answer_chance(self, ringing_s: float) -> float:
        """Of the recent calls that were still ringing after `ringing_s`, the share then answered."""
        later = [answered for took, answered in self._rings if took > ringing_s]
        return (sum(later) + PRIOR_WEIGHT) / (len(later) + PRIOR_WEIGHT)

    def free_chance(self, talking_s: float) -> float:
        """Of the recent talks that lasted past `talking_s`, the share ended within the look-ahead after it.
        A talk longer than every recent one promises nothing."""
        longer = [took for took in self._talks if took > talking_s]
        if not longer:
            return 0.0
        return sum(1 for took in longer if took <= talking_s + self.lookahead_s) / len(longer)

    def spacing_s(self) -> float:
        """Between two dials: one expected answer per connection time. The time taken is the quick end of the
        recent connections (an administrator's ring), not their middle, which includes waits for an
        administrator and would slow dialling just when the team is busy."""
        if len(self._connects) >= 2:
            connect = statistics.quantiles(self._connects, n=4)[0]
        else:
            connect = self._connects[0] if self._connects else PRIOR_CONNECT_S
        return connect * self.answer_chance(0.0)

    def expected_answers(self, now: datetime) -> float:
        ringing = sum(self.answer_chance((now - at).total_seconds()) for at in self._ringing.values())
        return ringing + len(self._waiting)

    def expected_free(self, now: datetime, free_admins: int) -> float:
        soon = sum(self.free_chance((now - at).total_seconds()) for at in self._talking.values())
        return free_admins + soon

    def may_dial(self, now: datetime, free_admins: int, *, cautious: bool) -> bool:
        """`free_admins`: the clinic's administrators free now, not counting those on these calls. Never fewer
        calls than progressive dialling would place, only spaced."""
        if self._last_dial is not None and (now - self._last_dial).total_seconds() < self.spacing_s():
            return False
        if self.in_the_air < free_admins:
            return True
        if cautious:
            return False
        wanted = self.expected_answers(now) + self.answer_chance(0.0)
        return wanted <= AIM * self.expected_free(now, free_admins)
