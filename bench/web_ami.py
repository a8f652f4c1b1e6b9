"""AMI bytes for the pop-up benchmark: other calls' traffic replayed from the recording, and the inbound queue
calls that ring the operators, synthesized in the shape Asterisk 22 gives them (field order and values as in
tests/integration/test_intake_garbage.py and the sandbox recordings).

Background traffic: the 150 calls of bench/data/ami_read_all.bin.gz (a real reminder campaign on Asterisk 22,
manager user `read = all`: Newchannel, Newexten, VarSet, NewCallerid, LocalBridge, DialBegin/End, Newstate,
DTMF, UserEvent, HangupHandler*, Hangup...; 84 frames per call on average, Cyrillic CallerIDName on most),
each call's frames at their recorded offsets (their own `Timestamp`s) from the call's start. A copy gets
new ids (an Asterisk-style `1795....N` uniqueid instead of `reminders:T:1`, its own Local channel suffix), so
to the product it is somebody else's call on the same PBX: the parser, the AMI routing and the four trackers
see every frame, nothing is ours. The frames without a call (FullyBooted, SuccessfulAuth, the simulator's
TestEvents) are left out.
"""

from __future__ import annotations

import gzip
import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ID_TOKEN = b"\x00CALLID\x00"
CHAN_TOKEN = b"\x00CHAN\x00"
_ID = re.compile(rb"reminders:\d+:1")
_CHAN = re.compile(rb"@patients-[0-9a-f]{8};")
_STAMP = re.compile(rb"\r\nTimestamp: ([0-9.]+)")


@dataclass(frozen=True)
class CallTemplate:
    frames: tuple[tuple[float, bytes], ...]  # (seconds after the call's first frame, frame with tokens)

    @property
    def duration(self) -> float:
        return self.frames[-1][0]


def load_templates(name: str = "ami_read_all.bin.gz") -> list[CallTemplate]:
    stream = gzip.decompress((DATA / name).read_bytes())
    calls: dict[bytes, list[tuple[float, bytes]]] = {}
    for raw in stream.split(b"\r\n\r\n"):
        frame = raw.strip(b"\r\n")
        found = _ID.search(frame)
        stamp = _STAMP.search(frame)
        if found is None or stamp is None or not frame.startswith(b"Event: "):
            continue
        call_id = found.group(0)
        body = _CHAN.sub(b"@patients" + CHAN_TOKEN + b";", frame.replace(call_id, ID_TOKEN))
        calls.setdefault(call_id, []).append((float(stamp.group(1)), body + b"\r\n\r\n"))
    templates = []
    for frames in calls.values():
        frames.sort(key=lambda f: f[0])
        t0 = frames[0][0]
        templates.append(CallTemplate(tuple((t - t0, body) for t, body in frames)))
    return templates


@dataclass(order=True)
class _Cursor:
    due: float
    seq: int
    template: CallTemplate = field(compare=False)
    index: int = field(compare=False)
    call_id: bytes = field(compare=False)
    chan: bytes = field(compare=False)


class Background:
    """Starts `rate` copies of the recorded calls per second (evenly spaced from `start`) and hands out, for
    any instant, every frame due by then, in time order."""

    def __init__(self, templates: list[CallTemplate], rate: float, start: float, id_base: int) -> None:
        self.templates = templates
        self.interval = 1.0 / rate
        self.start = start
        self.started = 0
        self.frames = 0
        self.bytes = 0
        self.id_base = id_base
        self._heap: list[_Cursor] = []

    def due(self, now: float, stop_starting: float) -> bytes:
        """Every frame due by `now`; no call starts at or after `stop_starting` (those started run on)."""
        while (begin := self.start + self.started * self.interval) <= now and begin < stop_starting:
            k = self.started
            template = self.templates[k % len(self.templates)]
            heapq.heappush(
                self._heap,
                _Cursor(begin, k, template, 0, f"{self.id_base}.{k}".encode(), f"-{k:08x}".encode()),
            )
            self.started += 1
        out: list[bytes] = []
        heap = self._heap
        while heap and heap[0].due <= now:
            cur = heap[0]
            offset, body = cur.template.frames[cur.index]
            out.append(body.replace(ID_TOKEN, cur.call_id).replace(CHAN_TOKEN, cur.chan))
            cur.index += 1
            if cur.index < len(cur.template.frames):
                cur.due = cur.due - offset + cur.template.frames[cur.index][0]
                heapq.heapreplace(heap, cur)
            else:
                heapq.heappop(heap)
        data = b"".join(out)
        self.frames += len(out)
        self.bytes += len(data)
        return data

    @property
    def live_calls(self) -> int:
        return len(self._heap)


def frame(fields: list[tuple[str, str]]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields).encode("utf-8") + b"\r\n"


@dataclass(frozen=True)
class InboundCall:
    """A patient calls the clinic's number, waits in the queue, and one operator's phone rings."""

    seq: int
    linkedid: str
    caller: str  # digits as the trunk gives them, e.g. 79161234567
    name: str
    did: str
    queue: str
    interface: str  # the operator's phone, e.g. PJSIP/1042
    member: str
    context: str

    def _chan(self, leg: int) -> tuple[str, str]:
        if leg == 1:
            return f"PJSIP/trunk-{self.seq:08x}", self.linkedid
        return f"{self.interface}-{self.seq:08x}", f"{self.linkedid.split('.')[0]}.{self.seq + 500_000_000}"

    def ev(
        self, name: str, leg: int, stamp: float, extra: list[tuple[str, str]], privilege: str = "call,all"
    ) -> bytes:
        channel, uniqueid = self._chan(leg)
        agent = leg == 2
        # A call the carrier offers is created ringing (state 4), as the product tells it from a leg it dials.
        state = ("5", "Ringing") if agent else ("4", "Ring") if name == "Newchannel" else ("6", "Up")
        return frame(
            [
                ("Event", name),
                ("Privilege", privilege),
                ("Timestamp", f"{stamp:.6f}"),
                ("Channel", channel),
                ("ChannelState", state[0]),
                ("ChannelStateDesc", state[1]),
                ("CallerIDNum", self.caller),
                ("CallerIDName", self.name),
                ("ConnectedLineNum", "<unknown>"),
                ("ConnectedLineName", "<unknown>"),
                ("Language", "ru"),
                ("AccountCode", ""),
                ("Context", self.context if not agent else "from-internal"),
                ("Exten", self.did),
                ("Priority", "1"),
                ("Uniqueid", uniqueid),
                ("Linkedid", self.linkedid),
                *extra,
            ]
        )

    def _dest(self) -> list[tuple[str, str]]:
        channel, uniqueid = self._chan(2)
        return [
            ("DestChannel", channel),
            ("DestChannelState", "5"),
            ("DestChannelStateDesc", "Ringing"),
            ("DestCallerIDNum", self.caller),
            ("DestCallerIDName", self.name),
            ("DestContext", "from-internal"),
            ("DestExten", self.did),
            ("DestUniqueid", uniqueid),
            ("DestLinkedid", self.linkedid),
        ]

    def _member(self) -> list[tuple[str, str]]:
        return [("Queue", self.queue), ("Interface", self.interface), ("MemberName", self.member)]

    def arrive(self, at: float) -> bytes:
        return b"".join(
            (
                self.ev("Newchannel", 1, at, [], "call,all"),
                self.ev(
                    "Newexten",
                    1,
                    at,
                    [("Extension", self.did), ("Application", "Answer"), ("AppData", "")],
                    "dialplan,all",
                ),
                self.ev("VarSet", 1, at, [("Variable", "CLINIC_DID"), ("Value", self.did)], "dialplan,all"),
                self.ev(
                    "Newexten",
                    1,
                    at,
                    [("Extension", self.did), ("Application", "Queue"), ("AppData", f"{self.queue},t,,,60")],
                    "dialplan,all",
                ),
                self.ev("QueueCallerJoin", 1, at, [("Queue", self.queue), ("Position", "1"), ("Count", "1")]),
            )
        )

    def agent_called(self, at: float) -> bytes:
        return self.ev("AgentCalled", 1, at, [*self._dest(), *self._member()], "agent,all")

    def ring(self, at: float) -> bytes:
        return b"".join(
            (
                self.ev("Newchannel", 2, at, []),
                self.ev("DialBegin", 1, at, [*self._dest(), ("DialString", self.interface.split("/", 1)[1])]),
            )
        )

    def answer(self, at: float) -> bytes:
        return b"".join(
            (
                self.ev("DialEnd", 1, at, [*self._dest(), ("DialStatus", "ANSWER")]),
                self.ev(
                    "QueueCallerLeave", 1, at, [("Queue", self.queue), ("Count", "0"), ("Position", "1")]
                ),
                self.ev(
                    "AgentConnect",
                    1,
                    at,
                    [
                        *self._dest(),
                        *self._member(),
                        ("HoldTime", "3"),
                        ("RingTime", "2"),
                        ("BridgedChannel", self._chan(2)[1]),
                    ],
                    "agent,all",
                ),
            )
        )

    def hang_up_answered(self, at: float, talk: int) -> bytes:
        return b"".join(
            (
                self.ev(
                    "AgentComplete",
                    1,
                    at,
                    [
                        *self._dest(),
                        *self._member(),
                        ("HoldTime", "3"),
                        ("TalkTime", str(talk)),
                        ("Reason", "caller"),
                    ],
                    "agent,all",
                ),
                self.ev("Hangup", 2, at, [("Cause", "16"), ("Cause-txt", "Normal Clearing")]),
                self.ev("Hangup", 1, at, [("Cause", "16"), ("Cause-txt", "Normal Clearing")]),
            )
        )

    def ring_out(self, at: float) -> bytes:
        return b"".join(
            (
                self.ev(
                    "AgentRingNoAnswer",
                    1,
                    at,
                    [*self._dest(), *self._member(), ("RingTime", "4000")],
                    "agent,all",
                ),
                self.ev("DialEnd", 1, at, [*self._dest(), ("DialStatus", "NOANSWER")]),
                self.ev("Hangup", 2, at, [("Cause", "19"), ("Cause-txt", "No answer")]),
            )
        )

    def abandon(self, at: float) -> bytes:
        return b"".join(
            (
                self.ev(
                    "QueueCallerAbandon",
                    1,
                    at,
                    [("Queue", self.queue), ("Position", "1"), ("OriginalPosition", "1"), ("HoldTime", "8")],
                ),
                self.ev("Hangup", 1, at, [("Cause", "16"), ("Cause-txt", "Normal Clearing")]),
            )
        )


class Timeline:
    """Frames to deliver at given instants (the pop-up calls' before/after frames), in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, bytes]] = []
        self._seq = 0

    def add(self, at: float, data: bytes) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, data))

    def due(self, now: float) -> Iterator[bytes]:
        while self._heap and self._heap[0][0] <= now:
            yield heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)
