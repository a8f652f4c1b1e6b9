"""Several Asterisks: one AMI link each, their events into the one intake, each action to the right Asterisk.

Why one intake and not one per Asterisk: the trackers, the pop-ups, the queue state and the call desk already
follow calls by id, and an outbound call's id is ours (the Originate's ChannelId, unique across installations),
so it cannot collide. What can collide is what Asterisk makes itself: two Asterisks started at the same second
both number their channels "1764800000.1", "1764800000.2"… So every id of that form from an Asterisk other
than "main" is headed with its name ("east/1764800000.1") before the intake sees it, and the ids are compared
with what that Asterisk's CoreShowChannels says the same way. "main" keeps Asterisk's ids as they are, so a
single-Asterisk installation and its queue_log see exactly what they did before.

An Originate goes through the clinic's Asterisk (the DIALER_CLINIC variable every call carries names the
clinic); a Redirect goes to the Asterisk whose events announced the channel; what is asked about an attempt
(its hangup record) goes to the Asterisk it was sent through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from dialer.ami.connection import AmiConnection, EventSink
from dialer.ami.parser import Frame
from dialer.ami.queue_pause import AmiQueuePauses
from dialer.ami.telephony import AmiTelephony
from dialer.core.pbx_links import ASTERISK_ID, MAIN, headed, queue_key, unheaded
from dialer.core.ports import LinkHook, LiveChannel, OriginateRequest, RecordedOutcome, TelephonyUnavailable

CLINIC_VARIABLE = "DIALER_CLINIC"


def heads_ids(frame: Frame, name: str) -> Frame:
    """The frame with every Asterisk-made Uniqueid/Linkedid (of any channel it names) headed by `name`."""
    for key, value in frame.items():
        if (key.endswith("Uniqueid") or key.endswith("Linkedid")) and ASTERISK_ID.match(str(value)):
            frame[key] = f"{name}/{value}"
    return frame


class PbxTelephony(AmiTelephony):
    """One Asterisk's telephony, its channel ids headed as its events are."""

    def __init__(self, connection: AmiConnection, name: str, places: ChannelPlaces) -> None:
        super().__init__(connection)
        self.name = name
        self.places = places

    async def live_channels(self) -> dict[str, LiveChannel]:
        live = await super().live_channels()
        return {
            headed(uid, self.name): LiveChannel(headed(uid, self.name), ch.channel, ch.state)
            for uid, ch in live.items()
        }

    async def queue_status(self) -> list[dict[str, str]]:
        """Its queues' state, ids headed; each member noted as this Asterisk's (where a QueuePause goes)."""
        answer = await super().queue_status()
        for item in answer:
            self.places.member(item, self.name)
        return [heads_ids(item, self.name) for item in answer] if self.name != MAIN else answer


class ChannelPlaces:
    """Which Asterisk each live channel is on, and which ones have each queue member, as they said: where a
    Redirect or a QueuePause must go."""

    # The events `sink` reads besides those with a Queue header (a link's parser gives every one of those).
    READS = frozenset({"Newchannel", "Hangup"})

    def __init__(self) -> None:
        self.on: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}  # a queue member's interface -> the Asterisks that have it

    def member(self, frame: Mapping[str, str], name: str) -> None:
        interface = frame.get("Interface") or frame.get("Location")
        if interface and str(frame.get("Event", "")).startswith("QueueMember"):
            self.members.setdefault(str(interface), set()).add(name)

    def sink(self, name: str, then: EventSink) -> EventSink:
        heads = name != MAIN

        def feed(frame: Frame) -> None:
            event, channel = frame.get("Event"), frame.get("Channel")
            if channel and event == "Newchannel":
                self.on[str(channel)] = name
            elif channel and event == "Hangup":
                self.on.pop(str(channel), None)
            else:
                self.member(frame, name)
            then(heads_ids(frame, name) if heads else frame)

        return feed


class SeveralLinks:
    """The links to every Asterisk as one: each keeps itself up (its own backoff); `connected` while all are."""

    def __init__(self, links: Mapping[str, AmiConnection]) -> None:
        self.by_name: dict[str, AmiConnection] = dict(links)

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        for link in self.by_name.values():
            link.subscribe(on_up=on_up, on_down=on_down)

    @property
    def connected(self) -> bool:
        return all(link.connected for link in self.by_name.values())

    async def run(self) -> None:
        # A refused login on any of them stops the service, as with one Asterisk: the settings are wrong.
        async with asyncio.TaskGroup() as group:
            for name, link in self.by_name.items():
                group.create_task(link.run(), name=f"ami-{name}")

    async def stop(self) -> None:
        for link in self.by_name.values():
            await link.stop()


class SeveralTelephony:
    """The Telephony port over several Asterisks: each action to the one it concerns."""

    def __init__(
        self, parts: Mapping[str, PbxTelephony], pbx_of: Callable[[str], str], places: ChannelPlaces
    ) -> None:
        self.parts = dict(parts)
        self.pbx_of = pbx_of  # clinic id -> its Asterisk's name
        self.places = places
        self.sent_through: dict[str, str] = {}  # attempt id -> the Asterisk its Originate went to

    def _part(self, name: str) -> PbxTelephony:
        return self.parts.get(name) or self.parts[MAIN]

    def _connected(self) -> list[PbxTelephony]:
        return [part for part in self.parts.values() if part.connection.connected]

    async def originate(self, request: OriginateRequest) -> None:
        name = self.pbx_of(request.variables.get(CLINIC_VARIABLE, ""))
        self.sent_through[request.attempt_id] = name
        await self._part(name).originate(request)

    async def live_channels(self) -> dict[str, LiveChannel]:
        live: dict[str, LiveChannel] = {}
        for part in self._connected():
            live.update(await part.live_channels())
        return live

    async def recorded_outcome(self, attempt_id: str) -> RecordedOutcome | None:
        name = self.sent_through.get(attempt_id)
        if name is not None:
            return await self._part(name).recorded_outcome(attempt_id)
        for part in self._connected():  # sent before a restart: the Asterisk that has the record
            recorded = await part.recorded_outcome(attempt_id)
            if recorded is not None:
                return recorded
        return None

    async def forget_outcome(self, attempt_id: str) -> None:
        name = self.sent_through.pop(attempt_id, None)
        for part in [self._part(name)] if name is not None else self._connected():
            await part.forget_outcome(attempt_id)

    async def redirect(self, channel: str, context: str) -> None:
        name = self.places.on.get(channel)
        if name is None:
            raise TelephonyUnavailable("no Asterisk announced this channel")
        await self._part(name).redirect(channel, context)

    async def queue_status(self) -> list[dict[str, str]]:
        items: list[dict[str, str]] = []
        for part in self._connected():
            items.extend(await part.queue_status())
        return items

    async def set_global(self, name: str, value: str) -> None:
        for part in self.parts.values():
            await part.set_global(name, value)

    def queue_pauses(self) -> SeveralQueuePauses:
        return SeveralQueuePauses(
            {n: AmiQueuePauses(p.connection) for n, p in self.parts.items()}, self.places
        )

    def link_of(self, name: str) -> tuple[AmiConnection, PbxTelephony]:
        part = self._part(name)
        return part.connection, part


class SeveralQueuePauses:
    """QueuePause on the seat's own Asterisk, and only once its queues announced the member there: two
    clinics' phones "PJSIP/101" on two Asterisks are paused apart, and a phone no queue announced never."""

    def __init__(self, parts: Mapping[str, AmiQueuePauses], places: ChannelPlaces) -> None:
        self.parts = dict(parts)
        self.places = places

    def _of(self, seat: str) -> tuple[AmiQueuePauses, str]:
        name, interface = unheaded(seat, self.parts)
        if name not in self.places.members.get(interface, ()) or name not in self.parts:
            raise TelephonyUnavailable("no Asterisk announced this queue member")
        return self.parts[name], interface

    async def pause(self, seat: str, reason: str) -> None:
        part, interface = self._of(seat)
        await part.pause(interface, reason)

    async def unpause(self, seat: str) -> None:
        part, interface = self._of(seat)
        await part.unpause(interface)

    async def paused_with(self, reason: str) -> set[str]:
        paused: set[str] = set()
        for name, part in self.parts.items():
            if part.connection.connected:
                paused |= {queue_key(interface, name) for interface in await part.paused_with(reason)}
        return paused
