"""The AMI event intake: frames go through the pure tracker; facts queue for the engine.

`feed` is synchronous and cheap because it runs inside the AMI protocol's data_received.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from dialer.core.facts import Fact
from dialer.core.tracker import CallTracker, Event


class Intake:
    def __init__(self, tracker: CallTracker, now: Callable[[], datetime]) -> None:
        self.tracker = tracker
        self.now = now
        self.facts: asyncio.Queue[Fact] = asyncio.Queue()
        self.listeners: list[Callable[[Event], None]] = []

    def feed(self, event: Event) -> None:
        now = self.now()
        for fact in self.tracker.feed(event, now):
            self.facts.put_nowait(fact)
        for listener in self.listeners:
            listener(event)

    def inject(self, facts: tuple[Fact, ...]) -> None:
        for fact in facts:
            self.facts.put_nowait(fact)
