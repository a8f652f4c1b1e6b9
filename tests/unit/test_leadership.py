"""The link's hooks that write (the recovery after link-up, the recordings, the queue pauses) run only while
the node leads, and once at the takeover itself when the link is already up."""

from __future__ import annotations

from dialer.app.leadership import GatedLink, Leadership
from dialer.core.ports import LinkHook


class Link:
    def __init__(self) -> None:
        self.up: list[LinkHook] = []
        self.down: list[LinkHook] = []
        self.connected = False

    def subscribe(self, *, on_up: LinkHook, on_down: LinkHook) -> None:
        self.up.append(on_up)
        self.down.append(on_down)

    async def come_up(self) -> None:
        self.connected = True
        for hook in self.up:
            await hook()

    async def go_down(self) -> None:
        self.connected = False
        for hook in self.down:
            await hook()

    async def run(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_a_standby_runs_no_hook_and_the_takeover_runs_the_link_up_ones_once() -> None:
    link, told = Link(), []

    async def recovered() -> None:
        told.append("recovery")

    async def gap_opened() -> None:
        told.append("gap")

    gated = GatedLink(link, Leadership())
    gated.subscribe(on_up=recovered, on_down=gap_opened)
    await link.come_up()
    await link.go_down()
    await link.come_up()
    assert told == []  # standing by: nothing reconciled, no gap written

    await gated.lead()
    assert told == ["recovery"]  # the link was up: what a link-up does for the leader, now
    await link.go_down()
    await link.come_up()
    assert told == ["recovery", "gap", "recovery"]


async def test_a_takeover_while_the_link_is_down_waits_for_the_link() -> None:
    link, told = Link(), []

    async def recovered() -> None:
        told.append("recovery")

    async def nothing() -> None:
        return None

    gated = GatedLink(link, Leadership())
    gated.subscribe(on_up=recovered, on_down=nothing)
    await gated.lead()
    assert told == [] and gated.leadership.leading
    await link.come_up()
    assert told == ["recovery"]


async def test_each_asterisk_of_several_is_held_back_on_standby_and_recovered_at_the_takeover_if_up() -> None:
    whole, east, west, told = Link(), Link(), Link(), []

    def hook(name: str) -> LinkHook:
        async def run() -> None:
            told.append(name)

        return run

    gated = GatedLink(whole, Leadership())
    gated.part(east).subscribe(on_up=hook("east up"), on_down=hook("east down"))
    gated.part(west).subscribe(on_up=hook("west up"), on_down=hook("west down"))
    await east.come_up()
    await east.go_down()
    await west.come_up()
    assert told == []  # a standby writes nothing for any Asterisk

    await gated.lead()
    assert told == ["west up"]  # west is up: recovered now; east is down: at its own link-up
    await east.come_up()
    assert told == ["west up", "east up"]
