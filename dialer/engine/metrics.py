"""What /metrics and /ready report: the link and the calls in the air as this process sees them, and counts
from storage.

Attempts, SMS and callback tasks are counted in the database rather than in memory: the rows are the truth
every node shares, whichever node dials, and a restart loses no count. The counts cover the current UTC day
(attempts and SMS through their created_at index): counting every row ever kept took 9 s on a million attempts,
a day's take tens of milliseconds. So `attempts_total` counts the day's ended attempts and starts again at
00:00 UTC, which Prometheus reads as a counter reset (rate() and increase() stay right). Those reads are kept
for a few seconds, so that several scrapers (or a scraper and a person) cost one set of queries. The AMI
events are counted in memory where they enter the intake: nothing stores them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from importlib import metadata
from platform import python_version
from typing import Literal

from dialer.core.metrics import MetricsStore, Series, Tally, one
from dialer.core.pbx_links import links_by_name
from dialer.core.ports import PbxLink
from dialer.core.records import TaskState
from dialer.core.sla import figures
from dialer.core.tracker import Event
from dialer.engine.calls import CallDesk
from dialer.engine.pbx_gates import PbxGates
from dialer.engine.reports import SlaRows
from dialer.settings import ClinicSettings, Settings

DIALING_LEASE = "dialing"
STORED_FOR_SECONDS = 5.0
DATABASE_TIMEOUT_SECONDS = 2.0


class EventCount:
    """The AMI events this process has received, counted on their way into the intake."""

    def __init__(self) -> None:
        self.received = 0
        self.by_pbx: dict[str, int] = {}  # with several Asterisks: each one's events, by its name

    def counting(self, sink: Callable[[Event], None], pbx: str = "") -> Callable[[Event], None]:
        """`sink`, counting each event; with `pbx`, under that Asterisk's name too."""
        if not pbx:

            def count(event: Event) -> None:
                self.received += 1
                sink(event)

            return count
        self.by_pbx.setdefault(pbx, 0)

        def count_of(event: Event) -> None:
            self.received += 1
            self.by_pbx[pbx] += 1
            sink(event)

        return count_of


def version() -> str:
    try:
        return metadata.version("dialer")
    except metadata.PackageNotFoundError:
        return "unknown"


def pbx_name(settings: Settings) -> str:
    """The PBX as a label: its configured host, or the local sandbox."""
    return settings.ami.host or "sandbox"


NOT_RECONCILED = "ami: calls not yet reconciled"
ALL_DISCONNECTED = "ami: every Asterisk disconnected"


@dataclass(frozen=True)
class ReadyState:
    """What /ready answers: `reason` when not ready; ready or not, the Asterisks that are away, by name.

    Nothing in it names a patient or a clinic, only Asterisks.
    """

    reason: str | None = None
    disconnected: tuple[str, ...] = ()
    unreconciled: tuple[str, ...] = ()  # up, but their calls not yet matched to the PBX's

    @property
    def degraded(self) -> list[str]:
        return [f"ami {name}: disconnected" for name in self.disconnected] + [
            f"ami {name}: calls not yet reconciled" for name in self.unreconciled
        ]

    def without_calls(self) -> ReadyState:
        """As a node that dials nothing sees it: it has no calls to reconcile."""
        reason = None if self.reason == NOT_RECONCILED else self.reason
        return ReadyState(reason, self.disconnected)


@dataclass(kw_only=True)
class Readiness:
    """Ready for a load balancer's traffic: the database answers, and the AMI link is up and reconciled.

    With several Asterisks both nodes of an installation share them all, so one Asterisk down must not take
    every node out of the balancer: the pages of the clinics on the others still work. Ready then takes one
    Asterisk up and reconciled, and names the rest as degraded.
    """

    link: PbxLink
    desk: CallDesk
    store: MetricsStore
    gates: PbxGates | None = None  # with several Asterisks: each one's calls reconciled or not

    async def __call__(self) -> ReadyState:
        try:
            await asyncio.wait_for(self.store.ping(), DATABASE_TIMEOUT_SECONDS)
        except Exception as exc:  # any failure to answer means not ready; its text may quote values
            return ReadyState(f"database: {type(exc).__name__}")
        if self.gates is None:
            return self._one()
        return self._several(self.gates)

    def _one(self) -> ReadyState:
        for name, link in links_by_name(self.link, "").items():
            if not link.connected:
                return ReadyState(f"ami {name}: disconnected" if name else "ami: disconnected")
        return ReadyState(None if self.desk.reconciled.is_set() else NOT_RECONCILED)

    def _several(self, gates: PbxGates) -> ReadyState:
        links = links_by_name(self.link, gates.default)
        up = [name for name, link in links.items() if link.connected]
        down = tuple(name for name in links if name not in up)
        if not up:
            return ReadyState(ALL_DISCONNECTED, down)
        behind = tuple(name for name in up if not _reconciled(gates, name))
        return ReadyState(NOT_RECONCILED if len(behind) == len(up) else None, down, behind)


def _reconciled(gates: PbxGates, name: str) -> bool:
    gate = gates.reconciled.get(name)
    return gate is not None and gate.is_set()


@dataclass(kw_only=True)
class MetricsReport:
    settings: Settings
    now: Callable[[], datetime]
    monotonic: Callable[[], float]
    link: PbxLink
    desk: CallDesk
    store: MetricsStore
    sla: SlaRows
    holder: str  # this process's name in the dialing lease
    events: EventCount
    held: Callable[[], int] = lambda: 0  # finished inbound calls not yet stored (the database away)
    dialplan: Callable[[], Mapping[str, int]] = dict  # each PBX: 1 if it runs this service's dialplan, else 0
    gates: PbxGates | None = None  # with several Asterisks: whether each one's calls are reconciled
    _stored: tuple[float, list[Series]] | None = field(default=None, init=False)

    async def series(self) -> list[Series]:
        return self._live() + await self._from_storage()

    def _links(self) -> list[tuple[dict[str, str], PbxLink]]:
        """Each Asterisk's link with its label: one Asterisk by its host, as always; several by their names."""
        links = links_by_name(self.link, pbx_name(self.settings))
        return [({"pbx": name}, link) for name, link in links.items()]

    def _reconciled(self) -> tuple[tuple[dict[str, str], int], ...]:
        """One Asterisk's by its host, as always; several each by its name, as ami_up names them: one still
        reconciling after its reconnect does not hide behind, nor hold back, the others."""
        if self.gates is None:
            return (({"pbx": pbx_name(self.settings)}, int(self.desk.reconciled.is_set())),)
        return tuple(({"pbx": name}, int(gate.is_set())) for name, gate in self.gates.reconciled.items())

    def _live(self) -> list[Series]:
        pbx = {"pbx": pbx_name(self.settings)}
        return [
            Series(
                "build_info",
                "info",
                "The running build.",
                (({"version": version(), "python": python_version()}, 1),),
            ),
            Series(
                "ami_up",
                "gauge",
                "1 while the AMI link to the PBX is up.",
                tuple((label, int(link.connected)) for label, link in self._links()),
            ),
            Series(
                "ami_reconciled",
                "gauge",
                "1 once the calls in the air were matched to the PBX's after the last (re)connect.",
                self._reconciled(),
            ),
            Series(
                "ami_events_received_total",
                "counter",
                "AMI events received by this process, by Asterisk.",
                tuple(({"pbx": n}, c) for n, c in self.events.by_pbx.items())
                if self.events.by_pbx
                else ((pbx, self.events.received),),
            ),
            Series(
                "dialplan_current",
                "gauge",
                "1 while the PBX runs this service's version of extensions_dialer.conf, 0 while another or none;"
                " asked at each link-up.",
                tuple(({"pbx": name}, current) for name, current in sorted(self.dialplan().items())),
            ),
            one("calls_in_flight", "gauge", "Outbound calls placed and not yet ended.", self.desk.in_flight),
            one(
                "inbound_calls_held",
                "gauge",
                "Finished inbound calls this process could not store yet (the database away); tried again.",
                self.held(),
            ),
        ]

    async def _from_storage(self) -> list[Series]:
        at = self.monotonic()
        if self._stored is not None and at - self._stored[0] < STORED_FOR_SECONDS:
            return self._stored[1]
        stored = await self._read()
        self._stored = (at, stored)
        return stored

    async def _read(self) -> list[Series]:
        now = self.now()
        midnight = datetime.combine(now.astimezone(UTC).date(), time(0), UTC)
        holder = await self.store.lease_holder(DIALING_LEASE, now)
        deadlines = await self.store.nearest_open_deadlines()
        return [
            one(
                "leader",
                "gauge",
                "1 while this process holds the dialing lease (it dials and runs due work).",
                int(holder == self.holder),
            ),
            _tallied(
                "attempts_total",
                "counter",
                "Call attempts placed today (UTC) that have ended, by campaign and result; 0 again at 00:00 UTC.",
                ("campaign", "result"),
                await self.store.attempts_by_result(midnight),
            ),
            _tallied(
                "sms_today",
                "gauge",
                "SMS made today (UTC), by provider and their delivery state now.",
                ("provider", "state"),
                await self.store.sms_by_state(midnight),
            ),
            Series(
                "callback_tasks",
                "gauge",
                "Callback tasks by clinic and state.",
                self._tasks(await self.store.callbacks_by_state()),
            ),
            Series(
                "callback_deadline_seconds",
                "gauge",
                "Seconds to the nearest deadline among the clinic's open callback tasks (negative: overdue).",
                tuple(({"clinic": c}, (d - now).total_seconds()) for c, d in sorted(deadlines.items())),
            ),
            *await self._service_level(now),
        ]

    def _tasks(self, tallies: list[Tally]) -> tuple[tuple[dict[str, str], float], ...]:
        """Every configured clinic in every state, zeros included: an alert on a series needs the series."""
        counts = {(t.first, t.second): t.count for t in tallies}
        for clinic in self.settings.clinics:
            for state in TaskState:
                counts.setdefault((clinic, state.value), 0)
        return tuple(({"clinic": c, "state": s}, n) for (c, s), n in sorted(counts.items()))

    async def _service_level(self, now: datetime) -> list[Series]:
        missed: list[tuple[dict[str, str], float]] = []
        called: list[tuple[dict[str, str], float]] = []
        for clinic in self.settings.clinics.values():
            start = _day_start(clinic, now)
            calls, tasks = await self.sla.rows(clinic.id, start, start + timedelta(days=1))
            today = figures(calls, tasks, now)
            missed.append(({"clinic": clinic.id}, today.missed))
            called.append(({"clinic": clinic.id}, today.first_attempt_in_deadline_pct / 100))
        return [
            Series(
                "missed_calls_today",
                "gauge",
                "Inbound calls nobody answered, today in the clinic's time.",
                tuple(missed),
            ),
            Series(
                "callbacks_in_deadline_ratio",
                "gauge",
                "Today's callback tasks first called back within their deadline (15 min), of all of today's.",
                tuple(called),
            ),
        ]


def _tallied(
    name: str, kind: Literal["gauge", "counter"], help: str, labels: tuple[str, str], tallies: list[Tally]
) -> Series:
    return Series(
        name, kind, help, tuple(({labels[0]: t.first, labels[1]: t.second}, t.count) for t in tallies)
    )


def _day_start(clinic: ClinicSettings, now: datetime) -> datetime:
    return datetime.combine(now.astimezone(clinic.timezone).date(), time(0), clinic.timezone)
