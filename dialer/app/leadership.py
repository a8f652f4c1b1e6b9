"""Whether this node leads (dials and writes the calls) or stands by, and the link hooks only a leader runs.

The recovery after link-up writes attempts and missed calls, the recordings are collected, queue members are
paused: on a standby node none of this may happen, so the link hands those hooks through `GatedLink`, which
runs them only while the node leads, and once more at the takeover itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from dialer.core.pbx_links import NamedLinks
from dialer.core.ports import LinkHook, PbxLink

log = logging.getLogger("dialer")


@dataclass
class Leadership:
    leading: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # a takeover and a link-up, one at a time

    async def stand_down(self, within: float) -> bool:
        """Stop leading: no hook starts from now on. True once the hook in flight, if any, has finished
        (within `within` seconds), so nothing the leader started on a link-up goes on writing."""
        self.leading = False
        try:
            # Real seconds: the hook waits on a socket (the database, Asterisk), not on the service's clock.
            async with asyncio.timeout(within), self.lock:
                return True
        except TimeoutError:
            return False


class GatedLink:
    """The link as the leader's parts subscribe to it; everything else passes through."""

    def __init__(self, link: PbxLink, leadership: Leadership) -> None:
        self.link = link
        self.leadership = leadership
        self._on_up: list[LinkHook] = []
        self._parts: list[GatedLink] = []

    def part(self, link: PbxLink) -> GatedLink:
        """One Asterisk's own link among several: its hooks are held back by the same leadership, and run at
        the takeover if that Asterisk is up, whatever the others."""
        gated = GatedLink(link, self.leadership)
        self._parts.append(gated)
        return gated

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        self._on_up.append(on_up)
        self.link.subscribe(on_up=self._gated(on_up), on_down=self._gated(on_down))

    def _gated(self, hook: LinkHook) -> LinkHook:
        async def gated() -> None:
            async with self.leadership.lock:
                if self.leadership.leading:
                    await hook()

        return gated

    async def lead(self) -> None:
        """This node now leads: what a link-up does for the leader, at once if the link is up (else at the
        next link-up)."""
        async with self.leadership.lock:
            self.leadership.leading = True
            for gated in (self, *self._parts):
                await gated._link_up_now()

    async def _link_up_now(self) -> None:
        if not self.link.connected:
            return
        for hook in self._on_up:
            try:
                await hook()
            except Exception as err:
                # The worker waits for the calls to be reconciled: the next link-up runs the hooks again.
                log.warning("taking over: a link-up step failed (%s)", type(err).__name__)
                return

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def by_name(self) -> Mapping[str, PbxLink]:
        """Each Asterisk's link, when there are several (the health check and the metrics name them)."""
        return self.link.by_name if isinstance(self.link, NamedLinks) else {}

    async def run(self) -> None:
        await self.link.run()

    async def stop(self) -> None:
        await self.link.stop()
