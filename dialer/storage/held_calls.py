"""The finished inbound calls the database refused, kept in a small JSON file beside it until it takes them.

Written only while the database is away, whole each time (a new file moved over the old one), and readable by the
service's user only: it holds callers' numbers, as the database does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from dialer.core.inbound import InboundEnded, MissReason
from dialer.storage.db import private_file

HELD_CALLS_FILE = "held-calls.json"  # in the service's data folder


class HeldCallsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, calls: Collection[InboundEnded]) -> None:
        if not calls:
            self.path.unlink(missing_ok=True)
            return
        fresh = self.path.with_name(f"{self.path.name}.new")
        private_file(fresh)
        fresh.write_text(json.dumps([_fields(call) for call in calls], ensure_ascii=False), encoding="utf-8")
        os.replace(fresh, self.path)

    def load(self) -> list[InboundEnded]:
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return [_call(fields) for fields in kept]


def _fields(call: InboundEnded) -> dict[str, Any]:
    fields = asdict(call)
    for name in ("started_at", "ended_at", "answered_at"):
        at = fields[name]
        fields[name] = at.isoformat() if at is not None else None
    fields["channels"] = list(call.channels)
    return fields


def _call(fields: dict[str, Any]) -> InboundEnded:
    def at(name: str) -> datetime | None:
        value = fields[name]
        return datetime.fromisoformat(value) if value is not None else None

    started, ended = at("started_at"), at("ended_at")
    if started is None or ended is None:
        raise ValueError("a held call without its start or end")
    return InboundEnded(
        **{
            **fields,
            "started_at": started,
            "ended_at": ended,
            "answered_at": at("answered_at"),
            "miss": MissReason(fields["miss"]) if fields["miss"] is not None else None,
            "channels": tuple(fields["channels"]),
        }
    )
