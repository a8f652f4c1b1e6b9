"""Bad AMI data through the product's own intake path, in process, over a real SQLite database.

Built as dialer/app.py `open_runtime` builds it for inbound calls: the AMI protocol (byte parser and router) feeds
the Intake and its InboundTracker; the InboundDesk stores every finished call and hands misses to a real
CallbackFlow. No Asterisk is needed: the AMI bytes are written here. Nothing may be dialled, so the telephony
stand-in refuses everything, and no worker runs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from dialer.ami.connection import AmiProtocol
from dialer.ami.parser import Frame
from dialer.core.clock import FakeClock
from dialer.core.inbound_tracker import InboundTracker
from dialer.core.ports import LiveChannel, OriginateRequest, RecordedOutcome, TelephonyUnavailable
from dialer.core.tracker import CallTracker
from dialer.engine.callbacks import CallbackFlow
from dialer.engine.calls import CallDesk
from dialer.engine.dispatch import AdminDispatcher
from dialer.engine.eventlog import EventLog
from dialer.engine.inbound import InboundDesk
from dialer.engine.intake import Intake
from dialer.engine.pacer import TrunkPacer
from dialer.engine.runner import FlowBasics
from dialer.engine.sms import SmsSender
from dialer.settings import Settings, parse_settings
from dialer.storage import schema
from dialer.storage.repository import Storage

EPOCH = 1795600746
NOW = datetime.fromtimestamp(EPOCH + 60, UTC)
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class NoTelephony:
    """Nothing is to be dialled here: every request is refused, and counted."""

    def __init__(self) -> None:
        self.requests = 0

    async def originate(self, request: OriginateRequest) -> None:
        self.requests += 1
        raise TelephonyUnavailable("no dialling in this test")

    async def live_channels(self) -> dict[str, LiveChannel]:
        self.requests += 1
        raise TelephonyUnavailable("no dialling in this test")

    async def recorded_outcome(self, attempt_id: str) -> RecordedOutcome | None:
        self.requests += 1
        raise TelephonyUnavailable("no dialling in this test")

    async def forget_outcome(self, attempt_id: str) -> None:
        self.requests += 1
        raise TelephonyUnavailable("no dialling in this test")

    async def redirect(self, channel: str, context: str) -> None:
        self.requests += 1
        raise TelephonyUnavailable("no dialling in this test")

    async def queue_status(self) -> list[dict[str, str]]:
        self.requests += 1
        raise TelephonyUnavailable("no dialling in this test")


class Wire(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


class Link:
    """What AmiProtocol needs of its AmiConnection: where events go, the names read whole (as the service's link
    has them), no recorder, and a close hook."""

    def __init__(self, sink: object, reads: frozenset[str]) -> None:
        self.sink = sink
        self.reads = reads
        self.recorder = None
        self.lost: list[Exception | None] = []

    def link_closed(self, protocol: AmiProtocol, exc: Exception | None) -> None:
        self.lost.append(exc)


@dataclass
class Service:
    settings: Settings
    storage: Storage
    intake: Intake
    protocol: AmiProtocol
    wire: Wire
    inbound: InboundDesk
    callbacks: CallbackFlow
    telephony: NoTelephony

    def receive(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.protocol.data_received(chunk)

    async def settle(self) -> None:
        """Hand every inbound fact to the desk, as its run() loop would (but letting errors out); then plan the
        open callbacks, as the callbacks' loop does on taking up the work."""
        while not self.intake.inbound_facts.empty():
            await self.inbound.handle(self.intake.inbound_facts.get_nowait())
        await self.callbacks.resume()

    async def calls(self) -> dict[str, dict[str, object]]:
        async with self.storage.engine.connect() as conn:
            rows = (await conn.execute(select(schema.inbound_calls))).mappings().all()
        return {str(r["call_id"]): dict(r) for r in rows}

    async def task_rows(self) -> list[dict[str, object]]:
        async with self.storage.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(select(schema.callback_tasks))).mappings().all()]

    async def due_rows(self) -> int:
        async with self.storage.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(schema.due_tasks)) or 0)


SETTINGS = {
    "clinics": [{"id": "c1", "name": "Клиника на Ленина", "timezone": "Europe/Moscow", "dids": ["100"]}],
    "inbound": {"contexts": ["clinic-inbound"]},
}


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[Service]:
    settings = parse_settings(SETTINGS)
    storage = await Storage.open(database_url)
    clock = FakeClock(NOW)
    await storage.sync_clinics(
        [(c.id, c.name, c.timezone.key) for c in settings.clinics.values()], clock.now()
    )
    tracker = InboundTracker(settings.inbound.contexts, settings.inbound.staff_contexts)
    intake = Intake(
        CallTracker(is_attempt_id=lambda uid: uid.startswith("callback:")), clock.now, inbound=tracker
    )
    telephony = NoTelephony()
    desk = CallDesk(
        telephony=telephony,
        attempts=storage.attempts,
        intake=intake,
        clock=clock,
        pacers={
            name: TrunkPacer(name, t.max_channels, t.calls_per_second, clock)
            for name, t in settings.trunks.items()
        },
        events=EventLog(storage.attempts, clock),
        installation="",
    )
    sms = SmsSender(gateway=None, store=storage.sms, clock=clock, callback_url=lambda key: None)
    callbacks = CallbackFlow(
        basics=FlowBasics(
            settings=settings,
            attempts=storage.attempts,
            due=storage.due,
            desk=desk,
            clock=clock,
            wake=lambda: None,  # no due-task worker in this test
        ),
        tasks=storage.callbacks,
        dispatcher=AdminDispatcher(intake.queues, clock, intake.queues_changed),
        sms=sms,
    )
    desk.register(callbacks, callbacks.campaigns)
    inbound = InboundDesk(
        settings=settings, intake=intake, store=storage.inbound, callbacks=callbacks, clock=clock
    )
    wire = Wire()
    protocol = AmiProtocol(Link(intake.feed, intake.read))  # type: ignore[arg-type]
    protocol.connection_made(wire)
    try:
        yield Service(settings, storage, intake, protocol, wire, inbound, callbacks, telephony)
    finally:
        await storage.close()


# AMI bytes -------------------------------------------------------------------------------------------------


def frame(event: Frame) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in event.items()).encode() + b"\r\n"


@dataclass(frozen=True)
class Call:
    seq: int
    caller: str
    start: int

    @property
    def linkedid(self) -> str:
        return f"{EPOCH}.{self.seq}"

    def uid(self, leg: int) -> str:
        return self.linkedid if leg == 1 else f"{EPOCH}.{self.seq + leg - 1}"

    def ev(self, name: str, leg: int, offset: int, **extra: str) -> Frame:
        ctx = "clinic-inbound" if leg <= 2 else "sandbox-agents"
        return {
            "Event": name,
            "Privilege": "call,all",
            "Timestamp": f"{EPOCH + self.start + offset}.000100",
            "Channel": f"Local/100@{ctx}-{self.seq:08x};{1 if leg in (1, 3) else 2}",
            "ChannelState": "6",
            "ChannelStateDesc": "Up",
            "CallerIDNum": self.caller if offset else "<unknown>",
            "CallerIDName": "<unknown>",
            "Language": "ru",
            "Context": ctx,
            "Exten": "100" if leg <= 2 else "admin1",
            "Priority": "1",
            "Uniqueid": self.uid(leg),
            "Linkedid": self.linkedid,
            **extra,
        }

    def agent(self, name: str, offset: int, **extra: str) -> Frame:
        return {
            **self.ev(name, 2, offset),
            "DestChannel": f"Local/admin1@sandbox-agents-{self.seq:08x};1",
            "DestUniqueid": self.uid(3),
            "DestLinkedid": self.linkedid,
            "DestContext": "sandbox-agents",
            "Queue": "reception",
            "Interface": "Local/admin1@sandbox-agents",
            "MemberName": "Администратор Иванова",
            **extra,
        }

    def arrive(self) -> list[Frame]:
        return [self.ev("Newchannel", 1, 0), self.ev("Newchannel", 2, 0)]

    def join(self) -> Frame:
        return self.ev("QueueCallerJoin", 2, 4, Queue="reception", Position="1", Count="1")

    def ring(self) -> list[Frame]:
        return [
            self.agent("AgentCalled", 4),
            self.ev("Newchannel", 3, 4),
            self.ev("Newchannel", 4, 4),
            self.agent("DialBegin", 4, DialString="admin1@sandbox-agents"),
        ]


A = Call(1735, "79161110002", 40)  # abandons: the one real missed call
B = Call(1726, "79161110001", 0)  # answered by an administrator
C = Call(1740, "<unknown>", 50)  # hidden number, hangs up in the IVR


def answered(c: Call) -> list[Frame]:
    return [
        *c.arrive(),
        c.join(),
        *c.ring(),
        c.agent("DialEnd", 5, DialStatus="ANSWER"),
        c.ev("QueueCallerLeave", 2, 5, Queue="reception", Count="0", Position="1"),
        c.agent("AgentConnect", 5, HoldTime="1", RingTime="1", BridgedChannel=c.uid(3)),
        c.agent("AgentComplete", 15, HoldTime="1", TalkTime="10", Reason="caller"),
        c.ev("Hangup", 3, 15, Cause="16"),
        c.ev("Hangup", 4, 15, Cause="16"),
        c.ev("Hangup", 1, 15, Cause="16"),
        c.ev("Hangup", 2, 15, Cause="16"),
    ]


def abandoned_shuffled(c: Call) -> list[Frame]:
    """An abandon with its events duplicated and out of the usual order, then replayed after the end."""
    newchannel1, newchannel2 = c.arrive()
    called, agent1, agent2, dial = c.ring()
    join = c.join()
    hangup1 = c.ev("Hangup", 1, 6, Cause="0")
    hangup2 = c.ev("Hangup", 2, 6, Cause="16")
    abandon = c.ev(
        "QueueCallerAbandon", 2, 6, Queue="reception", Position="1", OriginalPosition="1", HoldTime="2"
    )
    cancel = c.agent("DialEnd", 6, DialStatus="CANCEL")
    return [
        newchannel2,  # the ;2 leg reported first
        newchannel1,
        newchannel1,
        join,
        called,
        join,
        agent2,
        dial,
        agent1,
        called,
        cancel,  # the dial cancelled before the caller's hangup shows
        hangup1,
        cancel,
        hangup2,  # the last inbound channel is gone before the queue says it was abandoned
        abandon,
        c.ev("QueueCallerLeave", 2, 6, Queue="reception", Count="0", Position="1"),
        c.ev("Hangup", 3, 6, Cause="16"),
        c.ev("Hangup", 4, 6, Cause="16"),
        # Replayed late: nothing may come back to life.
        hangup2,
        newchannel1,
        join,
        abandon,
        hangup1,
    ]


def ivr_hangup(c: Call) -> list[Frame]:
    return [*c.arrive(), c.ev("Hangup", 1, 2, Cause="0"), c.ev("Hangup", 2, 2, Cause="16")]


GARBAGE: list[bytes] = [
    b"\x00\xff\xfe\x80 not AMI at all \xd0\r\n\r\n",
    b"\r\n\r\n\r\n\r\n",
    b"Event: Newchannel\r\n\r\n",  # every header but the name missing
    b"Uniqueid: 1795600746.1735\r\nLinkedid: 1795600746.1735\r\n\r\n",  # no Event
    b"Event: QueueCallerJoin\r\nUniqueid: 17956\r\n\r\n",  # cut short
    b"Event: Hangup\r\nUniqueid: 1795600746.9999\r\nLinkedid: 1795600746.9999\r\nCause: 16\r\n\r\n",  # unknown
    b"Event: QueueCallerAbandon\r\nUniqueid: 1795600746.9998\r\nQueue: reception\r\n\r\n",  # no Linkedid
    b"Event: DialEnd\r\nUniqueid: \r\nLinkedid: \r\nDialStatus: ANSWER\r\n\r\n",
    b"Event: AgentConnect\r\nLinkedid: 1795600746.9997\r\nContext: sandbox-agents\r\nUniqueid: 1.2\r\n\r\n",
    b"Event: SomethingNewInAsterisk23\r\nFoo: bar\r\nBaz\r\n:\r\n: value\r\nNoSpace:x\r\n\r\n",
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 12\r\nLastReload: 12\r\nStatus: Fully Booted\r\n\r\n",
    b"Event: VarSet\r\nVariable: QUEUESTATUS\r\nValue: ABANDON\r\n\r\n",
    b"Response: Success\r\nActionID: nobody-asked\r\nMessage: Pong\r\n\r\n",  # an answer to no action of ours
    b"Event: Newchannel\r\nUniqueid: 1795600746.9996\r\nLinkedid: 1795600746.9996\r\nContext: other\r\n\r\n",
    b"Event: UserEvent\r\nUserEvent: DialerQueueExit\r\nStatus: TIMEOUT\r\n\r\n",
    b"Event: Hangup\r\nTimestamp: 1e400\r\nUniqueid: x\r\nLinkedid: x\r\n\r\n",
    b"Event: Newchannel\r\nCallerIDName: \xd0\xb8\xd0\r\nContext: \xff\r\n\r\n",  # broken UTF-8
    b"Event: VarSet\r\nValue: " + b"x" * 20_000 + b"\r\n\r\n",
]
TAIL = b"Event: Hangup\r\nUniqueid: 1795600746.17"  # the link drops mid-frame: never completed


def stream() -> bytes:
    calls = [(B, answered(B)), (A, abandoned_shuffled(A)), (C, ivr_hangup(C))]
    merged: list[bytes] = []
    queues = [[frame(e) for e in events] for _, events in calls]
    rng = random.Random(7)
    garbage = list(GARBAGE)
    while any(queues):
        if garbage and rng.random() < 0.3:
            merged.append(garbage.pop())
        q = rng.choice([q for q in queues if q])
        merged.append(q.pop(0))
    return BANNER + b"".join(merged + garbage) + TAIL


def chunked(data: bytes, how: str | int) -> Iterator[bytes]:
    if how == "whole":
        yield data
    elif how == "bytes":
        yield from (data[i : i + 1] for i in range(len(data)))
    else:
        rng = random.Random(how)
        i = 0
        while i < len(data):
            n = rng.choice([1, 2, 3, 7, 64, 500, 1500, 4096])
            yield data[i : i + n]
            i += n


async def assert_only_the_real_calls(svc: Service) -> None:
    calls = await svc.calls()
    assert sorted(calls) == sorted([A.linkedid, B.linkedid, C.linkedid]), sorted(calls)
    a, b, c = calls[A.linkedid], calls[B.linkedid], calls[C.linkedid]
    assert (a["miss_reason"], a["caller"], a["queue"], a["clinic_id"], a["hidden"]) == (
        "abandoned",
        "+79161110002",
        "reception",
        "c1",
        False,
    )
    assert a["task_id"] is not None
    assert (b["miss_reason"], b["caller"], b["answered_by"]) == (
        None,
        "+79161110001",
        "Local/admin1@sandbox-agents",
    )
    assert (c["miss_reason"], c["caller"], c["hidden"], c["task_id"]) == ("ivr_hangup", "", True, None)

    (task,) = await svc.task_rows()
    assert (task["phone"], task["state"], task["reason"], task["missed_count"], task["task_id"]) == (
        "+79161110002",
        "open",
        "abandoned",
        1,
        a["task_id"],
    )
    assert task["first_call_id"] == A.linkedid
    assert await svc.due_rows() == 1  # attempt 1 of that one callback, and nothing else
    assert svc.telephony.requests == 0
    assert svc.intake.inbound is not None and svc.intake.inbound.live_calls == 0


@pytest.mark.parametrize("how", ["whole", "bytes", 1, 2, 3, 4])
async def test_garbage_around_real_calls_makes_one_task_for_the_one_real_miss(
    service: Service, how: str | int
) -> None:
    service.receive(list(chunked(stream(), how)))
    await service.settle()
    await assert_only_the_real_calls(service)
    assert not service.wire.closed


async def test_the_same_stream_twice_adds_nothing(service: Service) -> None:
    data = stream()
    service.receive([data[: -len(TAIL)]])
    await service.settle()
    service.receive([b"\r\n\r\n", data[len(BANNER) : -len(TAIL)]])  # the same events again, on the same link
    await service.settle()
    await assert_only_the_real_calls(service)


async def test_frames_missing_their_linkedid_make_no_phantom_call(service: Service) -> None:
    """A damaged Newchannel/Hangup pair without Linkedid headers, in the inbound context and with a caller id:
    no call can be told from that, so nothing is stored and nobody is called back. (The tracker's own handling
    of it is test_inbound.py's test_a_channel_without_a_linkedid_is_no_call.)"""
    damaged = [
        {"Event": "Newchannel", "Uniqueid": f"{EPOCH}.1900", "Context": "clinic-inbound", "Exten": "100",
         "CallerIDNum": "79161119999"},
        {"Event": "Hangup", "Uniqueid": f"{EPOCH}.1900", "Context": "clinic-inbound", "Exten": "100",
         "CallerIDNum": "79161119999", "Cause": "16"},
    ]  # fmt: skip
    service.receive([BANNER, *(frame(e) for e in damaged)])
    await service.settle()
    assert await service.calls() == {}
    assert await service.task_rows() == []


async def test_a_garbage_number_in_a_queue_frame_does_not_stop_the_intake(service: Service) -> None:
    """Intake.feed also feeds the live queue state; a number no clock can hold in a QueueCallerJoin's Wait must
    not raise out of data_received (asyncio would close the AMI link) nor lose the events behind it."""
    bad = A.join() | {"Wait": "99999999999999999999"}
    events = [*A.arrive(), bad, *abandoned_shuffled(A)[3:]]
    chunks = [BANNER, *(frame(e) for e in events)]
    service.receive(chunks)
    await service.settle()
    assert A.linkedid in await service.calls()
    assert len(await service.task_rows()) == 1
