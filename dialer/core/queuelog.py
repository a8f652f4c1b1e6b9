"""Recovering calls from Asterisk's queue_log, for the time the service did not see the AMI stream.

Each line is ``epoch|callid|queue|agent|event|data…``. A caller's ENTERQUEUE (with the caller id) and the
line that ends their wait tell what happened: CONNECT (answered), ABANDON (hung up waiting),
EXITWITHTIMEOUT or EXITEMPTY (the queue gave up). Calls that never reached a queue are not in this log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
            if event == "ENTERQUEUE" and at >= self.since:
                self._entries[callid] = _Entry(
                    callid, queue, at, caller_number(data[1] if len(data) > 1 else "")
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
