"""The JSON API described as OpenAPI 3, served at /api/openapi.json (and used to fuzz the API in tests)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from dialer.core.appointments import ALL_FIELDS
from dialer.core.recalls import ALL_FIELDS as RECALL_FIELDS
from dialer.core.wrapup import FIELDS as WRAPUP_FIELDS
from dialer.core.wrapup import RESULTS
from dialer.web.access import add_route, public
from dialer.web.params import MAX_ID

ERRORS = {
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": "integer"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        }
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERRORS}}}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _upload(summary: str, fields: Iterable[str], loaded: str, rows: str) -> dict[str, Any]:
    """A POST of a JSON array of rows, each an object of string fields; `rows` names them in the 413."""
    return {
        "summary": summary,
        "requestBody": _json_body(
            {
                "type": "array",
                "items": {"type": "object", "properties": {f: {"type": "string"} for f in fields}},
            }
        ),
        "responses": {
            "200": {"description": loaded},
            "400": _error("ошибки по строкам"),
            "401": _error("нужен вход"),
            "413": _error(f"слишком много {rows}"),
        },
    }


CLINIC = {"name": "clinic", "in": "query", "schema": {"type": "string"}}


def _read(summary: str, found: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    """A GET that reads by query parameters: `found` describes what a 200 holds."""
    return {
        "summary": summary,
        "parameters": list(parameters),
        "responses": {
            "200": {"description": found},
            "400": _error("неверные параметры"),
            "401": _error("нужен вход"),
        },
    }


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "dialer", "version": "1"},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "security": [{"token": []}],
    "paths": {
        "/api/appointments": {
            "post": _upload("Загрузить записи на приём", ALL_FIELDS, "все записи загружены", "записей"),
            "get": _read(
                "Записи на день с результатом напоминания",
                "записи",
                {
                    "name": "date",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "format": "date"},
                },
                CLINIC,
            ),
        },
        "/api/kos": {
            "post": _upload(
                "Загрузить журнал КОС («3. Звать»)", RECALL_FIELDS, "все строки загружены", "строк"
            ),
            "get": _read("Журнал КОС с результатами обзвона", "строки журнала", CLINIC),
        },
        "/api/appointments/cancel": {
            "post": {
                "summary": "Отменить визит: время предлагается листу ожидания",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["clinic", "appointment_id"],
                        "properties": {"clinic": {"type": "string"}, "appointment_id": {"type": "string"}},
                    }
                ),
                "responses": {
                    "200": {"description": "отменён"},
                    "400": _error("неверные поля"),
                    "401": _error("нужен вход"),
                    "404": _error("нет такой записи или она уже отменена"),
                },
            },
        },
        "/api/sla": {
            "get": _read(
                "Уровень сервиса за день и по часам",
                "показатели",
                {"name": "date", "in": "query", "schema": {"type": "string", "format": "date"}},
                CLINIC,
            ),
        },
        "/api/wrapups/{wrapup_id}": {
            "post": {
                "summary": "Сохранить итог звонка",
                "parameters": [
                    {
                        "name": "wrapup_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                    }
                ],
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "properties": {
                            **{f: {"type": "string"} for f in WRAPUP_FIELDS - {"slots", "result"}},
                            "result": {"type": "string", "enum": list(RESULTS)},
                            "slots": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                ),
                "responses": {
                    "200": {"description": "сохранено"},
                    "400": _error("ошибки в полях"),
                    "401": _error("нужен вход"),
                    "403": _error("нет прав"),
                    "404": _error("нет такого звонка для оформления"),
                    "409": _error("звонок уже оформлен"),
                },
            },
        },
    },
}


# Every operation answers 403 to a role it is not for, and to a request naming a clinic the caller does not hold.
for _item in SPEC["paths"].values():
    for _operation in _item.values():
        _operation["responses"].setdefault("403", _error("нет прав, или клиника не ваша"))


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)


def add_routes(app: web.Application) -> None:
    add_route(app, "GET", "/api/openapi.json", openapi, public("the API's description, no data"))
