"""The service's configuration for one peak-hour run, and its rows moved onto the host's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bench.lib.carrier_numbers import TRUNK_DIAL
from bench.lib.clinic import ClinicTime
from bench.lib.service import service_head
from bench.peak.traffic import Traffic
from dialer.core.ids import AttemptId
from dialer.sandbox.sandbox import AmiCredentials


def service_config(
    creds: AmiCredentials, traffic: Traffic, policy: str, port: int, clinic: ClinicTime
) -> str:
    p, scale = traffic.profile, traffic.scale
    dial = TRUNK_DIAL if traffic.carrier else "Local/{number}@patients"
    return f"""{service_head(clinic, port, creds)}
[trunks.sim]
dial = "{dial}"
max_channels = 20
calls_per_second = 20
ring_timeout = "{ms(scale.wall(p.ring_timeout_real))}"

[[clinics]]
id = "c1"
name = "Клиника «Улыбка»"
timezone = "{clinic.tz.key}"
phone = "+7 495 123-45-67"
trunk = "sim"
dids = ["100"]
queues = ["{QUEUE}"]
hours = []
callback_mode = "agent_first"
supervisor_phone = "+7 916 999-00-11"
skip_holidays = false

[inbound]
contexts = ["clinic-inbound"]
staff_contexts = []

[campaigns.callbacks]
deadline = "{ms(scale.wall(p.deadline_real))}"
min_gap = "{ms(scale.wall(p.min_gap_real))}"
work_for = "{ms(scale.wall(4 * 3600))}"
priority = "{policy}"
ring_timeout = "{ms(scale.wall(p.ring_timeout_real))}"
admin_ring = "{ms(max(3.0, scale.wall(p.admin_ring_real)))}"
priority_margin = "{ms(scale.wall(p.priority_margin_real)) if p.priority_margin_real else "0s"}"

[alerts]
longest_wait = "{ms(scale.wall(90))}"
callback_due = "{ms(scale.wall(180))}"
clear_after = "{ms(scale.wall(120))}"

[sms]
provider = "none"
"""


def on_host_clock(rows: list[dict[str, Any]], offset: timedelta) -> list[dict[str, Any]]:
    """Storage times (naive UTC text, columns named *_at) minus the service clock's offset from the host's."""
    return [
        {
            key: (datetime.fromisoformat(value) - offset).isoformat(sep=" ")
            if key.endswith("_at") and isinstance(value, str)
            else value
            for key, value in row.items()
        }
        for row in rows
    ]


QUEUE = "test-reception"


def ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


CALLBACK_CAMPAIGNS = ("callback", "autocb")


def callback_attempt(uniqueid: str) -> AttemptId | None:
    """The callback attempt a channel belongs to, from its Uniqueid (the service's Originate ChannelId, with
    `;2` on a Local channel's second leg), or None for any other channel."""
    attempt = AttemptId.try_parse(uniqueid.split(";", maxsplit=1)[0])
    return attempt if attempt is not None and attempt.campaign in CALLBACK_CAMPAIGNS else None
