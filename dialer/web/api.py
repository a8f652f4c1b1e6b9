"""The JSON API. Every handler answers bad input with 400 and a list of errors, never a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, TypedDict

from aiohttp import web

from dialer.core.appointments import ALL_FIELDS as APPOINTMENT_FIELDS
from dialer.core.clock import Clock
from dialer.core.recalls import ALL_FIELDS as RECALL_FIELDS
from dialer.core.records import OutcomeRow, ReminderStatus
from dialer.core.staff import AuditAction, Role
from dialer.core.stores import AppointmentStore, RecallImportStore
from dialer.engine.importing import ImportOutcome, import_appointments, import_recalls
from dialer.engine.reports import SlaRows, sla_report
from dialer.settings import Settings
from dialer.web.access import (
    Scope,
    add_route,
    allow,
    not_held,
    one_clinic,
    some_clinics,
)
from dialer.web.audit import record
from dialer.web.auth import user_of
from dialer.web.errors import ErrorLine, errors_response, json_refusal
from dialer.web.params import known_clinic, query_day

log = logging.getLogger("dialer.web")

MAX_IMPORT_ROWS = 20_000


@dataclass
class ApiContext:
    settings: Settings
    appointments: AppointmentStore
    clock: Clock
    on_imported: Any  # async (set[date]) -> None: plans the days that just got appointments
    sla: SlaRows | None = None
    recalls: RecallImportStore | None = None
    on_recalls: Callable[[], Awaitable[None]] | None = None  # plans today's KOS after an import
    on_cancelled: Callable[[str, str], Awaitable[object]] | None = None  # offers a freed slot


API = web.AppKey("api", ApiContext)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise json_refusal(web.HTTPBadRequest, "body", f"не JSON: {err}") from None


def _items(body: Any, key: str) -> list[Any] | None:
    if isinstance(body, dict) and set(body) == {key}:
        body = body[key]
    return body if isinstance(body, list) else None


class ImportAnswer(TypedDict):
    """The answer to a list loaded through the API: how many rows came, went in, and each bad row's error."""

    rows: int
    imported: int
    created: int
    updated: int
    errors: list[ErrorLine]


Importer = Callable[[list[tuple[int, dict[str, Any]]]], Awaitable[ImportOutcome]]


async def _import_rows(
    request: web.Request, key: str, fields: Collection[str], run: Importer
) -> web.Response:
    """A JSON list of rows, checked row by row like a CSV file: good rows go in, each bad one is named."""
    items = _items(await _json_body(request), key)
    if items is None:
        return errors_response(
            [{"field": "body", "message": f'ожидался список записей или {{"{key}": [...]}}'}]
        )
    if len(items) > MAX_IMPORT_ROWS:
        return errors_response(
            [{"field": "body", "message": f"не больше {MAX_IMPORT_ROWS} записей за раз"}], 413
        )
    numbered: list[tuple[int, dict[str, Any]]] = []
    errors: list[ErrorLine] = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            errors.append({"row": index, "field": "row", "message": "запись должна быть объектом"})
            continue
        unknown = sorted(set(item) - set(fields))
        if unknown:
            errors.append({"row": index, "field": unknown[0], "message": f"неизвестные поля {unknown}"})
            continue
        numbered.append((index, item))
    outcome = await run(numbered)
    await record(request, AuditAction.IMPORT, *outcome.audit(key, "api"))
    all_errors = sorted(
        errors + [{"row": e.row, "field": e.field, "message": e.message} for e in outcome.errors],
        key=lambda e: (str(e.get("row")).zfill(9), e["field"]),
    )
    body: ImportAnswer = {
        "rows": len(items),
        "imported": outcome.created + outcome.updated,
        "created": outcome.created,
        "updated": outcome.updated,
        "errors": all_errors,
    }
    return web.json_response(body, status=400 if all_errors else 200)


def _holds(request: web.Request) -> Callable[[str], bool] | None:
    """The wall for imported rows: None for a user of every clinic, else the check each row's clinic meets."""
    user = user_of(request)
    return None if user.all_clinics else user.holds


async def post_appointments(request: web.Request) -> web.Response:
    ctx = request.app[API]
    holds = _holds(request)

    async def run(rows: list[tuple[int, dict[str, Any]]]) -> ImportOutcome:
        outcome = await import_appointments(
            rows, settings=ctx.settings, store=ctx.appointments, now=ctx.clock.now(), holds=holds
        )
        if outcome.days:
            await ctx.on_imported(outcome.days)
        return outcome

    return await _import_rows(request, "appointments", APPOINTMENT_FIELDS, run)


async def post_kos(request: web.Request) -> web.Response:
    ctx = request.app[API]
    if ctx.recalls is None:
        raise web.HTTPServiceUnavailable(text="the KOS list is not available in this process")
    recalls = ctx.recalls
    holds = _holds(request)

    async def run(rows: list[tuple[int, dict[str, Any]]]) -> ImportOutcome:
        return await import_recalls(
            rows, settings=ctx.settings, store=recalls, now=ctx.clock.now(), holds=holds
        )

    response = await _import_rows(request, "recalls", RECALL_FIELDS, run)
    if ctx.on_recalls is not None:
        await ctx.on_recalls()
    return response


async def get_kos(request: web.Request) -> web.Response:
    ctx = request.app[API]
    if ctx.recalls is None:
        raise web.HTTPServiceUnavailable(text="the KOS list is not available in this process")
    clinics = some_clinics(request, user_of(request), list(ctx.settings.clinics))
    unknown = _unknown(ctx.settings, clinics)
    if unknown is not None:
        return unknown
    rows = [r.public() for c in _each(clinics) for r in await ctx.recalls.export(c)]
    detail = {"report": "kos", "via": "api", "rows": len(rows)}
    await record(request, AuditAction.EXPORT, _audit_clinic(clinics), detail)
    return web.json_response({"recalls": rows})


def _each(clinics: list[str] | None) -> list[str | None]:
    """The store's clinic filters for a user's clinics: None asks for every clinic at once; [] for none."""
    return [None] if clinics is None else list(clinics)


def _unknown(settings: Settings, clinics: list[str] | None) -> web.Response | None:
    for clinic in clinics or ():
        if clinic not in settings.clinics:
            return errors_response([{"field": "clinic", "message": f"неизвестная клиника {clinic!r}"}])
    return None


def _audit_clinic(clinics: list[str] | None) -> str:
    return clinics[0] if clinics and len(clinics) == 1 else "*"


async def cancel_appointment(request: web.Request) -> web.Response:
    """The clinic cancels a visit (from the operator's page): its slot is offered to the waiting list."""
    ctx = request.app[API]
    body = await _json_body(request)
    if not isinstance(body, dict) or set(body) - {"clinic", "appointment_id"}:
        return errors_response(
            [{"field": "body", "message": 'ожидался {"clinic": ..., "appointment_id": ...}'}]
        )
    clinic_value, appointment_id = body.get("clinic"), body.get("appointment_id")
    if isinstance(clinic_value, str) and clinic_value and not user_of(request).holds(clinic_value):
        raise not_held(request, clinic_value)
    clinic = known_clinic(request, ctx.settings, clinic_value).id
    if not isinstance(appointment_id, str) or not appointment_id.strip():
        return errors_response([{"field": "appointment_id", "message": "нужен номер записи"}])
    if not await ctx.appointments.cancel(clinic, appointment_id, ctx.clock.now()):
        return errors_response(
            [{"field": "appointment_id", "message": "нет такой записи, или она уже отменена"}], 404
        )
    await record(request, AuditAction.CANCEL, clinic, {"appointment_id": appointment_id, "via": "api"})
    if ctx.on_cancelled is not None:
        await ctx.on_cancelled(clinic, appointment_id)
    return web.json_response({"cancelled": True, "clinic": clinic, "appointment_id": appointment_id})


async def get_appointments(request: web.Request) -> web.Response:
    ctx = request.app[API]
    day = query_day(request)
    clinics = some_clinics(request, user_of(request), list(ctx.settings.clinics))
    unknown = _unknown(ctx.settings, clinics)
    if unknown is not None:
        return unknown
    rows = [r for c in _each(clinics) for r in await ctx.appointments.outcomes(day, c)]
    await record(
        request,
        AuditAction.EXPORT,
        _audit_clinic(clinics),
        {"report": "outcomes", "date": day.isoformat(), "via": "api", "rows": len(rows)},
    )
    return web.json_response({"date": day.isoformat(), "appointments": [_outcome(r) for r in rows]})


class AppointmentOutcome(TypedDict):
    """One visit's reminder outcome, as GET /api/appointments lists it."""

    clinic: str
    appointment_id: str
    visit_at: str
    status: str
    status_label: str
    attempts: int
    last_result: str
    digit: str
    sms_status: str


def _outcome(r: OutcomeRow) -> AppointmentOutcome:
    return {
        "clinic": r.clinic_id,
        "appointment_id": r.appointment_id,
        "visit_at": r.visit_at.isoformat(),
        "status": r.status,
        "status_label": ReminderStatus(r.status).label,
        "attempts": r.attempts,
        "last_result": r.last_result,
        "digit": r.digit,
        "sms_status": r.sms_status,
    }


async def get_sla(request: web.Request) -> web.Response:
    ctx = request.app[API]
    clinic = known_clinic(
        request, ctx.settings, one_clinic(request, user_of(request), list(ctx.settings.clinics))
    )
    day = query_day(request, default=ctx.clock.now().astimezone(clinic.timezone).date())
    if ctx.sla is None:
        raise web.HTTPServiceUnavailable(text="SLA figures are not available in this process")
    return web.json_response((await sla_report(ctx.sla, clinic, day, ctx.clock.now())).as_dict())


def add_routes(app: web.Application) -> None:
    # Loading lists schedules calls and SMS: the clinic's system (an admin's API token) or an admin, row by row
    # for the clinics they hold. Reading results: supervisors and admins, for their clinics. Cancelling a
    # visit: also the operator, from the caller's card, in their own clinics.
    add_route(app, "POST", "/api/appointments", post_appointments, allow(Role.ADMIN, scope=Scope.ROWS))
    add_route(
        app,
        "GET",
        "/api/appointments",
        get_appointments,
        allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINICS),
    )
    add_route(app, "GET", "/api/sla", get_sla, allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINIC))
    add_route(app, "POST", "/api/kos", post_kos, allow(Role.ADMIN, scope=Scope.ROWS))
    add_route(app, "GET", "/api/kos", get_kos, allow(Role.SUPERVISOR, Role.ADMIN, scope=Scope.CLINICS))
    add_route(
        app,
        "POST",
        "/api/appointments/cancel",
        cancel_appointment,
        allow(Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, scope=Scope.ROWS),
    )
