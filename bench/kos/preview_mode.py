"""The preview mode: each administrator dials the next patient by hand, as before the service did it."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import deque
from dataclasses import dataclass

from bench.kos.world import (
    ADMINS,
    Lines,
    ModeRun,
    Patient,
    Registry,
    Scale,
)
from bench.lib.rawami import Frame, RawAmi


class Hangups:
    """Futures for the hangup of the patient channels the preview administrators start."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, uniqueid: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[uniqueid] = future
        return future

    def on_event(self, frame: Frame) -> None:
        if frame.get("Event") == "Hangup":
            future = self.waiting.pop(frame.get("Uniqueid", ""), None)
            if future is not None and not future.done():
                future.set_result(time.time())


async def preview_admin(
    ami: RawAmi, admin: str, todo: deque[Patient], hangups: Hangups, scale: Scale, tag: str, dial: Dial
) -> list[str]:
    """One administrator's preview shift: card, call by hand, talk, next card. Returns any anomalies."""
    problems = []
    ring_ms = round(scale.ring_timeout_wall * 1000)
    while todo:
        patient = todo.popleft()
        await asyncio.sleep(scale.wall(scale.card_real))  # reading the card
        await ami.setvar(f"SIM_TALK_{admin}", f"{patient.talk:.1f}")
        # Fixed width: Asterisk refuses a ChannelId that is a prefix of a live channel's Uniqueid.
        uniqueid = f"preview-{tag}-{patient.n:05d}"
        dial.registry.add(uniqueid, patient.digits)
        ended = hangups.expect(uniqueid)
        reply = await ami.send(
            "Originate",
            [
                ("Channel", dial.template.format(number=dial.number(patient))),
                ("Application", "Dial"),
                # The administrator's phone rings only once the patient has answered.
                ("Data", f"Local/{admin}@sandbox-agents,30"),
                ("Timeout", str(ring_ms)),
                ("ChannelId", uniqueid),
                ("CallerID", '"Клиника" <74951234567>'),
                ("Async", "true"),
            ],
        )
        if reply.get("Response") != "Success":
            problems.append(f"{uniqueid}: Originate refused: {reply.get('Message', '')}")
            hangups.waiting.pop(uniqueid, None)
            continue
        try:
            await asyncio.wait_for(ended, scale.ring_timeout_wall + patient.talk + 60)
        except TimeoutError:
            problems.append(f"{uniqueid}: no hangup seen")
    return problems


async def settle(lines: Lines, timeout: float = 30) -> None:
    """The administrators' legs hang up a moment after the patients' channels: wait for the last one."""
    deadline = time.monotonic() + timeout
    while lines.open and time.monotonic() < deadline:  # noqa: ASYNC110 (polled, like the service's state)
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Dial:
    """How the administrators ring a patient: `template` as a trunk's `dial`, and whose channel is whose."""

    template: str
    registry: Registry

    def number(self, patient: Patient) -> str:
        # The carrier takes E.164; the `Local/` patients' context matches digits only.
        return patient.digits if self.template.startswith("Local/") else patient.phone


async def run_preview(ami: RawAmi, scale: Scale, patients: list[Patient], template: str) -> ModeRun:
    started = time.time()
    registry = Registry(patients)
    dial = Dial(template, registry)
    lines = Lines(patients, registry)
    hangups = Hangups()
    ami.listeners += [lines.on_event, hangups.on_event]
    todo = deque(patients)  # one shared list, in order: whoever is free takes the next card
    tag = f"{random.randrange(16**6):06x}"
    sys.stderr.write(f"preview: {len(ADMINS)} administrators work {len(patients)} cards by hand...\n")
    work_start = time.time()
    try:
        results = await asyncio.gather(
            *(preview_admin(ami, a, todo, hangups, scale, tag, dial) for a in ADMINS)
        )
        await settle(lines)
    finally:
        ami.listeners.remove(lines.on_event)
        ami.listeners.remove(hangups.on_event)
    ended = time.time()
    notes = {"problems": [p for r in results for p in r], "channel_ids": registry.by_id}
    return ModeRun("preview", patients, work_start, started, ended, notes)
