"""One AMI connection, on dialer's own protocol: frames parsed in bytes, nothing resent, every event delivered.

panoramisk 1.4's Manager and its AMIProtocol do not do what a dialer needs (design.md, "panoramisk 1.4"): they
resend unanswered actions after a reconnect (a lost Originate response would call the patient twice), hand an
async Originate's OriginateResponse to the action instead of the event callbacks, decode the stream per TCP chunk
(a Cyrillic name cut between two reads loses a character), never notice a dead link and loop forever on bad
credentials. Those behaviours sit in their private parts, so instead of switching them off in subclasses this
module owns the session: `AmiProtocol` cuts frames with the project's `FrameParser`, matches answers to actions by
ActionID, sends every event (OriginateResponse included) to the intake and fails, never resends, what was
pending when the link went; `AmiConnection` logs in, reconnects with backoff and jitter, pings to find a dead
link and stops on a refused login. From panoramisk it keeps two public classes: `Action` (an action's wire form,
its ActionID, and when its answer is complete, lists included) and `Message` (an answer, keys in any case).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import IO, Any, Protocol, cast

from panoramisk.actions import Action
from panoramisk.message import Message

from dialer.ami.parser import Frame, FrameParser, FrameTooLarge
from dialer.core.clock import Clock, SystemClock
from dialer.core.errors import PeerFailed, ServiceStop
from dialer.core.privacy import describe_error
from dialer.core.tracker import ORIGINATE_RESPONSE_ELSEWHERE

log = logging.getLogger("dialer.ami")

EventSink = Callable[[Frame], None]
LinkHook = Callable[[], Awaitable[None]]


def reconnect_delay(failures: int, max_delay: float, jitter: float) -> float:
    """Exponential backoff from 0.5 s, capped, spread by ±50 % so many services don't reconnect in step."""
    base: float = 0.25 * 2.0 ** min(failures, 10)
    return min(max_delay, base) * (0.5 + jitter)


class AmiAuthError(ServiceStop):
    """Asterisk refused the login. Retrying cannot help, so this is final: the service stops."""


class AmiLinkLost(PeerFailed):
    """The link went down before Asterisk answered this action. It was NOT resent."""


class AmiActionError(PeerFailed):
    """Asterisk answered an action with Response: Error."""


class Wire(Protocol):
    """What the protocol needs of its transport: a socket's, or a test's stand-in."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class AmiProtocol(asyncio.Protocol):
    """One TCP session with Asterisk: bytes in through the frame parser, actions out, no resending."""

    def __init__(self, link: AmiConnection) -> None:
        self.link = link
        self.parser = FrameParser(link.reads)
        self.pending: dict[str, Any] = {}  # ActionID -> panoramisk Action, until its answer is complete
        self.wire: Wire | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.wire = cast(Wire, transport)
        self.parser = FrameParser(self.link.reads)
        self.pending = {}
        self.closed = False

    def send(self, action: Any) -> asyncio.Future[Any]:
        """Write one panoramisk Action; its future resolves to the answer (a list for a list action)."""
        if self.wire is None or self.closed:
            raise AmiLinkLost("no AMI link")
        self.pending[action.id] = action
        self.wire.write(str(action).encode("utf-8"))
        return cast("asyncio.Future[Any]", action.future)

    def tell(self, action: Any) -> None:
        """Write one panoramisk Action nobody waits for: its answer, unclaimed, is dropped as it comes."""
        if self.wire is None or self.closed:
            raise AmiLinkLost("no AMI link")
        self.wire.write(str(action).encode("utf-8"))

    def data_received(self, data: bytes) -> None:
        recorder = self.link.recorder
        if recorder is not None:
            recorder.write(data)
        try:
            frames = self.parser.feed(data)
        except FrameTooLarge as err:
            log.error("AMI stream broken: %s; reconnecting", err)
            self.close()
            return
        for frame in frames:
            self.route(frame)

    def route(self, frame: Frame) -> None:
        action_id = frame.get("ActionID")
        action = self.pending.get(action_id) if action_id else None
        event = "Event" in frame
        if action is not None:
            if action.add_message(Message(frame)):
                self.pending.pop(action.id, None)
            # OriginateResponse and list items belong to an action, and the intake still sees events.
            if event and frame["Event"] == "OriginateResponse":
                self.link.originate_answered(frame)
            return
        if event and frame["Event"] == "OriginateResponse":
            self.link.originate_answered(frame)
        elif event:
            self.link.sink(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail_pending()
        self.closed = True
        self.link.link_closed(self, exc)

    def fail_pending(self) -> None:
        for action in self.pending.values():
            if not action.future.done():
                action.future.set_exception(AmiLinkLost(f"link lost before the answer to {action['Action']}"))
        self.pending.clear()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.wire is not None:
                self.wire.close()


class AmiConnection:
    """Keeps one logged-in AMI session alive: backoff with jitter, ping watchdog, final error on bad login."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        sink: EventSink,
        ping_interval: float = 10.0,
        connect_timeout: float = 5.0,
        reconnect_max_delay: float = 30.0,
        record_to: Path | None = None,
        clock: Clock | None = None,
        on_pbx_time: Callable[[float, float], None] | None = None,
        reads: Collection[str] | None = None,
    ) -> None:
        """`reads`: the names of the events whose headers `sink` reads (None: every event's); the others reach
        it by their name alone (parser.py)."""
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.sink = sink
        self.reads = None if reads is None else frozenset(reads)
        self.ping_interval = ping_interval
        self.connect_timeout = connect_timeout
        self.reconnect_max_delay = reconnect_max_delay
        self.record_to = record_to
        self.clock: Clock = clock or SystemClock()
        # Asterisk's clock as each Ping answer gave it: (its Timestamp, the answer's latency).
        self.on_pbx_time = on_pbx_time
        self.recorder: IO[bytes] | None = None
        self.protocol: AmiProtocol | None = None
        self._on_up: list[LinkHook] = []
        self._on_down: list[LinkHook] = []
        self._closed = asyncio.Event()
        self._link_down = asyncio.Event()
        self._stopping = False
        self.ready = asyncio.Event()
        self.reconnects = 0
        # The ActionIDs of the Originates this process sent and Asterisk has not answered yet. Asterisk tells
        # every manager session of every Originate's outcome: another installation's refused call may carry the
        # Uniqueid of a call of ours, and only the ActionID says whose Originate it answers.
        self.originates_sent: set[str] = set()
        self.foreign_originates = 0

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        """Await `on_up` after each login (a failing one starts a new session) and `on_down` after each loss."""
        self._on_up.append(on_up)
        self._on_down.append(on_down)

    @property
    def connected(self) -> bool:
        return self.ready.is_set() and self.protocol is not None and not self.protocol.closed

    async def run(self) -> None:
        """Connect, log in, stay connected until stop(). Raises AmiAuthError on refused credentials."""
        if self.record_to is not None:
            self.recorder = self.record_to.open("ab")
        failures = 0
        try:
            while not self._stopping:
                try:
                    await self._session()
                    failures = 0
                except AmiAuthError:
                    raise
                except (OSError, TimeoutError, AmiLinkLost) as err:
                    log.warning("AMI %s:%s unavailable: %s", self.host, self.port, repr(err))
                except Exception as err:
                    # What the link's hooks do after link-up (reconcile, rebuild) or link-down failed: drop
                    # this session and reconnect, so that link-up runs again from the start.
                    log.error("AMI session failed (%s); reconnecting", describe_error(err))
                if self._stopping:
                    break
                failures += 1
                delay = reconnect_delay(failures, self.reconnect_max_delay, random.random())
                log.info("AMI reconnect in %.1f s (attempt %d)", delay, failures)
                await self.clock.wait_for(self._closed, delay)
        finally:
            if self.recorder is not None:
                self.recorder.close()

    async def _session(self) -> None:
        self._link_down.clear()
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: AmiProtocol(self), self.host, self.port),
            self.connect_timeout,
        )
        self.protocol = protocol
        try:
            await self._login(protocol)
            try:
                await self.ping(protocol)  # Asterisk's clock first: what follows is timed by it
            except TimeoutError:
                log.warning(
                    "AMI ping unanswered right after login; event times stay on arrival times for now"
                )
            self.reconnects += 1
            self.ready.set()
            log.info(
                "AMI logged in to %s:%s as %s",
                self.host,
                self.port,
                self.username,
            )
            for hook in self._on_up:
                try:
                    await hook()
                except Exception as err:
                    # The link went down under the hook, or the hook failed: start over on a fresh link,
                    # where the hooks run again, rather than carry on half reconciled.
                    log.warning("AMI link-up step failed (%s); reconnecting", describe_error(err))
                    return
            await self._watch(protocol)
        finally:
            was_ready = self.ready.is_set()
            self.ready.clear()
            protocol.close()
            if was_ready:
                for hook in self._on_down:
                    await hook()

    async def _login(self, protocol: AmiProtocol) -> None:
        future = protocol.send(
            Action({"Action": "Login", "Username": self.username, "Secret": self.secret}, as_list=False)
        )
        reply = await asyncio.wait_for(future, self.connect_timeout)
        if reply.get("Response") != "Success":
            self._stopping = True
            raise AmiAuthError(
                f"Asterisk at {self.host}:{self.port} refused the login of "
                f"{self.username!r}: {reply.get('Message', 'no reason given')}. "
                "Check [ami] username and secret, and the user's permit/deny in manager.conf."
            )

    async def _watch(self, protocol: AmiProtocol) -> None:
        """Ping every interval; a ping unanswered within one more interval means the link is dead."""
        while not protocol.closed and not self._stopping:
            if await self.clock.wait_for(self._link_down, self.ping_interval):
                return
            try:
                await self.ping(protocol)
            except TimeoutError:
                log.warning("AMI ping unanswered for %.1f s: link is dead, reconnecting", self.ping_interval)
                return
            except AmiLinkLost:
                return

    async def ping(self, protocol: AmiProtocol) -> None:
        """One Ping; its answer carries Asterisk's own time, which the listeners relate to the service's."""
        sent = self.clock.monotonic()
        reply = await asyncio.wait_for(
            protocol.send(Action({"Action": "Ping"}, as_list=False)), self.ping_interval
        )
        stamp = reply.get("Timestamp") if hasattr(reply, "get") else None
        try:
            pbx_time = float(stamp) if stamp else None
        except ValueError:
            pbx_time = None
        if pbx_time is not None and self.on_pbx_time is not None:
            # Asterisk stamped its answer between our send and its arrival: halfway is the best guess.
            self.on_pbx_time(pbx_time, (self.clock.monotonic() - sent) / 2)

    def originate_answered(self, frame: Frame) -> None:
        """An OriginateResponse: to the intake as it is when it answers one of this process's Originates (on
        this session or an earlier one), and marked as sent elsewhere when another manager session sent the
        Originate (a process that died, whose calls this one took over; or another installation)."""
        action_id = frame.get("ActionID", "")
        if action_id in self.originates_sent:
            self.originates_sent.discard(action_id)
            self.sink(frame)
        else:
            self.foreign_originates += 1
            self.sink({**frame, "Event": ORIGINATE_RESPONSE_ELSEWHERE})

    def link_closed(self, protocol: AmiProtocol, exc: Exception | None) -> None:
        if protocol is self.protocol:
            if exc is not None:
                log.warning("AMI link lost: %s", exc)
            self._link_down.set()

    async def stop(self) -> None:
        self._stopping = True
        self._closed.set()
        self._link_down.set()
        if self.protocol is not None:
            self.protocol.close()

    def tell(self, fields: dict[str, Any]) -> None:
        """Send one action without waiting for its answer: for housekeeping whose failure changes nothing."""
        if not self.connected or self.protocol is None:
            raise AmiLinkLost("no AMI link")
        self.protocol.tell(Action(fields, as_list=False))

    async def action(
        self, fields: dict[str, Any], *, as_list: bool | None = None, timeout: float = 10.0
    ) -> Any:
        """Send one action and wait for its complete answer. Raises AmiActionError on Response: Error."""
        if not self.connected or self.protocol is None:
            raise AmiLinkLost("no AMI link")
        if fields.get("Action") == "Originate" and fields.get("ActionID"):
            self.originates_sent.add(str(fields["ActionID"]))
        reply = await asyncio.wait_for(self.protocol.send(Action(fields, as_list=as_list)), timeout)
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") == "Error":
            self.originates_sent.discard(
                str(fields.get("ActionID", ""))
            )  # refused: no OriginateResponse follows
            raise AmiActionError(f"{fields.get('Action')}: {first.get('Message', 'error')}")
        return reply
