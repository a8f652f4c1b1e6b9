"""The call log as CSV: the calls the log's page finds with the same filters, every page of them at once, for
the senior administrator's spreadsheet. Masked numbers, and no patient's name."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from aiohttp import web

from dialer.core.csvfile import formula_safe_row
from dialer.core.privacy import mask_phone
from dialer.core.quality_ports import CallLine
from dialer.core.staff import AuditAction, Role
from dialer.core.wrapup import RESULTS
from dialer.settings import ClinicSettings
from dialer.web.access import Scope, add_route, allow
from dialer.web.audit import record
from dialer.web.calls import MAX_SPAN, call_query, kind_label
from dialer.web.quality import QUALITY, clinic_of

# The longest period (93 days) of a busy clinic fits many times over; more is refused rather than cut short.
MAX_ROWS = 100_000
HEADER = ["time", "kind", "operator", "phone", "result", "talk_seconds", "recorded", "score"]


def csv_row(line: CallLine, clinic: ClinicSettings) -> list[object]:
    return formula_safe_row(
        [
            line.created_at.astimezone(clinic.timezone).isoformat(timespec="seconds"),
            kind_label(line),
            line.operator,
            mask_phone(line.phone),
            RESULTS.get(line.result, line.result),
            "" if line.talk_seconds is None else round(line.talk_seconds),
            "да" if line.recordings else "нет",
            "" if line.score is None else line.score,
        ]
    )


async def calls_csv(request: web.Request) -> web.Response:
    ctx = request.app[QUALITY]
    clinic = clinic_of(request)
    query, first, last, _ = call_query(request, clinic)
    found = await ctx.calls.calls(replace(query, offset=0, limit=MAX_ROWS + 1))
    if len(found.lines) > MAX_ROWS:
        raise web.HTTPBadRequest(
            text=f"Звонков больше {MAX_ROWS}: сузьте период (до {MAX_SPAN.days} дней) или условия"
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(csv_row(line, clinic) for line in found.lines)
    detail: dict[str, object] = {
        "report": "calls",
        "date": first.isoformat(),
        "until": last.isoformat(),
        "rows": len(found.lines),
    }
    await record(request, AuditAction.EXPORT, clinic.id, detail)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="calls-{clinic.id}-{first}-{last}.csv"'},
    )


def add_routes(app: web.Application) -> None:
    # The same people and clinic walls as the log's page it exports.
    add_route(
        app, "GET", "/supervisor/calls.csv", calls_csv, allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC)
    )
