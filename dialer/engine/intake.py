"""The AMI event intake: each frame goes through the pure trackers; their facts queue for the engine.

`feed` is synchronous and cheap because it runs inside the AMI protocol's data_received. It takes the frame
over: Asterisk's `Timestamp` is replaced by the event's time on the service's clock (see core/pbxtime.py), so
the trackers, reports and deadlines never mix the two clocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from dialer.campaigns.kinds import EVERY_KIND
from dialer.core.clock import Clock
from dialer.core.facts import Fact
from dialer.core.inbound import InboundEnded, InboundFact
from dialer.core.inbound_tracker import InboundTracker
from dialer.core.ownership import OurAttempts
from dialer.core.pbx_links import MAIN
from dialer.core.pbxtime import PbxTimebase
from dialer.core.queues import QueueState
from dialer.core.ringing import RingFact, RingTracker
from dialer.core.tracker import CallTracker, Event
from dialer.engine.loops import forever
from dialer.settings import InboundSettings


class Intake:
    def __init__(
        self,
        tracker: CallTracker,
        now: Callable[[], datetime],
        *,
        inbound: InboundTracker | None = None,
        queues: QueueState | None = None,
        rings: RingTracker | None = None,
        queue_watchers: Sequence[asyncio.Event] = (),
        ring_listeners: Sequence[Callable[[RingFact], None]] = (),
    ) -> None:
        """`queue_watchers` are set at each change of the queue state, besides `queues_changed` (each waiter
        has its own event); `ring_listeners` get each fact of a rung phone (the operators' pop-ups)."""
        self.tracker = tracker
        self.inbound = inbound
        self.queues = queues or QueueState()
        self.now = now
        self.timebase = PbxTimebase()  # the main (or only) Asterisk's clock
        # Each Asterisk's clock by its name: two hosts' clocks need not agree (engine/recovery.py reads its own).
        self.timebases: dict[str, PbxTimebase] = {MAIN: self.timebase}
        self.facts: asyncio.Queue[Fact] = asyncio.Queue()
        self.inbound_facts: asyncio.Queue[InboundFact] = asyncio.Queue()
        self.queues_changed = asyncio.Event()
        self.queue_watchers = tuple(queue_watchers)
        self.rings = rings
        self.ring_listeners = tuple(ring_listeners)
        # The event names some tracker reads (the queues read every event with a Queue header besides). Many of
        # a call's events are read by none (NewCallerid, NewConnectedLine, the hangup requests...): they are
        # passed over untimed and unseen by the trackers, and the AMI link does not even parse them (parser.py).
        self.read = tracker.events | (inbound.events if inbound is not None else frozenset())
        self.read |= rings.events if rings is not None else frozenset()

    def pbx_time(self, pbx_time: float, latency: float) -> None:
        """Asterisk's clock, as an AMI Ping answer gave it."""
        self.timebase.pinged(pbx_time, latency, self.now())

    def timebase_of(self, pbx: str) -> PbxTimebase:
        return self.timebases.setdefault(pbx, PbxTimebase())

    def pbx_time_of(self, pbx: str) -> Callable[[float, float], None]:
        """Where the Ping answers of the Asterisk named `pbx` go: its own clock."""
        timebase = self.timebase_of(pbx)
        return lambda pbx_time, latency: timebase.pinged(pbx_time, latency, self.now())

    def sink_of(self, pbx: str) -> Callable[[Event], None]:
        """Where the events of the Asterisk named `pbx` go: timed by its own clock."""
        self.timebase_of(pbx)
        return lambda event: self.feed(event, pbx)

    def feed(self, event: Event, pbx: str = MAIN) -> None:
        """One event of the Asterisk named `pbx`, timed by its clock; its queues kept apart from the others'."""
        if event.get("Event") not in self.read and "Queue" not in event:
            self.tracker.passed_over()
            return
        now = self.timebases[pbx].event_time(event.pop("Timestamp", None), self.now())
        for fact in self.tracker.feed(event, now):
            self.facts.put_nowait(fact)
        if self.inbound is not None:
            for inbound_fact in self.inbound.feed(event, now):
                self.inbound_facts.put_nowait(inbound_fact)
        if self.queues.feed(event, now, pbx):
            self.queues_changed.set()
            for watcher in self.queue_watchers:
                watcher.set()
        if self.rings is not None:
            for ring_fact in self.rings.feed(event, now):
                for listener in self.ring_listeners:
                    listener(ring_fact)

    def followed_channels(self) -> frozenset[str]:
        """The channels of the inbound calls and the rung phones the trackers follow now."""
        inbound = self.inbound.channels() if self.inbound is not None else frozenset()
        return inbound | (self.rings.channels() if self.rings is not None else frozenset())

    def gone(self, dead: Collection[str], last_seen: datetime) -> list[InboundEnded]:
        """After the link came back: these channels ended while it was down. The pop-ups of their calls
        close at once; the inbound calls that ended are returned, to be told with what queue_log knows."""
        if self.rings is not None:
            for ring_fact in self.rings.gone(dead, last_seen):
                for listener in self.ring_listeners:
                    listener(ring_fact)
        return list(self.inbound.gone(dead, last_seen)) if self.inbound is not None else []

    def inject(self, facts: tuple[Fact, ...]) -> None:
        for fact in facts:
            self.facts.put_nowait(fact)

    async def expire_forever(self, clock: Clock) -> None:
        """Every second, close the attempts whose channel hung up but whose OriginateResponse never came."""

        async def turn() -> None:
            await clock.sleep(1.0)
            self.inject(self.tracker.expire(clock.now()))

        await forever("tracker-expiry", turn, clock)


def installation_intake(
    inbound: InboundSettings,
    installation: str,
    now: Callable[[], datetime],
    *,
    queue_watchers: Sequence[asyncio.Event] = (),
    ring_listeners: Sequence[Callable[[RingFact], None]] = (),
) -> Intake:
    """The intake of one installation: its own calls told from every other installation's on the same PBX by
    the installation id, and the inbound contexts followed for missed calls and rung phones."""
    ours = OurAttempts(installation, EVERY_KIND)
    return Intake(
        CallTracker(is_attempt_id=ours.is_ours),
        now,
        inbound=InboundTracker(inbound.contexts, inbound.staff_contexts, is_ours=ours.is_ours),
        rings=RingTracker(inbound.contexts, campaign_of=ours.campaign_of),
        queue_watchers=queue_watchers,
        ring_listeners=ring_listeners,
    )
