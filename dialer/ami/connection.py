"""One AMI connection on panoramisk, with the guards its defects call for.

panoramisk 1.4 resends unanswered actions after a reconnect (a lost Originate response would call the
patient twice), hands an async Originate's OriginateResponse to the action instead of the event
callbacks, never notices a dead link, loops forever on bad credentials, and decodes the stream per TCP
chunk. This module keeps panoramisk's Manager and Action objects and replaces those behaviours:
actions are never resent, every event (OriginateResponse included) reaches the intake, a ping watchdog
closes a silent link, a refused login is a final error, and frames are parsed in bytes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from dialer.ami.parser import Frame, FrameParser, FrameTooLarge
from dialer.core.clock import Clock, SystemClock
from dialer.core.errors import ServiceStop
from dialer.core.privacy import describe_error

log = logging.getLogger("dialer.ami")

EventSink = Callable[[Frame], None]
LinkHook = Callable[[], Awaitable[None]]


def reconnect_delay(failures: int, max_delay: float, jitter: float) -> float:
    """Exponential backoff from 0.5 s, capped, spread by ±50 % so many services don't reconnect in step."""
    base: float = 0.25 * 2.0 ** min(failures, 10)
    return min(max_delay, base) * (0.5 + jitter)


class AmiAuthError(ServiceStop):
    """Asterisk refused the login. Retrying cannot help, so this is final: the service stops."""


class AmiLinkLost(ConnectionError):
    """The link went down before Asterisk answered this action. It was NOT resent."""


class AmiActionError(Exception):
    """Asterisk answered an action with Response: Error."""


class AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol with a byte-level parser and no resending."""

    def __init__(self, factory: AmiConnection) -> None:
        super().__init__()
        self.factory = factory

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        factory = self.factory
        super().connection_made(transport)  # resets factory to None
        self.factory = factory
        self.parser = FrameParser()
        self.pending: dict[str, Action] = {}

    def send(self, data: Any, as_list: bool | None = False) -> asyncio.Future[Any]:
        action = data if isinstance(data, Action) else Action(data, as_list=as_list)
        action.as_list = as_list
        self.pending[action.id] = action
        self.transport.write(str(action).encode("utf-8"))
        return action.future  # type: ignore[no-any-return]

    def data_received(self, data: bytes) -> None:
        recorder = self.factory.recorder
        if recorder is not None:
            recorder.write(data)
        try:
            frames = self.parser.feed(data)
        except FrameTooLarge as err:
            log.error("AMI stream broken: %s; reconnecting", err)
            self.transport.close()
            return
        for frame in frames:
            self._route(frame)

    def _route(self, frame: Frame) -> None:
        action_id = frame.get("ActionID")
        action = self.pending.get(action_id) if action_id else None
        event = "Event" in frame
        if action is not None:
            if action.add_message(Message(frame)):
                self.pending.pop(action.id, None)
            # OriginateResponse and list items belong to an action, and the intake still sees events.
            if event and frame["Event"] == "OriginateResponse":
                self.factory.sink(frame)
            return
        if event:
            self.factory.sink(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail_pending()
        self.closed = True
        self.factory.link_closed(self, exc)

    def fail_pending(self) -> None:
        for action in self.pending.values():
            if not action.future.done():
                action.future.set_exception(AmiLinkLost(f"link lost before the answer to {action['Action']}"))
        self.pending.clear()

    def close(self) -> None:
        # panoramisk's close() queues unanswered actions for resending; we never resend.
        if not self.closed:
            self.closed = True
            self.transport.close()


class AmiConnection(Manager):  # type: ignore[misc]
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
    ) -> None:
        super().__init__(
            host=host,
            port=port,
            username=username,
            secret=secret,
            ping_delay=0,
            ping_interval=0,
            protocol_factory=AmiProtocol,
            loop=asyncio.get_running_loop(),
        )
        self.callbacks.clear()
        self.patterns.clear()  # drops panoramisk's FullyBooted -> send_awaiting_actions
        self.sink = sink
        self.ping_interval = ping_interval
        self.connect_timeout = connect_timeout
        self.reconnect_max_delay = reconnect_max_delay
        self.record_to = record_to
        self.clock: Clock = clock or SystemClock()
        # Asterisk's clock as each Ping answer gave it: (its Timestamp, when we sent, when the answer came).
        self.on_pbx_time: list[Callable[[float, float], None]] = []
        self.recorder: IO[bytes] | None = None
        self.protocol: AmiProtocol | None = None
        self.on_up: list[LinkHook] = []
        self.on_down: list[LinkHook] = []
        self._closed = asyncio.Event()
        self._link_down = asyncio.Event()
        self._stopping = False
        self.ready = asyncio.Event()
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self.ready.is_set() and self.protocol is not None and not self.protocol.closed

    def send_action(self, action: Any, as_list: bool | None = None, **kwargs: Any) -> asyncio.Future[Any]:
        if not self.connected or self.protocol is None:
            raise AmiLinkLost("no AMI link")
        if isinstance(action, dict) and not isinstance(action, Action):
            action = Action(dict(action, **kwargs), as_list=as_list)
        return self.protocol.send(action, as_list=as_list)

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
                    log.warning(
                        "AMI %s:%s unavailable: %s", self.config["host"], self.config["port"], repr(err)
                    )
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
            loop.create_connection(lambda: AmiProtocol(self), self.config["host"], self.config["port"]),
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
                self.config["host"],
                self.config["port"],
                self.config["username"],
            )
            for hook in self.on_up:
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
                for hook in self.on_down:
                    await hook()

    async def _login(self, protocol: AmiProtocol) -> None:
        future = protocol.send(
            Action({"Action": "Login", "Username": self.config["username"], "Secret": self.config["secret"]})
        )
        reply = await asyncio.wait_for(future, self.connect_timeout)
        if reply.get("Response") != "Success":
            self._stopping = True
            raise AmiAuthError(
                f"Asterisk at {self.config['host']}:{self.config['port']} refused the login of "
                f"{self.config['username']!r}: {reply.get('Message', 'no reason given')}. "
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
        reply = await asyncio.wait_for(protocol.send(Action({"Action": "Ping"})), self.ping_interval)
        stamp = reply.get("Timestamp") if hasattr(reply, "get") else None
        try:
            pbx_time = float(stamp) if stamp else None
        except ValueError:
            pbx_time = None
        if pbx_time is not None:
            # Asterisk stamped its answer between our send and its arrival: halfway is the best guess.
            latency = (self.clock.monotonic() - sent) / 2
            for listener in self.on_pbx_time:
                listener(pbx_time, latency)

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

    async def action(
        self, fields: dict[str, Any], *, as_list: bool | None = None, timeout: float = 10.0
    ) -> Any:
        """Send one action and wait for its complete answer. Raises AmiActionError on Response: Error."""
        reply = await asyncio.wait_for(
            self.send_action(Action(fields, as_list=as_list), as_list=as_list), timeout
        )
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Response") == "Error":
            raise AmiActionError(f"{fields.get('Action')}: {first.get('Message', 'error')}")
        return reply
