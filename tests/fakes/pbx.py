"""A Telephony port that plays Asterisk's part for the engine-flow tests, on the test's FakeClock.

Each Originate runs the dialplan context it names (config/asterisk/extensions_dialer.conf) against a simulated
patient and the clinic's administrators, and sends the AMI events Asterisk 22 sends for it (the sequences
tests/unit/test_tracker.py and tests/unit/test_inbound.py record) to the service's `Intake.feed`, so the real
trackers make the call facts. The hangup handler's AstDB record and the live channel list are kept too, for
reconciliation. Events sent while the link is down are lost, as they would be.

Patients behave like people, not like the service's internals: they answer after some ringing, press a key
during the menu, are busy, or never answer. Nothing here reads the service's state to time what it does.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialer.core.clock import FakeClock
from dialer.core.ports import (
    LiveChannel,
    OriginateRejected,
    OriginateRequest,
    RecordedOutcome,
    TelephonyUnavailable,
)
from dialer.core.queues import INUSE, NOT_INUSE, RINGING

Event = dict[str, str]
Hook = Callable[[], Awaitable[None]]
EPOCH = 1795600000
FAST_FAILURES = {1: 0, 34: 8}  # hangup cause -> OriginateResponse Reason, as seen on Asterisk 22


@dataclass(frozen=True)
class Patient:
    """What one call to a patient does."""

    answers: bool = False
    answer_after: float = 7.0  # seconds of ringing before they pick up
    busy: bool = False
    cause: int = 19  # when they do not answer: 19 rings out, 1 the number does not exist, 34 congestion
    digit: str = ""  # the key they press in the menu; "" none; two keys are a quick pair, the first one taken
    press_after: float = 9.0  # seconds after answering: during the greeting, as real patients do
    talk: float = 40.0  # once through to a person (a callback, a progressive call, key 3)


NO_ANSWER = Patient()
BUSY = Patient(busy=True)
ANSWERS = Patient(answers=True)
UNALLOCATED = Patient(cause=1)


def presses(digit: str, answer_after: float = 7.0) -> Patient:
    return Patient(answers=True, digit=digit, answer_after=answer_after)


@dataclass
class Admin:
    """An administrator's phone, a member of the clinic's queue."""

    interface: str
    name: str
    queue: str = "reception"
    status: int = NOT_INUSE
    picks_up_after: float | None = 3.0  # None: lets a dialer's ring ring out


@dataclass(frozen=True)
class Originated:
    at: datetime
    request: OriginateRequest


@dataclass(frozen=True)
class Refused:
    at: datetime
    request: OriginateRequest
    why: str


@dataclass
class _Leg:
    uniqueid: str
    channel: str
    state: str = "Down"


@dataclass
class _Call:
    """One originated call's channels and what its hangup handler will record."""

    attempt_id: str
    legs: list[_Leg] = field(default_factory=list)
    stage: str = ""
    digit: str = ""


def number_of(dial: str) -> str:
    """The patient's E.164 number in a dial string such as Local/79161234567@patients."""
    return "+" + dial.split("/", 1)[-1].split("@", 1)[0]


class FakeAsterisk:
    """The engine's Telephony port, with Asterisk behind it played by the test."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sinks: list[Callable[[Event], None]] = []
        self.on_up: list[Hook] = []
        self.on_down: list[Hook] = []
        self.linked = True
        self.patients: dict[str, list[Patient]] = {}  # E.164 -> one behaviour per call; the last repeats
        self.admins: dict[str, Admin] = {}
        self.originates: list[Originated] = []
        self.refused: list[Refused] = []
        self.before_send: list[Callable[[OriginateRequest], None]] = []
        self.reject_next: str | None = None  # Asterisk answers the next Originate with this error
        self.drop_link_on_next_originate = False  # the link goes before the next Originate could be sent
        self.drop_link_after_next_send = False  # the next Originate goes out, then the link drops
        self.lose_next_originate = False  # the next Originate is lost with the link, never reaching Asterisk
        self.channel_late_by = 0.0  # a loaded Asterisk: the next Originate becomes a channel this much later
        self.lost: list[Originated] = []
        self.astdb: dict[str, RecordedOutcome] = {}
        self.forgotten: list[str] = []
        self.redirected: list[tuple[str, str]] = []
        self.waiting: dict[str, dict[str, datetime]] = {}  # queue -> caller uniqueid -> joined
        self._live: dict[str, _Leg] = {}
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()

    # -- the test's controls ---------------------------------------------------------------------

    def patient(self, phone: str, *calls: Patient) -> None:
        self.patients[phone] = list(calls)

    def admin(self, interface: str, name: str, status: int = NOT_INUSE, **kw: Any) -> Admin:
        self.admins[interface] = admin = Admin(interface, name, status=status, **kw)
        return admin

    def set_status(self, interface: str, status: int) -> None:
        """The administrator's phone changes state (a call of their own, hanging up): QueueMemberStatus."""
        admin = self.admins[interface]
        admin.status = status
        self._emit(self._member_event("QueueMemberStatus", admin))

    def drop_link(self) -> None:
        """The AMI link goes; the connection's on_down hooks run in its own task, as AmiConnection runs them."""
        self.linked = False
        self._spawn(self._run_hooks(self.on_down))

    def restore_link(self) -> None:
        """The AMI link is back; the on_up hooks (reconciliation) run in the connection's task."""
        self.linked = True
        self._spawn(self._run_hooks(self.on_up))

    def live_channel_ids(self) -> list[str]:
        return list(self._live)

    def originated_ids(self) -> list[str]:
        return [o.request.attempt_id for o in self.originates]

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the link (PbxLink): it goes and comes back by drop_link and restore_link ----------------

    def subscribe(self, *, on_up: Hook, on_down: Hook) -> None:
        self.on_up.append(on_up)
        self.on_down.append(on_down)

    @property
    def connected(self) -> bool:
        return self.linked

    async def run(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()

    # -- the Telephony port ----------------------------------------------------------------------

    async def originate(self, request: OriginateRequest) -> None:
        now = self.clock.now()
        if self.drop_link_on_next_originate:
            self.drop_link_on_next_originate = False
            self.drop_link()
        if not self.linked:
            self.refused.append(Refused(now, request, "no AMI link"))
            raise TelephonyUnavailable("no AMI link")
        for hook in self.before_send:
            hook(request)
        if self.reject_next is not None:
            why, self.reject_next = self.reject_next, None
            self.refused.append(Refused(now, request, why))
            raise OriginateRejected(f"Originate: {why}")
        if self.lose_next_originate:
            # Written to a socket that was already dead: Asterisk never got it. AmiTelephony returns as if sent.
            self.lose_next_originate = False
            self.lost.append(Originated(now, request))
            self.drop_link()
            return
        self.originates.append(Originated(now, request))
        late, self.channel_late_by = self.channel_late_by, 0.0
        self._spawn(self._dialplan(request, late))
        if self.drop_link_after_next_send:
            # Sent; the answer is lost with the link. AmiTelephony then returns without raising.
            self.drop_link_after_next_send = False
            self.drop_link()

    async def live_channels(self) -> dict[str, LiveChannel]:
        self._require_link()
        return {u: LiveChannel(u, leg.channel, leg.state) for u, leg in self._live.items()}

    async def recorded_outcome(self, attempt_id: str) -> RecordedOutcome | None:
        self._require_link()
        return self.astdb.get(attempt_id)

    async def forget_outcome(self, attempt_id: str) -> None:
        self._require_link()
        self.astdb.pop(attempt_id, None)
        self.forgotten.append(attempt_id)

    async def redirect(self, channel: str, context: str) -> None:
        self._require_link()
        self.redirected.append((channel, context))

    async def queue_status(self) -> list[dict[str, str]]:
        self._require_link()
        members = [self._member_event("QueueMember", a) for a in self.admins.values()]
        now = self.clock.now()
        entries = [
            {"Event": "QueueEntry", "Queue": q, "Uniqueid": u, "Wait": str(int((now - at).total_seconds()))}
            for q, callers in self.waiting.items()
            for u, at in callers.items()
        ]
        return members + entries

    def _require_link(self) -> None:
        if not self.linked:
            raise TelephonyUnavailable("no AMI link")

    # -- plumbing --------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run_hooks(hooks: list[Hook]) -> None:
        for hook in hooks:
            await hook()

    def _emit(self, event: Event) -> None:
        if self.linked:  # with the link down the frame is lost, as on a real socket
            for sink in self.sinks:
                sink(dict(event))

    def _next_patient(self, phone: str) -> Patient:
        calls = self.patients.get(phone)
        if not calls:
            return NO_ANSWER
        return calls.pop(0) if len(calls) > 1 else calls[0]

    def _uid(self) -> str:
        return f"{EPOCH}.{next(self._seq)}"

    @staticmethod
    def _member_event(kind: str, admin: Admin) -> Event:
        return {
            "Event": kind,
            "Queue": admin.queue,
            "MemberName": admin.name,
            "Interface": admin.interface,
            "StateInterface": admin.interface,
            "Status": str(admin.status),
            "Paused": "0",
        }

    def _channel(self, call: _Call, uniqueid: str, channel: str, context: str, exten: str) -> _Leg:
        leg = _Leg(uniqueid, channel)
        call.legs.append(leg)
        self._live[uniqueid] = leg
        self._emit(
            {
                "Event": "Newchannel",
                "Channel": channel,
                "ChannelState": "0",
                "ChannelStateDesc": "Down",
                "CallerIDNum": "",
                "Context": context,
                "Exten": exten,
                "Uniqueid": uniqueid,
                "Linkedid": call.attempt_id,
            }
        )
        return leg

    def _up(self, leg: _Leg, call: _Call) -> None:
        leg.state = "Up"
        self._emit(
            {
                "Event": "Newstate",
                "Channel": leg.channel,
                "ChannelState": "6",
                "ChannelStateDesc": "Up",
                "Uniqueid": leg.uniqueid,
                "Linkedid": call.attempt_id,
            }
        )

    def _originate_response(self, call: _Call, channel: str, response: str, reason: int) -> None:
        self._emit(
            {
                "Event": "OriginateResponse",
                "ActionID": f"originate/{call.attempt_id}",
                "Response": response,
                "Channel": channel,
                "Reason": str(reason),
                "Uniqueid": call.attempt_id,
            }
        )

    def _user_event(self, leg: _Leg, call: _Call, kind: str, **headers: str) -> None:
        self._emit(
            {
                "Event": "UserEvent",
                "Channel": leg.channel,
                "Uniqueid": leg.uniqueid,
                "Linkedid": call.attempt_id,
                "UserEvent": kind,
                "AttemptId": call.attempt_id,
                **headers,
            }
        )

    def _hangup(self, leg: _Leg, call: _Call, cause: int) -> None:
        self._live.pop(leg.uniqueid, None)
        if leg.uniqueid == call.attempt_id:
            # The dialplan's hangup handler on the originated channel (dialer-hangup).
            self.astdb[call.attempt_id] = RecordedOutcome(cause, call.stage, call.digit)
        self._emit(
            {
                "Event": "Hangup",
                "Channel": leg.channel,
                "Uniqueid": leg.uniqueid,
                "Linkedid": call.attempt_id,
                "Cause": str(cause),
                "Cause-txt": "",
            }
        )

    def _queue(self, kind: str, leg: _Leg, queue: str) -> None:
        if kind == "QueueCallerJoin":
            self.waiting.setdefault(queue, {})[leg.uniqueid] = self.clock.now()
        else:
            self.waiting.get(queue, {}).pop(leg.uniqueid, None)
        self._emit({"Event": kind, "Queue": queue, "Channel": leg.channel, "Uniqueid": leg.uniqueid})

    async def _wait(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    # -- the dialplan ----------------------------------------------------------------------------

    async def _dialplan(self, request: OriginateRequest, late: float = 0.0) -> None:
        if late:
            await self.clock.sleep(late)
        contexts: dict[str, Callable[[OriginateRequest], Coroutine[Any, Any, None]]] = {
            "dialer-reminder": self._reminder,
            "dialer-callback": self._callback_admin_first,
            "dialer-callback-auto": self._callback_auto,
            "dialer-progressive": self._progressive,
        }
        await contexts[request.context](request)

    def _patient_legs(self, request: OriginateRequest) -> tuple[_Call, _Leg, _Leg]:
        """A Local channel to the patient: ;1 runs our context, ;2 rings the patient."""
        call = _Call(request.attempt_id)
        name = request.channel + f"-{next(self._seq):08x}"
        first = self._channel(call, request.attempt_id, f"{name};1", request.context, "s")
        second = self._channel(call, f"{request.attempt_id};2", f"{name};2", "patients", "s")
        return call, first, second

    async def _reached(self, request: OriginateRequest, patient: Patient) -> tuple[_Call, _Leg, _Leg] | None:
        """Ring the patient; the call's channels when they answer, None when the call failed (ended here)."""
        call, first, second = self._patient_legs(request)
        ring_for = request.timeout_ms / 1000
        if patient.busy:
            await self._wait(2)
            self._hangup(second, call, 17)
            self._originate_response(call, first.channel, "Failure", 5)
            self._hangup(first, call, 17)
            return None
        if patient.cause in FAST_FAILURES:
            await self._wait(1)  # the network answers at once: no such number, or no circuit
            self._originate_response(call, first.channel, "Failure", FAST_FAILURES[patient.cause])
            self._hangup(second, call, patient.cause)
            self._hangup(first, call, patient.cause)
            return None
        if not patient.answers or patient.answer_after >= ring_for:
            await self._wait(ring_for)
            self._originate_response(call, first.channel, "Failure", 3)
            self._hangup(second, call, patient.cause)
            self._hangup(first, call, patient.cause)
            return None
        await self._wait(patient.answer_after)
        self._up(first, call)
        self._up(second, call)
        self._originate_response(call, first.channel, "Success", 4)
        return call, first, second

    async def _reminder(self, request: OriginateRequest) -> None:
        patient = self._next_patient(number_of(request.channel))
        reached = await self._reached(request, patient)
        if reached is None:
            return
        call, first, second = reached
        call.stage = "intro"
        if patient.digit:
            await self._wait(patient.press_after)
            taken, quick = patient.digit[0], patient.digit[1:]
            call.digit = taken
            call.stage = {"1": "confirmed", "2": "cancelled", "3": "queue"}.get(taken, "menu")
            self._user_event(first, call, "DialerDigit", Digit=taken)
            for extra in quick:
                self._user_event(first, call, "DialerDigitIgnored", Digit=extra, Taken=taken)
            await self._wait(patient.talk if taken == "3" else 4)
        else:
            await self._wait(15)  # the greeting, then the menu twice with its timeouts
            call.stage = "no_digit"
        self._hangup(second, call, 16)
        self._hangup(first, call, 16)

    async def _callback_admin_first(self, request: OriginateRequest) -> None:
        """dialer-callback: the administrator's phone rings first; picking up, they hear the patient dialled."""
        admin = self.admins[request.channel]
        call = _Call(request.attempt_id)
        first = self._channel(
            call, request.attempt_id, f"{admin.interface}-{next(self._seq):08x}", "dialer-callback", "s"
        )
        self.set_status(admin.interface, RINGING)
        ring_for = request.timeout_ms / 1000
        if admin.picks_up_after is None or admin.picks_up_after >= ring_for:
            await self._wait(ring_for)
            self._originate_response(call, first.channel, "Failure", 3)
            self._hangup(first, call, 19)
            self.set_status(admin.interface, NOT_INUSE)
            return
        await self._wait(admin.picks_up_after)
        self._up(first, call)
        self._originate_response(call, first.channel, "Success", 4)
        self.set_status(admin.interface, INUSE)
        call.stage = "patient"
        dial = request.variables["DIALER_PATIENT_DIAL"]
        patient = self._next_patient(number_of(dial))
        leg = self._channel(call, self._uid(), f"{dial}-{next(self._seq):08x};1", "patients", "s")
        ring_for = float(request.variables["DIALER_RING_SECONDS"])
        if patient.busy:
            await self._wait(2)
            status, cause = "BUSY", 17
        elif not patient.answers or patient.answer_after >= ring_for:
            await self._wait(ring_for)
            status, cause = "NOANSWER", 19
        else:
            await self._wait(patient.answer_after)
            self._up(leg, call)
            call.digit = "ANSWER"
            self._user_event(leg, call, "DialerCallback", DialStatus="ANSWER")
            await self._wait(patient.talk)
            status, cause = "", 16
        if status:
            call.digit = status
            self._user_event(first, call, "DialerCallback", DialStatus=status)
        self._hangup(leg, call, cause)
        self._hangup(first, call, 16)
        self.set_status(admin.interface, NOT_INUSE)

    async def _callback_auto(self, request: OriginateRequest) -> None:
        """dialer-callback-auto: the patient first; answering, they wait at the head of the queue."""
        patient = self._next_patient(number_of(request.channel))
        reached = await self._reached(request, patient)
        if reached is None:
            return
        call, first, second = reached
        call.stage, call.digit = "queue", "ANSWER"
        self._user_event(first, call, "DialerCallback", DialStatus="ANSWER")
        queue = request.variables.get("DIALER_QUEUE") or "reception"
        self._queue("QueueCallerJoin", first, queue)
        await self._wait(patient.talk)
        self._queue("QueueCallerAbandon", first, queue)
        self._queue("QueueCallerLeave", first, queue)
        self._hangup(second, call, 16)
        self._hangup(first, call, 16)

    async def _progressive(self, request: OriginateRequest) -> None:
        """dialer-progressive: the answered patient waits DIALER_WAIT seconds for a free administrator."""
        patient = self._next_patient(number_of(request.channel))
        reached = await self._reached(request, patient)
        if reached is None:
            return
        call, first, second = reached
        call.stage = "queue"
        queue = request.variables["DIALER_QUEUE"]
        wait = float(request.variables["DIALER_WAIT"])
        self._queue("QueueCallerJoin", first, queue)
        free = [a for a in self.admins.values() if a.queue == queue and a.status == NOT_INUSE]
        admin = free[0] if free else None
        if admin is not None:
            self.set_status(admin.interface, RINGING)
        if admin is None or admin.picks_up_after is None or admin.picks_up_after >= wait:
            await self._wait(wait)
            if admin is not None:
                self.set_status(admin.interface, NOT_INUSE)
            self._queue("QueueCallerLeave", first, queue)
            call.stage, call.digit = "dropped", "DROPPED"
            self._user_event(first, call, "DialerCallback", DialStatus="DROPPED")
            await self._wait(3)  # the apology
        else:
            await self._wait(admin.picks_up_after)
            agent = _Leg(self._uid(), f"{admin.interface}-{next(self._seq):08x}")
            call.digit = "CONNECTED"
            self._user_event(agent, call, "DialerCallback", DialStatus="CONNECTED", Member=admin.interface)
            self._queue("QueueCallerLeave", first, queue)
            self.set_status(admin.interface, INUSE)
            await self._wait(patient.talk)
            self.set_status(admin.interface, NOT_INUSE)
        self._hangup(second, call, 16)
        self._hangup(first, call, 16)

    # -- inbound calls ---------------------------------------------------------------------------

    def call_in(self, caller: str, did: str, *, queue: str = "reception", gives_up_after: float) -> str:
        """A patient calls the clinic and waits in the queue; nobody free picks up, so they hang up."""
        uniqueid = self._uid()
        self._spawn(self._abandoned(uniqueid, caller, did, queue, gives_up_after))
        return uniqueid

    async def _abandoned(
        self, uniqueid: str, caller: str, did: str, queue: str, gives_up_after: float
    ) -> None:
        call = _Call(uniqueid)
        leg = self._channel(call, uniqueid, f"PJSIP/trunk-{next(self._seq):08x}", "clinic-inbound", did)
        await self._wait(3)  # the greeting
        self._emit(
            {
                "Event": "QueueCallerJoin",
                "Queue": queue,
                "Channel": leg.channel,
                "CallerIDNum": caller.lstrip("+"),
                "Context": "clinic-inbound",
                "Uniqueid": uniqueid,
                "Linkedid": uniqueid,
                "Position": "1",
                "Count": "1",
            }
        )
        self.waiting.setdefault(queue, {})[uniqueid] = self.clock.now()
        await self._wait(gives_up_after)
        self.waiting[queue].pop(uniqueid, None)
        for kind in ("QueueCallerAbandon", "QueueCallerLeave"):
            self._emit(
                {
                    "Event": kind,
                    "Queue": queue,
                    "Channel": leg.channel,
                    "Uniqueid": uniqueid,
                    "Linkedid": uniqueid,
                }
            )
        self._live.pop(uniqueid, None)
        self._emit(
            {
                "Event": "Hangup",
                "Channel": leg.channel,
                "CallerIDNum": caller.lstrip("+"),
                "Uniqueid": uniqueid,
                "Linkedid": uniqueid,
                "Cause": "16",
            }
        )
