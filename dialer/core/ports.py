"""The ports the engine drives. Adapters (ami, sms, storage) implement them; app.py plugs them in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dialer.core.errors import PeerFailed, Refused
from dialer.core.sms import SmsStatus


@dataclass(frozen=True)
class OutgoingSms:
    key: str  # idempotency key: one message per key, ever
    to: str  # E.164
    body: str
    status_callback: str | None  # where the gateway should report delivery, if we are reachable


@dataclass(frozen=True)
class SmsReceipt:
    provider_id: str
    status: SmsStatus
    error: str = ""


@dataclass(frozen=True)
class SmsStatusUpdate:
    """A delivery report: the gateway's message id and its new status.

    `key` is our message key when the report's URL was issued for that one message (SMS Aero): the report then
    counts only for that message. Empty when the gateway signs the whole report (Twilio).
    """

    provider_id: str
    status: SmsStatus
    error: str = ""
    key: str = ""


class SmsError(PeerFailed):
    """The gateway refused or failed. `retryable` says whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class SmsGateway(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> SmsReceipt:
        """Hand the message to the gateway. Raises SmsError."""
        ...

    async def find_sent(self, sms: OutgoingSms, since: datetime) -> SmsReceipt | None:
        """After a crash between "about to send" and "sent": did the gateway already take this message?"""
        ...

    async def fetch_status(self, provider_id: str) -> SmsStatus:
        """Ask for the current status, for installations the gateway cannot call back."""
        ...

    async def close(self) -> None: ...


class StatusCallbackVerifier(Protocol):
    """Turns a gateway's delivery-report HTTP request into an update, after checking it is genuine."""

    provider: str

    def parse(self, url: str, headers: Mapping[str, str], form: Mapping[str, str]) -> SmsStatusUpdate:
        """Raises SmsCallbackRejected when the request is not a genuine report from the gateway."""
        ...


class SmsCallbackRejected(Refused):
    """A delivery report that fails the gateway's signature check or names another message."""


# -- Telephony -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OriginateRequest:
    """One outbound call. `attempt_id` becomes the channel's Uniqueid (ChannelId)."""

    attempt_id: str
    channel: str
    context: str
    exten: str
    timeout_ms: int
    caller_id: str
    variables: Mapping[str, str]


@dataclass(frozen=True)
class LiveChannel:
    uniqueid: str
    channel: str
    state: str  # Asterisk's ChannelStateDesc: Down, Ring, Ringing, Up, Busy


@dataclass(frozen=True)
class RecordedOutcome:
    """What the dialplan's hangup handler wrote to AstDB for an attempt (survives our link loss)."""

    cause: int | None
    stage: str
    digit: str
    leg_cause: int | None = None  # a callback's patient's channel's hangup cause (digit holds its DIALSTATUS)
    sip: int | None = None  # the trunk's refusal (480 switched off, 486 busy …), if any


class TelephonyUnavailable(PeerFailed):
    """No usable AMI link right now; nothing was sent."""


class OriginateRejected(PeerFailed):
    """Asterisk refused the Originate outright (no channel was created)."""


class Telephony(Protocol):
    async def originate(self, request: OriginateRequest) -> None:
        """Send an Async Originate exactly once. Raises TelephonyUnavailable before sending, OriginateRejected
        when Asterisk answers with an error. A link lost after sending raises nothing: the engine reconciles."""
        ...

    async def live_channels(self) -> dict[str, LiveChannel]:
        """Every channel Asterisk has now, by Uniqueid (CoreShowChannels)."""
        ...

    async def recorded_outcome(self, attempt_id: str) -> RecordedOutcome | None: ...

    async def forget_outcome(self, attempt_id: str) -> None: ...

    async def redirect(self, channel: str, context: str) -> None:
        """Send a live channel to <context>,s,1 (AMI Redirect). Raises TelephonyUnavailable when it cannot."""
        ...

    async def queue_status(self) -> list[dict[str, str]]:
        """QueueStatus: every queue's members (QueueMember) and waiting callers (QueueEntry), now."""
        ...


LinkHook = Callable[[], Awaitable[None]]


class PbxLink(Protocol):
    """The link to Asterisk as the service runs it: kept up by `run()` until `stop()`. Where Asterisk's clock
    (from Ping) goes is given to the adapter's constructor."""

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        """Await `on_up` after each (re)connect and `on_down` after each loss of the link. The recovery after
        link-up needs the call desk, which needs the link: so it subscribes once both are built."""

    @property
    def connected(self) -> bool: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...
