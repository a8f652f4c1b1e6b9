"""The operations routes of one process's web app: the load balancer's probes and Prometheus' /metrics,
wired to the process's link, call desk and database."""

from __future__ import annotations

from aiohttp import web

from dialer.app.nodes import NodeReadiness
from dialer.app.parts import Runtime
from dialer.engine.metrics import MetricsReport, Readiness
from dialer.storage.metrics import SqlMetricsStore
from dialer.web import metrics, probes


def add_operations(app: web.Application, rt: Runtime) -> None:
    store = SqlMetricsStore(rt.storage.engine)
    leader = Readiness(link=rt.connection, desk=rt.desk, store=store, gates=rt.health.gates)
    ready: probes.Readiness = NodeReadiness(rt, leader)
    app[probes.READINESS] = ready
    report = MetricsReport(
        settings=rt.settings,
        now=rt.clock.now,
        monotonic=rt.clock.monotonic,
        link=rt.connection,
        desk=rt.desk,
        store=store,
        sla=rt.storage.sla,
        holder=rt.worker.worker_id,
        events=rt.ami_events,
        held=lambda: len(rt.inbound.held),
        dialplan=rt.dialplan.current if rt.dialplan is not None else dict,
        gates=rt.health.gates,
    )
    gather: metrics.Gather = report.series
    app[metrics.METRICS] = gather
    probes.add_routes(app)
    metrics.add_routes(app)
