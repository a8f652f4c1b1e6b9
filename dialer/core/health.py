"""What the monitoring's health check answers (GET /health): the link, the calls in the air, the due tasks."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class PbxHealth(TypedDict):
    """One of several Asterisks: its link, whether its calls are reconciled, whose calls go through it."""

    ami: Literal["connected", "disconnected"]
    reconciled: bool
    clinics: list[str]


class HealthView(TypedDict):
    ami: Literal["connected", "disconnected"]
    reconciled: bool  # the calls in the air were matched to Asterisk's after the last (re)connect
    calls_in_flight: int
    inbound_calls_open: int
    due_tasks: int
    pbx: NotRequired[dict[str, PbxHealth]]  # with several Asterisks, each by its name
    leader: NotRequired[bool]  # this node holds the dialing lease (the others serve the pages only)
