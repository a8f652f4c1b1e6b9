"""Recovering calls from Asterisk's queue_log, for the time the service did not see the AMI stream.

Each line is ``epoch|callid|queue|agent|event|data…``. A caller's ENTERQUEUE (with the caller id) and the
line that ends their wait tell what happened: CONNECT (answered), ABANDON (hung up waiting),
EXITWITHTIMEOUT or EXITEMPTY (the queue gave up). Calls that never reached a queue are not in this log.

The dialer's own calls wait in the same queues (a reminder patient who pressed 3, a КОС patient, an automatic
callback), under their attempt ids: they are outbound calls, followed as attempts, never inbound ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from dialer.core.ids import AttemptId
from dialer.core.inbound import InboundEnded, MissReason, caller_number
from dialer.core.outcomes import to_int

_ENDINGS = {"CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"}


@dataclass
class _Entry:
    callid: str
    queue: str
    entered: datetime
    caller: str = ""
    ended: datetime | None = None
    event: str = ""
    wait: float = 0.0
    agent: str = ""


@dataclass
class QueueLogReader:
    """Reads queue_log lines; `calls()` gives the finished ones as InboundEnded facts."""

    since: datetime
    # Asterisk's epoch seconds onto the service's time line (core/pbxtime.py); the same clock by default.
    to_service: Callable[[float], datetime] = lambda stamp: datetime.fromtimestamp(stamp, UTC)
    # The callid as the service knows it: headed by its Asterisk's name but for main's (core/pbx_links.py).
    head: Callable[[str], str] = lambda callid: callid
    skipped: int = 0
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def feed(self, lines: Iterable[str]) -> None:
        for line in lines:
            parts = line.rstrip("\n").split("|")
            stamp = to_int(parts[0]) if parts else None
            if len(parts) < 5 or stamp is None:
                self.skipped += 1
                continue
            try:
                at = self.to_service(stamp)
            except (OverflowError, OSError, ValueError):
                self.skipped += 1
                continue
            callid, queue, agent, event, data = parts[1], parts[2], parts[3], parts[4], parts[5:]
            if event == "ENTERQUEUE" and at >= self.since and AttemptId.try_parse(callid) is None:
                self._entries[callid] = _Entry(
                    self.head(callid), queue, at, caller_number(data[1] if len(data) > 1 else "")
                )
            elif event in _ENDINGS and callid in self._entries:
                self._end(self._entries[callid], event, at, agent, data)

    @staticmethod
    def _end(entry: _Entry, event: str, at: datetime, agent: str, data: list[str]) -> None:
        if entry.ended is not None:
            return
        entry.ended, entry.event, entry.agent = at, event, agent
        # Where each ending keeps the wait: CONNECT first, EXITWITHKEY fourth (after the key), the others third.
        index = {"CONNECT": 0, "EXITWITHKEY": 3}.get(event, 2)
        wait = to_int(data[index]) if len(data) > index else None
        entry.wait = float(wait) if wait is not None else (at - entry.entered).total_seconds()

    def calls(self) -> list[InboundEnded]:
        facts = []
        for entry in self._entries.values():
            if entry.ended is None:
                continue
            answered = entry.event == "CONNECT"
            miss = (
                None
                if answered
                else (MissReason.ABANDONED if entry.event == "ABANDON" else MissReason.QUEUE_TIMEOUT)
            )
            facts.append(
                InboundEnded(
                    call_id=entry.callid,
                    context="",
                    did="",
                    queue=entry.queue,
                    caller=entry.caller,
                    started_at=entry.entered,
                    queue_channel=entry.callid,
                    ended_at=entry.ended,
                    answered_at=entry.ended if answered else None,
                    answered_by=entry.agent if answered else "",
                    waited=entry.wait,
                    miss=miss,
                )
            )
        return facts


@dataclass(frozen=True)
class GapAccount:
    """The calls that ended while the link was down, told once each (see `settle_unseen`)."""

    from_log: list[InboundEnded]  # calls followed live whose end queue_log tells
    unseen: list[InboundEnded]  # calls followed live whose end nothing tells
    log_only: list[InboundEnded]  # calls that only queue_log knows


def settle_unseen(unseen: Iterable[InboundEnded], logged: Iterable[InboundEnded]) -> GapAccount:
    """Put together what the trackers held when the link was lost and what queue_log wrote meanwhile.

    A call followed live whose queue channel (or any of its channels) is in queue_log takes its ending from
    there: answered, abandoned or given up, and when. It keeps its own id, number and start, so it is one
    call, counted once, and the log's line for it is not recovered again on its own."""
    by_callid = {call.call_id: call for call in logged}
    from_log: list[InboundEnded] = []
    still_unseen: list[InboundEnded] = []
    for fact in unseen:
        ids = (fact.queue_channel, fact.call_id, *fact.channels)
        entry = next((by_callid.pop(i) for i in ids if i in by_callid), None)
        if entry is None:
            still_unseen.append(fact)
        elif fact.answered_at is not None:  # answered before the link was lost: the log adds only the end
            from_log.append(replace(fact, ended_at=max(fact.ended_at, entry.ended_at), unseen=False))
        else:
            # Answered (CONNECT: the call went on past that moment) or given up (the end is the log's).
            left_queue = max(entry.ended_at, fact.started_at)
            from_log.append(
                replace(
                    fact,
                    queue=fact.queue or entry.queue,
                    queue_channel=fact.queue_channel or entry.call_id,
                    ended_at=max(left_queue, fact.ended_at) if entry.answered_at else left_queue,
                    answered_at=entry.answered_at,
                    answered_by=entry.answered_by,
                    waited=(
                        left_queue - fact.started_at
                    ).total_seconds(),  # from the start, as when seen live
                    miss=entry.miss,
                    unseen=False,
                )
            )
    return GapAccount(from_log, still_unseen, list(by_callid.values()))
