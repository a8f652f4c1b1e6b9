"""The pieces the KOS tests share: the service's KOS configuration, a webhook receiver that fails on purpose,
and the pacing check read from Asterisk's own events."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bench.lib.rawami import Frame
from bench.lib.service import free_port

WEBHOOK_SECRET = "секрет-для-подписи"
PATIENT_CALL = re.compile(r"^(?:[0-9a-f]+:)?(?:kos|diary|offer):\d+:\d+$")  # installation:campaign:target:n


def kos_config(webhook_port: int, *, wait: str = "6s", ratio: float = 1.0) -> str:
    return f"""
[campaigns.kos]
calls = 2
moves = 3
gap = "7d"
ratio = {ratio}
wait_for_admin = "{wait}"
per_day = 20
window = {{ start = "08:00", end = "21:00", min_gap = "3s" }}

[campaigns.waiting_list]
reply_window = "3s"

[webhook]
url = "http://127.0.0.1:{webhook_port}/dialer"
secret = "{WEBHOOK_SECRET}"
"""


@dataclass
class Receiver:
    """The clinic's system taking the webhook: the first `fail_first` requests get a 500."""

    fail_first: int = 2
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["status"] == 200]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        status = 500 if len(self.requests) < self.fail_first else 200
        if request.headers.get("X-Dialer-Signature") != expected:
            status = 401
        self.requests.append(
            {
                "status": status,
                "key": request.headers.get("Idempotency-Key"),
                "body": json.loads(body),
            }
        )
        return web.Response(status=status)


@contextlib.asynccontextmanager
async def webhook_receiver(fail_first: int = 2) -> AsyncIterator[Receiver]:
    receiver = Receiver(fail_first, port=free_port())
    app = web.Application()
    app.router.add_post("/dialer", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


@dataclass
class Pacing:
    """Patient calls against administrators, replayed from the AMI events of an independent connection."""

    most_waiting: int = 0  # patient calls not yet connected to an administrator, at their worst
    most_in_air: int = 0  # all patient calls at once
    violations: list[str] = field(default_factory=list)
    connected: dict[str, str] = field(default_factory=dict)  # attempt id -> the administrator's interface


def replay_pacing(
    events: list[tuple[float, Frame]],
    queue: str,
    ratio: float,
    phones: Collection[str],
    attempts: Mapping[str, str] | None = None,
) -> Pacing:
    """Every time a patient is dialled, the calls still waiting for an administrator (this one included) must
    not exceed the administrators who are free or being rung for one of them, times the ratio.

    Calls are told apart by the patients' numbers: a `Local/` patient's is in its channel's name; a trunk's
    channel (PJSIP/trunk-…) names no number, so `attempts` (attempt id -> phone, from the service's database)
    says whose call it is."""
    numbers = tuple(p.lstrip("+") for p in phones)
    ours = {a for a, phone in (attempts or {}).items() if phone.lstrip("+") in numbers}
    result = Pacing()
    status: dict[str, int] = {}  # member interface -> device state
    paused: dict[str, bool] = {}
    waiting: set[str] = set()  # channel names
    in_air: dict[str, str] = {}  # channel name -> attempt id
    for _, e in events:
        name, channel = e.get("Event", ""), e.get("Channel", "")
        if name in ("QueueMemberStatus", "QueueMemberAdded", "QueueMember") and e.get("Queue") == queue:
            status[e.get("Interface", "")] = int(e.get("Status", "0") or 0)
            paused[e.get("Interface", "")] = e.get("Paused") == "1"
        elif name == "QueueMemberRemoved" and e.get("Queue") == queue:
            status.pop(e.get("Interface", ""), None)
        elif (
            name == "Newchannel"
            and PATIENT_CALL.match(e.get("Uniqueid", ""))
            and (e["Uniqueid"] in ours or any(f"/{n}@" in channel for n in numbers))
        ):
            waiting.add(channel)
            in_air[channel] = e["Uniqueid"]
            # Free (1) or ringing (6) for a patient who waits: an administrator this call may have.
            available = sum(1 for i, s in status.items() if s in (1, 6) and not paused.get(i))
            if len(waiting) > available * ratio:
                result.violations.append(f"{channel}: {len(waiting)} waiting, {available} administrators")
            result.most_waiting = max(result.most_waiting, len(waiting))
            result.most_in_air = max(result.most_in_air, len(in_air))
        elif name == "AgentConnect" and e.get("Queue") == queue and channel in in_air:
            waiting.discard(channel)
            result.connected[in_air[channel]] = e.get("Interface", "")
        elif (
            name == "UserEvent"
            and e.get("DialStatus") == "CONNECTED"
            and e.get("Member") in status
            and e.get("AttemptId") in in_air.values()
        ):
            # The dialplan's own word that an administrator took the call. It can reach AMI before the
            # queue's AgentConnect, and the service may act on it (dial the next patient) in between.
            waiting.difference_update(c for c, a in in_air.items() if a == e["AttemptId"])
        elif name == "Hangup" and channel in in_air:
            waiting.discard(channel)
            del in_air[channel]
    return result
