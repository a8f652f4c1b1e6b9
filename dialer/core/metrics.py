"""The service's Prometheus series as plain values, and their text exposition (format 0.0.4).

Only counts and states: no phone, no name, no patient's record ever becomes a label."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

PREFIX = "dialer_"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Series:
    """One metric family: its name (without the prefix), kind, help line and samples."""

    name: str
    kind: Literal["gauge", "counter", "info"]
    help: str
    samples: tuple[tuple[Labels, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not _NAME.match(PREFIX + self.name):
            raise ValueError(f"not a Prometheus metric name: {self.name!r}")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {self.name!r}")
        for labels, _ in self.samples:
            bad = [k for k in labels if not _LABEL.match(k)]
            if bad:
                raise ValueError(f"not a Prometheus label name in {self.name}: {bad}")


def one(name: str, kind: Literal["gauge", "counter"], help: str, value: float) -> Series:
    return Series(name, kind, help, (({}, value),))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _sample(name: str, labels: Labels, value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} {_number(value)}"


def render(series: Iterable[Series]) -> str:
    """The text exposition: HELP and TYPE, then the samples, of each family in turn."""
    lines: list[str] = []
    for s in series:
        name = PREFIX + s.name
        # An info family is a gauge of 1 whose labels carry the information (the build's version).
        kind = "gauge" if s.kind == "info" else s.kind
        # In the text format a counter is declared under its sample's name, _total included.
        lines.append(f"# HELP {name} {_escape(s.help)}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(_sample(name, labels, value) for labels, value in s.samples)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Tally:
    """A count of rows by two labels (campaign and result, provider and state, clinic and state)."""

    first: str
    second: str
    count: int


class MetricsStore(Protocol):
    """Cheap aggregate reads behind /metrics and /ready: counts by label, never rows."""

    async def ping(self) -> None:
        """Raise if the database does not answer."""

    async def attempts_by_result(self, since: datetime) -> list[Tally]:
        """Call attempts placed since the instant that have ended, by campaign and result."""

    async def sms_by_state(self, since: datetime) -> list[Tally]:
        """SMS made since the instant, by provider and their delivery state now."""

    async def callbacks_by_state(self) -> list[Tally]:
        """Callback tasks by clinic and state."""

    async def nearest_open_deadlines(self) -> dict[str, datetime]:
        """Per clinic, the earliest deadline among its open callback tasks."""

    async def lease_holder(self, name: str, now: datetime) -> str | None:
        """Who holds the named lease now (None: nobody, or it expired)."""
