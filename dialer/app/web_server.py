"""The web pages and APIs of one dialing process, served from its parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from dialer.app.nodes import NodeHealth
from dialer.app.operations import add_operations
from dialer.app.parts import Runtime
from dialer.engine.complaint_sms import SupervisorSms
from dialer.engine.complaints import ComplaintDesk
from dialer.sms.factory import build_verifiers
from dialer.storage.call_log import SqlCallLog
from dialer.storage.complaints import SqlComplaintStore
from dialer.storage.noshows import SqlNoShowStore
from dialer.storage.scores import SqlScoreStore
from dialer.storage.skills import SqlSkillStore
from dialer.web.api import ApiContext
from dialer.web.app import WebParts, create_app
from dialer.web.auth import AuthContext
from dialer.web.listening import ListeningContext
from dialer.web.noshow import NoShowContext
from dialer.web.operator import OperatorContext
from dialer.web.quality import QualityContext
from dialer.web.sms_receipts import SmsReceiptContext
from dialer.web.supervisor import SupervisorContext


def build_web_app(rt: Runtime) -> web.Application:
    settings = rt.settings
    api = ApiContext(
        sla=rt.storage.sla,
        settings=settings,
        appointments=rt.storage.appointments,
        clock=rt.clock,
        on_imported=rt.day_jobs.lists.on_imported,
        recalls=rt.storage.recalls,
        on_recalls=rt.day_jobs.lists.on_recalls,
        on_cancelled=rt.progressive.slot_freed,
    )
    verifiers = build_verifiers(settings.sms, settings.service.public_url)
    sms_receipts = SmsReceiptContext(
        verifiers={v.provider: v for v in verifiers}, sender=rt.sms, public_url=settings.service.public_url
    )
    auth = AuthContext(
        users=rt.storage.users,
        clock=rt.clock,
        secure_cookies=settings.service.public_url.startswith("https://"),
        audit=rt.storage.audit,
    )
    skills = SqlSkillStore(rt.storage.engine)
    complaints = ComplaintDesk(
        settings=settings,
        store=SqlComplaintStore(rt.storage.engine),
        alerts=rt.storage.alerts,
        sms=rt.sms,
        texts=SupervisorSms(
            settings=settings, alerts=rt.storage.alerts, sms=rt.sms, due=rt.storage.due, clock=rt.clock
        ),
    )
    operators = OperatorContext(
        settings=settings,
        wrapups=rt.storage.wrapups,
        clock=rt.clock,
        after_wrapup=rt.progressive.wrapped_up,
        complaints=complaints,
        skills=skills,
    )
    supervision = SupervisorContext(
        settings=settings, reports=rt.storage.reports, sla=rt.storage.sla, clock=rt.clock
    )
    quality = QualityContext(
        settings=settings,
        calls=SqlCallLog(rt.storage.engine),
        scores=SqlScoreStore(rt.storage.engine),
        clock=rt.clock,
        recordings_dir=settings.service.recordings_dir,
    )
    app = create_app(
        WebParts(
            api=api,
            sms_receipts=sms_receipts,
            auth=auth,
            operators=operators,
            supervision=supervision,
            live=rt.live,
            health=NodeHealth(rt, rt.health),
            quality=quality,
            listening=ListeningContext(settings=settings, calls=skills, skills=skills, clock=rt.clock),
            noshows=NoShowContext(settings=settings, store=SqlNoShowStore(rt.storage.engine), clock=rt.clock),
        )
    )
    add_operations(app, rt)
    return app


# A stop must end well within a service manager's grace (systemd's TimeoutStopSec, 20 s in our own tests and
# benches): the open pages get this long to close, then each request still running this long, twice over
# (aiohttp waits for it, then for its cancellation).
PAGES_CLOSE_SECONDS = 3.0
REQUESTS_GRACE_SECONDS = 2.0


@asynccontextmanager
async def web_server(rt: Runtime) -> AsyncIterator[web.AppRunner]:
    app = build_web_app(rt)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=REQUESTS_GRACE_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, rt.settings.service.listen_host, rt.settings.service.listen_port)
    await site.start()
    try:
        yield runner
    finally:
        # Before the runner's cleanup, which stops reading from the browsers: a socket closed after it never
        # hears the browser's answer, and one left open holds the cleanup until its heartbeat fails (30 s).
        await rt.live.close_all(within=PAGES_CLOSE_SECONDS)
        await runner.cleanup()
