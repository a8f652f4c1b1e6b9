"""Machines on the line: each answered call of a campaign that handles them is watched by a detector
(dialer/core/amd.py) fed by TALK_DETECT; a machine's channel is sent to the dialplan's machine branch.

The IVR is never held up for this: it plays and takes keys from the moment of answer, and a person who presses
a key is a person whatever the detector would have said. A verdict that comes after the first key is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from dialer.core.amd import AmdSettings, MachineDetector, Verdict
from dialer.core.clock import Clock
from dialer.core.facts import CallAnswered, CallEnded, CallStarted, DigitPressed, Fact, FarEndTalk
from dialer.core.ids import AttemptId
from dialer.core.ports import TelephonyUnavailable
from dialer.engine.loops import consume, forever

log = logging.getLogger("dialer.machines")

MACHINE_CONTEXT = "dialer-machine"
# How often the open detectors are asked for a verdict that needs no new event (a long stretch of speech).
TICK_SECONDS = 0.1

Redirect = Callable[[str, str], Awaitable[None]]  # (channel, context): AMI Redirect to <context>,s,1


@dataclass
class _Watched:
    channel: str
    detector: MachineDetector | None = None


class MachineWatch:
    def __init__(
        self,
        *,
        clock: Clock,
        redirect: Redirect,
        campaigns: Collection[str],
        settings: AmdSettings | None = None,
    ) -> None:
        self.clock = clock
        self.redirect = redirect
        self.campaigns = frozenset(campaigns)
        self.settings = settings or AmdSettings()
        self._calls: dict[str, _Watched] = {}
        self._woken = asyncio.Event()
        self._machines: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # (attempt id, channel) to redirect

    def see(self, fact: Fact) -> None:
        """Every call fact, in order, on the fact path: cheap and never waiting."""
        if isinstance(fact, CallStarted):
            if AttemptId.parse(fact.attempt_id).campaign in self.campaigns:
                self._calls[fact.attempt_id] = _Watched(fact.channel)
            return
        watched = self._calls.get(fact.attempt_id)
        if watched is None:
            return
        if isinstance(fact, CallAnswered):
            watched.detector = MachineDetector(fact.at.timestamp(), self.settings)
            self._woken.set()
        elif isinstance(fact, FarEndTalk) and watched.detector is not None:
            at = fact.at.timestamp()
            self._verdict(fact.attempt_id, watched, at)
            if fact.attempt_id not in self._calls:
                return
            if fact.talking:
                watched.detector.talking_started(at)
            else:
                watched.detector.talking_stopped(at, fact.duration_ms)
        elif isinstance(fact, DigitPressed | CallEnded):
            self._calls.pop(fact.attempt_id, None)

    async def run(self) -> None:
        """Ask the open detectors for their verdicts as time passes, and send the machines on, for ever."""
        async with asyncio.TaskGroup() as group:
            group.create_task(consume("machine-redirect", self._machines, self._send, self.clock))
            await self._tick_forever()

    async def _tick_forever(self) -> None:
        async def turn() -> None:
            if not any(w.detector is not None for w in self._calls.values()):
                self._woken.clear()
                await self._woken.wait()
            await self.clock.sleep(TICK_SECONDS)
            now = self.clock.now().timestamp()
            for attempt_id, watched in list(self._calls.items()):
                self._verdict(attempt_id, watched, now)

        await forever("machine-watch", turn, self.clock)

    def _verdict(self, attempt_id: str, watched: _Watched, now: float) -> None:
        if watched.detector is None:
            return
        decision = watched.detector.decide(now)
        if decision is None:
            return
        self._calls.pop(attempt_id, None)
        answered = watched.detector.answered_at
        log.info(
            "call %s: far end is %s (%.1f s after answer)",
            attempt_id,
            decision.verdict.value,
            decision.after_answer_s(answered),
        )
        if decision.verdict is Verdict.MACHINE:
            self._machines.put_nowait((attempt_id, watched.channel))

    async def _send(self, machine: tuple[str, str]) -> None:
        attempt_id, channel = machine
        try:
            await self.redirect(channel, MACHINE_CONTEXT)
        except TelephonyUnavailable as err:
            # The IVR goes on as for a person; the call counts by what it did there.
            log.warning("call %s: machine branch not reached (%s)", attempt_id, err)
