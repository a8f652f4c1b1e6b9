"""What the service does when the AMI link comes and goes, so that no missed call is lost in a gap.

After every (re)connect, what Asterisk has now comes first (the call desk reconciles, the queues are read again),
then what happened while nobody watched: calls the trackers followed whose Hangup was lost with the link, and the
queue calls only Asterisk's queue_log knows. Each is counted once; a missed one becomes a callback task.

With several Asterisks there is one recovery per Asterisk, on its own link: its link-up reconciles only its
clinics' calls and sets only its gate (engine/pbx_gates.py), its gaps are its clinics' (it opens and closes
only theirs: west coming back leaves east's outage open while east is away), its seen mark its own, and its
queue_log its own (main's `[inbound] queue_log`, another's `[pbx.<name>] queue_log`), whose ids are headed
as that Asterisk's events are and whose stamps are read on that Asterisk's clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from dialer.core.clock import Clock
from dialer.core.inbound import InboundEnded
from dialer.core.pbx_links import MAIN, asterisk_of, headed, links_by_name
from dialer.core.ports import PbxLink, Telephony
from dialer.core.queuelog import QueueLogReader, settle_unseen
from dialer.core.records import InboundSource
from dialer.core.stores import InboundStore
from dialer.engine.calls import CallDesk, PbxScope
from dialer.engine.inbound import InboundDesk
from dialer.engine.loops import forever
from dialer.engine.pbx_gates import PbxGates
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
        pbx: tuple[str, PbxGates, Telephony] | None = None,
    ) -> None:
        """`pbx`, with several Asterisks: this one's name, every Asterisk's gates, and its own telephony."""
        self._link = link
        self._desk = desk
        self._intake = desk.intake
        self._store = store
        self._inbound = inbound
        self._clock = clock
        self._queue_log = settings.inbound.queue_log
        self._clinic_ids = list(settings.clinics) or ["*"]
        # The gaps a link-up closes: a single Asterisk's link is every clinic's, so all of them, those of
        # clinics no longer configured too; one of several closes only its own clinics' (the others may be down).
        self._gap_clinics: list[str] | None = None
        self._lost_at: datetime | None = None  # when the link was lost, until link-up has dealt with the gap
        self._unseen: list[InboundEnded] = []  # calls that ended in the gap, not yet told
        self._telephony: Telephony = desk.telephony
        self._scope: PbxScope | None = None
        self._gates: PbxGates | None = None
        self._name = ""
        self._seen_mark = SEEN_MARK
        self.others: list[LinkRecovery] = []  # the other Asterisks' recoveries, whose seen marks this keeps
        if pbx is not None:
            self._name, self._gates, self._telephony = pbx
            clinics = self._gates.clinics_of(self._name)
            self._scope = PbxScope(self._owns, self._telephony, self._gates.reconciled[self._name])
            self._clinic_ids = clinics
            self._gap_clinics = clinics
            if self._name != self._gates.default:
                self._queue_log = settings.pbxes[self._name].queue_log
                self._seen_mark = f"{SEEN_MARK}:{self._name}"

    async def link_up(self) -> None:
        """After every (re)connect: what Asterisk has now comes first, then what happened in the gap."""
        if self._gates is not None:
            self._gates.came_up(self._name)
        await self._desk.reconcile(self._scope)
        if self._gates is not None:
            self._gates.changed()
            self._sync_desk_gate()
        await self._queues_again()
        self._intake.queues_changed.set()
        await self._calls_gone()
        now = self._clock.now()
        for gap_id, started in await self._store.close_gaps(now, self._gap_clinics):
            log.warning("AMI gap %s from %s closed", gap_id, started.isoformat(timespec="seconds"))
        seen = await self._store.mark_of(self._seen_mark)
        first = await self._store.mark_of(FIRST_MARK)
        if first is None:
            await self._store.mark(FIRST_MARK, now)
        # Nothing from before this database was in service.
        since = max(seen - RECOVERY_MARGIN, first) if seen is not None and first is not None else None
        await self.recover_misses(since, self._unseen)
        self._unseen = []
        await self._store.mark(self._seen_mark, now)

    async def _queues_again(self) -> None:
        """This Asterisk's part of the live queue state, from its QueueStatus and what came while it was asked."""
        queues, pbx = self._intake.queues, self._name or MAIN
        queues.asking(pbx)
        try:
            status = await self._telephony.queue_status()
        except BaseException:
            queues.not_asking(pbx)
            raise
        queues.reset(status, self._clock.now(), pbx)

    async def link_down(self) -> None:
        now = self._clock.now()
        self._lost_at = self._lost_at or now
        if self._gates is None:
            self._desk.reconciled.clear()
        else:
            self._gates.went_down(self._name, now)
            self._sync_desk_gate()
        for clinic_id in self._clinic_ids:
            await self._store.open_gap(clinic_id, now, "AMI link lost")

    async def _calls_gone(self) -> None:
        """Calls the trackers follow that Asterisk no longer has (CoreShowChannels): their Hangup was lost
        with the link. Their pop-ups close now; the inbound ones wait in `_unseen` until they are told."""
        followed = self._own(self._intake.followed_channels())  # before asking: one starting now is not gone
        if followed:
            alive = await self._telephony.live_channels()
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
        name = self._name or MAIN
        reader = QueueLogReader(
            since,
            to_service=self._intake.timebase_of(name).to_service,
            head=lambda callid: headed(callid, name),
        )
        reader.feed(text.splitlines())
        return reader.calls()

    async def keep_seen_mark(self) -> None:
        """Remember until when the AMI stream was watched and its calls stored, so a restart knows what to
        recover."""

        async def turn() -> None:
            await self._clock.sleep(SEEN_MARK_EVERY)
            for recovery in (self, *self.others):
                if recovery.watching():
                    await self._store.mark(
                        recovery._seen_mark, self._inbound.watched_until(self._clock.now())
                    )

        await forever("seen-mark", turn, self._clock)

    def _owns(self, clinic_id: str) -> bool:
        return self._gates is not None and self._gates.pbx_of(clinic_id) == self._name

    def watching(self) -> bool:
        """This Asterisk's stream is watched now: its link is up and its calls reconciled."""
        if self._scope is None:
            return self._link.connected and self._desk.reconciled.is_set()
        return self._scope.gate.is_set() and self._own_link_up()

    def _own_link_up(self) -> bool:
        link = links_by_name(self._link, self._name).get(self._name)
        return link is not None and link.connected

    def _own(self, channels: frozenset[str]) -> frozenset[str]:
        """Of the channels the trackers follow, this Asterisk's (the others' ids are headed by their name)."""
        if self._gates is None:
            return channels
        names = self._gates.reconciled.keys()
        return frozenset(c for c in channels if asterisk_of(c, names, self._gates.default) == self._name)

    def _sync_desk_gate(self) -> None:
        """The desk's own gate (the health check's "reconciled") is set while every Asterisk's is."""
        if self._gates is not None and self._gates.all.is_set():
            self._desk.reconciled.set()
        else:
            self._desk.reconciled.clear()
