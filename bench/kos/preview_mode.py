"""The preview mode: each administrator dials the next patient by hand, as before the service did it."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import deque

from bench.kos.world import (
    ADMINS,
    Lines,
    ModeRun,
    Patient,
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
    ami: RawAmi, admin: str, todo: deque[Patient], hangups: Hangups, scale: Scale, tag: str
) -> list[str]:
    """One administrator's preview shift: card, call by hand, talk, next card. Returns any anomalies."""
    problems = []
    ring_ms = round(scale.wall(scale.ring_timeout_real) * 1000)
    while todo:
        patient = todo.popleft()
        await asyncio.sleep(scale.wall(scale.card_real))  # reading the card
        await ami.setvar(f"SIM_TALK_{admin}", f"{patient.talk:.1f}")
        uniqueid = f"preview-{tag}-{patient.n}"
        ended = hangups.expect(uniqueid)
        reply = await ami.send(
            "Originate",
            [
                ("Channel", f"Local/{patient.digits}@patients"),
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
            await asyncio.wait_for(ended, scale.wall(scale.ring_timeout_real) + patient.talk + 60)
        except TimeoutError:
            problems.append(f"{uniqueid}: no hangup seen")
    return problems


async def settle(lines: Lines, timeout: float = 30) -> None:
    """The administrators' legs hang up a moment after the patients' channels: wait for the last one."""
    deadline = time.monotonic() + timeout
    while lines.open and time.monotonic() < deadline:  # noqa: ASYNC110 (polled, like the service's state)
        await asyncio.sleep(0.2)


async def run_preview(ami: RawAmi, scale: Scale, patients: list[Patient]) -> ModeRun:
    started = time.time()
    lines = Lines(patients)
    hangups = Hangups()
    ami.listeners += [lines.on_event, hangups.on_event]
    todo = deque(patients)  # one shared list, in order: whoever is free takes the next card
    tag = f"{random.randrange(16**6):06x}"
    sys.stderr.write(f"preview: {len(ADMINS)} administrators work {len(patients)} cards by hand...\n")
    work_start = time.time()
    try:
        results = await asyncio.gather(*(preview_admin(ami, a, todo, hangups, scale, tag) for a in ADMINS))
        await settle(lines)
    finally:
        ami.listeners.remove(lines.on_event)
        ami.listeners.remove(hangups.on_event)
    ended = time.time()
    return ModeRun(
        "preview", patients, work_start, started, ended, {"problems": [p for r in results for p in r]}
    )
