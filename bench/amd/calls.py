"""Placing the set's calls over the trunk into tests/asterisk/amd_probe.conf and keeping each one's events."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from bench.amd.answers import Answer
from bench.lib.rawami import Frame, RawAmi

TRUNK_DIAL = "PJSIP/{number}@trunk"
LISTEN_S = 6  # after answering: past the detector's latest verdict and app_amd's 5 s total analysis time
CALL_DEADLINE_S = 40.0


@dataclass
class ProbeCall:
    """One answer's call as the clinic's Asterisk saw it: events in order, with Asterisk's own timestamps."""

    answer: Answer
    uniqueid: str
    frames: list[Frame] = field(default_factory=list)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def stamp(self, event: str, **fields: str) -> float | None:
        for frame in self.frames:
            if frame.get("Event") == event and all(frame.get(k) == v for k, v in fields.items()):
                return float(frame["Timestamp"])
        return None

    @property
    def answered_at(self) -> float | None:
        return self.stamp("Newstate", ChannelStateDesc="Up")

    def talk_events(self) -> list[tuple[str, float, int]]:
        """("start" | "stop", Asterisk's timestamp, the stretch's length in ms) in order."""
        out: list[tuple[str, float, int]] = []
        for frame in self.frames:
            event = frame.get("Event")
            if event == "ChannelTalkingStart":
                out.append(("start", float(frame["Timestamp"]), 0))
            elif event == "ChannelTalkingStop":
                out.append(("stop", float(frame["Timestamp"]), int(frame.get("Duration", "0") or 0)))
        return out

    def app_amd(self) -> tuple[str, str, float] | None:
        """app_amd's AMDSTATUS, AMDCAUSE and the time it said so."""
        for frame in self.frames:
            if frame.get("Event") == "UserEvent" and frame.get("UserEvent") == "AmdProbe":
                return frame.get("Status", ""), frame.get("Cause", ""), float(frame["Timestamp"])
        return None


async def place_all(
    ami: RawAmi, answers: list[Answer], concurrency: int, talk_silence_ms: int, app_amd_args: str = ""
) -> list[ProbeCall]:
    """Every answer's call, `concurrency` at a time; app_amd runs with `app_amd_args` (empty: its defaults)."""
    tag = f"amd{int(time.time()) % 100000:05d}"
    # Fixed width: Asterisk refuses a ChannelId that is a prefix of a live channel's Uniqueid.
    calls = [ProbeCall(answer, f"{tag}-{n:04d}") for n, answer in enumerate(answers)]
    by_id = {call.uniqueid: call for call in calls}

    def collect(frame: Frame) -> None:
        call = by_id.get(frame.get("Uniqueid", ""))
        if call is not None:
            call.frames.append(frame)
            if frame.get("Event") == "Hangup":
                call.hung_up.set()

    ami.listeners.append(collect)
    gate = asyncio.Semaphore(concurrency)

    async def one(call: ProbeCall) -> None:
        async with gate:
            reply = await ami.send(
                "Originate",
                [
                    ("Channel", TRUNK_DIAL.format(number=call.answer.number)),
                    ("Context", "amd-probe"),
                    ("Exten", f"{LISTEN_S:02d}"),  # _X. wants two digits or more
                    ("Priority", "1"),
                    ("Timeout", "15000"),
                    ("Async", "true"),
                    ("ChannelId", call.uniqueid),
                    ("Variable", f"DIALER_TALK_SILENCE_MS={talk_silence_ms}"),
                    # Originate splits a Variable on commas; a backslash keeps one.
                    ("Variable", "DIALER_AMD_ARGS=" + app_amd_args.replace(",", "\\,")),
                ],
            )
            if reply.get("Response") != "Success":
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.hung_up.wait(), CALL_DEADLINE_S)

    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(one(call))
    finally:
        ami.listeners.remove(collect)
    return calls
