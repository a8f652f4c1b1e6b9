"""A local Twilio: the Messages part of REST API 2010-04-01, enough for the official SDK to run against it.

Endpoints (HTTP basic auth with the account sid and auth token, as Twilio's):
  POST /2010-04-01/Accounts/{AccountSid}/Messages.json         form: To, From, Body, StatusCallback
  GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json
  GET  /2010-04-01/Accounts/{AccountSid}/Messages.json         To, From, DateSent, DateSent<, DateSent>,
                                                               PageSize, Page (Twilio's paging shape)

Each message goes queued -> sent -> delivered (or undelivered for numbers ending with `undelivered_suffix`),
one step every `step_delay` seconds. Each change is reported to its StatusCallback, signed with
X-Twilio-Signature exactly as Twilio signs (the SDK's own RequestValidator computes it).

Run alone: python -m tests.fakes.twilio_server --port 8765 --account-sid AC… --auth-token …
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import BasicAuth, web
from twilio.request_validator import RequestValidator

from tests.fakes import FakeGatewayServer, abort_connection, mask_phone, run_standalone, standalone_parser

log = logging.getLogger("tests.fakes.twilio")

API = "/2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "f" * 32
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
UNDELIVERED_ERROR = 30003  # Twilio: unreachable destination handset


def _rfc2822(moment: datetime | None) -> str | None:
    return format_datetime(moment) if moment is not None else None  # "+0000", which the SDK parses


def _segments(body: str) -> int:
    ucs2 = any(ord(c) > 0x7F for c in body)
    single, multi = (70, 67) if ucs2 else (160, 153)
    return 1 if len(body) <= single else -(-len(body) // multi)


def _error(status: int, code: int, message: str) -> web.Response:
    payload = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(payload, status=status)


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str
    status: str = "queued"
    date_created: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    date_sent: datetime | None = None
    error_code: int | None = None
    history: list[str] = field(default_factory=lambda: ["queued"])

    def resource(self) -> dict[str, Any]:
        base = f"{API}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status": self.status,
            "direction": "outbound-api",
            "num_segments": str(_segments(self.body)),
            "num_media": "0",
            "messaging_service_sid": None,
            "price": None,
            "price_unit": "USD",
            "error_code": self.error_code,
            "error_message": "Unreachable destination handset" if self.error_code else None,
            "date_created": _rfc2822(self.date_created),
            "date_updated": _rfc2822(self.date_updated),
            "date_sent": _rfc2822(self.date_sent),
            "uri": f"{base}.json",
            "subresource_uris": {"media": f"{base}/Media.json"},
        }


def _parse_filter_date(raw: str) -> datetime | date | None:
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return parsed if "T" in fmt else parsed.date()
    return None


def _sent_matches(sent: datetime | None, op: str, bound: datetime | date) -> bool:
    """Twilio's DateSent filters: messages not yet sent (no DateSent) never match."""
    if sent is None:
        return False
    value: datetime | date = sent if isinstance(bound, datetime) else sent.date()
    if op == ">":
        return value >= bound
    if op == "<":
        return value <= bound
    return value == bound


class FakeTwilio(FakeGatewayServer):
    """Twilio's Messages API on a local socket. `.messages` holds every message taken, in order."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        step_delay: float = 0.2,
        undelivered_suffix: str = "13",
    ) -> None:
        super().__init__(host, port)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.step_delay = step_delay
        self.undelivered_suffix = undelivered_suffix
        self.out_of_order = False  # report the final status before "sent"
        self.not_mobile: set[str] = set()  # numbers refused with 21614
        self.messages: list[FakeMessage] = []
        self.create_attempts = 0
        self._validator = RequestValidator(auth_token)

    def build_app(self) -> web.Application:
        app = web.Application()
        prefix = f"{API}/Accounts/{{account}}/Messages"
        app.router.add_post(f"{prefix}.json", self._create)
        app.router.add_get(f"{prefix}.json", self._list)
        app.router.add_get(f"{prefix}/{{sid}}.json", self._fetch)
        app.router.add_get(f"{API}/Accounts/{{account}}.json", self._account)
        return app

    def message(self, sid: str) -> FakeMessage | None:
        return next((m for m in self.messages if m.sid == sid), None)

    def _authorized(self, request: web.Request) -> bool:
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            return False
        return (auth.login, auth.password) == (self.account_sid, self.auth_token) and (
            request.match_info["account"] == self.account_sid
        )

    def _refusal(self, to: str, from_: str, body: str) -> web.Response | None:
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.not_mobile:
            return _error(400, 21614, f"'To' number {to} is not a valid mobile number")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        return None

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        self.create_attempts += 1
        injected = self.take_injected_failure()
        if injected is not None:
            code = 20429 if injected == 429 else 20500
            return _error(injected, code, "Too Many Requests" if injected == 429 else "Internal Server Error")
        form = await request.post()
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Body", ""))
        service = str(form.get("MessagingServiceSid", ""))
        refusal = self._refusal(to, from_ or service, body)
        if refusal is not None:
            return refusal
        message = FakeMessage(
            "SM" + uuid.uuid4().hex, self.account_sid, to, from_, body, str(form.get("StatusCallback", ""))
        )
        if service and not from_:  # Twilio accepts first and picks the sender from the service's pool
            message.status, message.history, message.from_ = "accepted", ["accepted"], "ZDOROVIE"
        self.messages.append(message)
        log.info(
            "twilio message %s to %s: %d chars, %d part(s)",
            message.sid,
            mask_phone(to),
            len(body),
            _segments(body),
        )
        self.spawn(self._progress(message))
        if self.take_drop():
            return await abort_connection(request)
        return web.json_response(message.resource(), status=201)

    async def _fetch(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        message = self.message(request.match_info["sid"])
        if message is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(message.resource())

    async def _account(self, request: web.Request) -> web.Response:
        """The account resource, as a credentials check reads it."""
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        return web.json_response(
            {"sid": self.account_sid, "status": "active", "type": "Full", "friendly_name": "clinic"}
        )

    def _filtered(self, request: web.Request) -> list[FakeMessage]:
        query = request.query
        found = [m for m in reversed(self.messages)]  # newest first, as Twilio lists
        if "To" in query:
            found = [m for m in found if m.to == query["To"]]
        if "From" in query:
            found = [m for m in found if m.from_ == query["From"]]
        for op, name in (("=", "DateSent"), ("<", "DateSent<"), (">", "DateSent>")):
            bound = _parse_filter_date(query[name]) if name in query else None
            if bound is not None:
                found = [m for m in found if _sent_matches(m.date_sent, op, bound)]
        return found

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate")
        found = self._filtered(request)
        size = max(1, min(int(request.query.get("PageSize", "50")), 1000))
        page = max(0, int(request.query.get("Page", "0")))
        chunk = found[page * size : (page + 1) * size]
        base_query = {k: v for k, v in request.query.items() if k not in ("Page", "PageToken", "PageSize")}

        def page_uri(number: int) -> str:
            query = {**base_query, "PageSize": str(size), "Page": str(number)}
            if number > 0:
                query["PageToken"] = f"PA{number}"
            return f"{request.path}?{urlencode(query)}"

        more = (page + 1) * size < len(found)
        return web.json_response(
            {
                "messages": [m.resource() for m in chunk],
                "end": page * size + max(len(chunk) - 1, 0),
                "start": page * size,
                "page": page,
                "page_size": size,
                "first_page_uri": page_uri(0),
                "uri": page_uri(page),
                "next_page_uri": page_uri(page + 1) if more else None,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            }
        )

    # Delivery ----------------------------------------------------------------------------------------------

    def _report(self, message: FakeMessage) -> dict[str, str]:
        form = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "AccountSid": message.account_sid,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "To": message.to,
            "From": message.from_,
            "ApiVersion": "2010-04-01",
        }
        if message.error_code:
            form["ErrorCode"] = str(message.error_code)
        return form

    async def _notify(self, message: FakeMessage, form: dict[str, str]) -> None:
        if not message.status_callback:
            return
        signature = self._validator.compute_signature(message.status_callback, form)
        await self.post_callback(message.status_callback, form, {"X-Twilio-Signature": signature})

    def _advance(self, message: FakeMessage, status: str) -> None:
        now = datetime.now(UTC)
        message.status, message.date_updated = status, now
        message.history.append(status)
        if status == "sent":
            message.date_sent = now
        if status == "undelivered":
            message.error_code = UNDELIVERED_ERROR

    async def _progress(self, message: FakeMessage) -> None:
        final = "undelivered" if message.to.endswith(self.undelivered_suffix) else "delivered"
        held: list[dict[str, str]] = []
        for status in ("sent", final):
            await asyncio.sleep(self.step_delay)
            self._advance(message, status)
            log.info("twilio message %s to %s: %s", message.sid, mask_phone(message.to), status)
            report = self._report(message)
            if self.out_of_order:
                held.append(report)
            else:
                await self._notify(message, report)
        for report in reversed(held):
            await self._notify(message, report)


def main() -> None:
    parser = standalone_parser("A local Twilio Messages API for tests and the demo.", 8765)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    args = parser.parse_args()
    server = FakeTwilio(
        args.account_sid,
        args.auth_token,
        host=args.host,
        port=args.port,
        step_delay=args.step_delay,
        undelivered_suffix=args.undelivered_suffix,
    )
    run_standalone(server, f"fake twilio ready on {{url}} (account {args.account_sid})")


if __name__ == "__main__":
    main()
