"""What the service does when the AMI link comes and goes, so that no missed call is lost in a gap.

After every (re)connect, what Asterisk has now comes first (the call desk reconciles, the queues are read again),
then what happened while nobody watched: calls the trackers followed whose Hangup was lost with the link, and the
queue calls only Asterisk's queue_log knows. Each is counted once; a missed one becomes a callback task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from dialer.core.clock import Clock
from dialer.core.inbound import InboundEnded
from dialer.core.ports import PbxLink
from dialer.core.queuelog import QueueLogReader, settle_unseen
from dialer.core.records import InboundSource
from dialer.core.stores import InboundStore
from dialer.engine.calls import CallDesk
from dialer.engine.inbound import InboundDesk
from dialer.engine.loops import forever
from dialer.settings import Settings

log = logging.getLogger("dialer.recovery")

SEEN_MARK = "ami_seen"
FIRST_MARK = "first_seen"
SEEN_MARK_EVERY = 5.0
# A margin before the last sighting: the mark is written every few seconds, not at the moment the link went.
RECOVERY_MARGIN = timedelta(minutes=1)


class LinkRecovery:
    """Hooks for the AMI link's up and down, and the mark of until when the AMI stream was watched."""

    def __init__(
        self,
        *,
        link: PbxLink,
        desk: CallDesk,
        store: InboundStore,
        inbound: InboundDesk,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._link = link
        self._desk = desk
        self._intake = desk.intake
        self._store = store
        self._inbound = inbound
        self._clock = clock
        self._queue_log = settings.inbound.queue_log
        self._clinic_ids = list(settings.clinics) or ["*"]
        self._lost_at: datetime | None = None  # when the link was lost, until link-up has dealt with the gap
        self._unseen: list[InboundEnded] = []  # calls that ended in the gap, not yet told

    async def link_up(self) -> None:
        """After every (re)connect: what Asterisk has now comes first, then what happened in the gap."""
        await self._desk.reconcile()
        self._intake.queues.reset(await self._desk.telephony.queue_status(), self._clock.now())
        self._intake.queues_changed.set()
        await self._calls_gone()
        now = self._clock.now()
        for gap_id, started in await self._store.close_gaps(now):
            log.warning("AMI gap %s from %s closed", gap_id, started.isoformat(timespec="seconds"))
        seen = await self._store.mark_of(SEEN_MARK)
        first = await self._store.mark_of(FIRST_MARK)
        if first is None:
            await self._store.mark(FIRST_MARK, now)
        # Nothing from before this database was in service.
        since = max(seen - RECOVERY_MARGIN, first) if seen is not None and first is not None else None
        await self.recover_misses(since, self._unseen)
        self._unseen = []
        await self._store.mark(SEEN_MARK, now)

    async def link_down(self) -> None:
        now = self._clock.now()
        self._lost_at = self._lost_at or now
        self._desk.reconciled.clear()
        for clinic_id in self._clinic_ids:
            await self._store.open_gap(clinic_id, now, "AMI link lost")

    async def _calls_gone(self) -> None:
        """Calls the trackers follow that Asterisk no longer has (CoreShowChannels): their Hangup was lost
        with the link. Their pop-ups close now; the inbound ones wait in `_unseen` until they are told."""
        followed = self._intake.followed_channels()  # before asking: a call that starts meanwhile is not gone
        if followed:
            alive = await self._desk.telephony.live_channels()
            ended = self._intake.gone(followed - alive.keys(), self._lost_at or self._clock.now())
            if ended:
                log.warning("%d inbound calls ended while the AMI link was down", len(ended))
            self._unseen.extend(ended)
        self._lost_at = None

    async def recover_misses(self, since: datetime | None, unseen: Sequence[InboundEnded] = ()) -> int:
        """Calls that ended while we were not watching: those the trackers held when the link was lost
        (`unseen`), told by Asterisk's queue_log where it has them, and the queue calls only queue_log knows."""
        start = min([f.started_at for f in unseen] + ([since] if since is not None else []), default=None)
        gap = settle_unseen(unseen, await self._queue_log_calls(start) if start is not None else [])
        for call in gap.from_log:
            await self._inbound.ended(call, source=InboundSource.QUEUE_LOG)
        for call in gap.unseen:
            await self._inbound.ended(call, source=InboundSource.LINK_GAP)
        known = await self._store.known([c.call_id for c in gap.log_only])
        # A call whose channel is still followed (up when the link came back, its queue given up meanwhile) is
        # told by the trackers when it ends, under its own id: taken from the log too, it would count twice.
        following = self._intake.followed_channels()
        recovered = 0
        for call in gap.log_only:
            if call.call_id not in known and call.call_id not in following:
                await self._inbound.ended(call, source=InboundSource.QUEUE_LOG)
                recovered += 1
        if recovered and start is not None:
            log.warning(
                "recovered %d calls from queue_log since %s", recovered, start.isoformat(timespec="seconds")
            )
        return recovered + len(unseen)

    async def _queue_log_calls(self, since: datetime) -> list[InboundEnded]:
        if not self._queue_log:
            return []
        try:
            text = await asyncio.to_thread(
                Path(self._queue_log).read_text, encoding="utf-8", errors="replace"
            )
        except OSError as err:
            log.warning("cannot read queue_log %s to recover missed calls: %s", self._queue_log, err)
            return []
        reader = QueueLogReader(since, to_service=self._intake.timebase.to_service)
        reader.feed(text.splitlines())
        return reader.calls()

    async def keep_seen_mark(self) -> None:
        """Remember until when the AMI stream was watched, so a restart knows what to recover."""

        async def turn() -> None:
            await self._clock.sleep(SEEN_MARK_EVERY)
            if self._link.connected and self._desk.reconciled.is_set():
                await self._store.mark(SEEN_MARK, self._clock.now())

        await forever("seen-mark", turn, self._clock)
