"""The links to several Asterisks, seen one by one: what the health check, the readiness and the metrics name."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Protocol, runtime_checkable

from dialer.core.errors import PeerFailed
from dialer.core.ports import PbxLink

MAIN = "main"
ASTERISK_ID = re.compile(r"^\d+\.\d+$")


def headed(uniqueid: str, name: str) -> str:
    """An id Asterisk made (`1764800000.12`) as the service knows it: headed by its Asterisk's name
    (`east/1764800000.12`), except `main`'s. The service's own call ids are left as they are."""
    return f"{name}/{uniqueid}" if name != MAIN and ASTERISK_ID.match(uniqueid) else uniqueid


def queue_key(queue: str, name: str) -> str:
    """A queue as the live queue state knows it: headed by its Asterisk's name (`east/400`), except `main`'s.
    Two Asterisks may each have a queue «400», with their own callers and administrators."""
    return queue if name == MAIN else f"{name}/{queue}"


def unheaded(key: str, names: Collection[str]) -> tuple[str, str]:
    """A key made by `queue_key` as (its Asterisk's name, the name that Asterisk knows)."""
    name = asterisk_of(key, names)
    return name, key if name == MAIN else key.removeprefix(f"{name}/")


def asterisk_of(uniqueid: str, names: Collection[str], default: str = MAIN) -> str:
    """The Asterisk an id came from: the name heading it (`east/…`), else `default` (main's ids are bare)."""
    head, slash, _ = uniqueid.partition("/")
    return head if slash and head in names else default


@runtime_checkable
class NamedLinks(Protocol):
    """A link made of one link per Asterisk, by the Asterisk's name."""

    @property
    def by_name(self) -> Mapping[str, PbxLink]: ...


def links_by_name(link: PbxLink, single: str) -> dict[str, PbxLink]:
    """Each Asterisk's link by its name; the only link of a single-Asterisk installation under `single`."""
    named = dict(link.by_name) if isinstance(link, NamedLinks) else {}
    return named or {single: link}


class PbxAway(PeerFailed):
    """The clinic's Asterisk is down or its calls not yet reconciled: nothing was written or sent, and the
    task that wanted to dial waits for it."""
