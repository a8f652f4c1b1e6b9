"""A local SMS Aero: the SMS part of API v2 (https://gate.smsaero.ru/v2), as SMS Aero's own clients use it.

Endpoints, all POST with HTTP basic auth (account e-mail : API key), body JSON or form:
  /v2/sms/send     number (digits, no "+"), text, sign, callbackUrl
  /v2/sms/status   id
  /v2/sms/list     number, text; ?page=N (pages are objects keyed "0", "1", … plus "links", "totalCount")
  /v2/auth, /v2/balance
Answers are {"success": true, "data": …, "message": null}.

Each message goes 0 (queue) -> 3 (transmitted) -> 1 (delivered), or -> 2 (not delivered) for numbers ending
with `undelivered_suffix`, one step every `step_delay` seconds; each change is POSTed (form: id, number,
status, extendStatus, dateAnswer) to the message's callbackUrl. Real SMS Aero's report body is not
documented in what we could check; this shape mirrors its status object.

Run alone: python -m tests.fakes.smsaero_server --port 8766 --email … --api-key …
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BasicAuth, web

from tests.fakes import FakeGatewayServer, abort_connection, mask_phone, run_standalone, standalone_parser

log = logging.getLogger("tests.fakes.smsaero")

DEFAULT_EMAIL = "clinic@example.ru"
DEFAULT_API_KEY = "fake-smsaero-api-key"
EXTEND_STATUS = {
    0: "queue",
    1: "delivery",
    2: "error",
    3: "transmitted",
    4: "waiting",
    6: "reject",
    8: "moderation",
}


def _answer(data: Any, status: int = 200, message: str | None = None) -> web.Response:
    return web.json_response({"success": status < 400, "data": data, "message": message}, status=status)


@dataclass
class AeroMessage:
    id: int
    number: str
    text: str
    sign: str
    callback_url: str
    status: int = 0
    date_create: int = field(default_factory=lambda: int(time.time()))
    date_answer: int | None = None
    history: list[int] = field(default_factory=lambda: [0])

    def resource(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "from": self.sign,
            "number": self.number,
            "text": self.text,
            "status": self.status,
            "extendStatus": EXTEND_STATUS[self.status],
            "channel": "FREE SIGN",
            "cost": 5.49,
            "dateCreate": self.date_create,
            "dateSend": self.date_create,
        }
        if self.date_answer is not None:
            data["dateAnswer"] = self.date_answer
        return data


class FakeSmsAero(FakeGatewayServer):
    """SMS Aero's v2 SMS API on a local socket. `.messages` holds every message taken, in order."""

    def __init__(
        self,
        email: str = DEFAULT_EMAIL,
        api_key: str = DEFAULT_API_KEY,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        step_delay: float = 0.2,
        undelivered_suffix: str = "13",
        page_size: int = 30,
    ) -> None:
        super().__init__(host, port)
        self.email = email
        self.api_key = api_key
        self.step_delay = step_delay
        self.undelivered_suffix = undelivered_suffix
        self.page_size = page_size
        self.out_of_order = False  # report the final status before "transmitted"
        self.messages: list[AeroMessage] = []
        self.create_attempts = 0
        self._next_id = 100_001

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/v2/sms/send", self._send)
        app.router.add_post("/v2/sms/status", self._status)
        app.router.add_post("/v2/sms/list", self._list)
        app.router.add_route("*", "/v2/auth", self._auth_check)
        app.router.add_route("*", "/v2/balance", self._balance)
        return app

    def message(self, message_id: int | str) -> AeroMessage | None:
        return next((m for m in self.messages if str(m.id) == str(message_id)), None)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            auth = None
        if auth is None or (auth.login, auth.password) != (self.email, self.api_key):
            return _answer(None, 401, "Your request was made with invalid credentials.")
        response: web.StreamResponse = await handler(request)
        return response

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        if request.content_type == "application/json":
            body = await request.json()
            return {k: str(v) for k, v in body.items() if v is not None} if isinstance(body, dict) else {}
        return {k: str(v) for k, v in (await request.post()).items()}

    async def _auth_check(self, request: web.Request) -> web.Response:
        return _answer(None, message="Successful authorization.")

    async def _balance(self, request: web.Request) -> web.Response:
        return _answer({"balance": 1000.0})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        self.create_attempts += 1
        injected = self.take_injected_failure()
        if injected is not None:
            return _answer(None, injected, "Too Many Requests" if injected == 429 else "Server error")
        params = await self._params(request)
        number, text = params.get("number", ""), params.get("text", "")
        if not (number.isdigit() and 11 <= len(number) <= 15):
            return _answer({"number": ["Incorrect phone number."]}, 400, "Validation error.")
        if not text:
            return _answer({"text": ["Text cannot be blank."]}, 400, "Validation error.")
        message = AeroMessage(
            self._next_id, number, text, params.get("sign", "SMS Aero"), params.get("callbackUrl", "")
        )
        self._next_id += 1
        self.messages.append(message)
        log.info("smsaero message %s to %s: %d chars", message.id, mask_phone("+" + number), len(text))
        self.spawn(self._progress(message))
        if self.take_drop():
            return await abort_connection(request)
        return _answer(message.resource())

    async def _status(self, request: web.Request) -> web.Response:
        message = self.message((await self._params(request)).get("id", ""))
        if message is None:
            return _answer(None, 404, "Not found.")
        return _answer(message.resource())

    async def _list(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        found = [m for m in reversed(self.messages)]  # newest first
        if params.get("number"):
            found = [m for m in found if m.number == params["number"]]
        if params.get("text"):
            found = [m for m in found if params["text"] in m.text]
        page = max(1, int(request.query.get("page", "1")))
        chunk = found[(page - 1) * self.page_size : page * self.page_size]
        last = max(1, -(-len(found) // self.page_size))
        data: dict[str, Any] = {str(i): m.resource() for i, m in enumerate(chunk)}
        links = {
            "self": f"/v2/sms/list?page={page}",
            "first": "/v2/sms/list?page=1",
            "last": f"/v2/sms/list?page={last}",
        }
        if page < last:
            links["next"] = f"/v2/sms/list?page={page + 1}"
        data["links"] = links
        data["totalCount"] = str(len(found))
        return _answer(data)

    # Delivery ----------------------------------------------------------------------------------------------

    def _report(self, message: AeroMessage) -> dict[str, str]:
        return {
            "id": str(message.id),
            "number": message.number,
            "status": str(message.status),
            "extendStatus": EXTEND_STATUS[message.status],
            "dateAnswer": str(message.date_answer or ""),
        }

    async def _progress(self, message: AeroMessage) -> None:
        final = 2 if message.number.endswith(self.undelivered_suffix) else 1
        held: list[dict[str, str]] = []
        for status in (3, final):
            await asyncio.sleep(self.step_delay)
            message.status = status
            message.history.append(status)
            if status in (1, 2):
                message.date_answer = int(time.time())
            log.info(
                "smsaero message %s to %s: %s",
                message.id,
                mask_phone("+" + message.number),
                EXTEND_STATUS[status],
            )
            report = self._report(message)
            if self.out_of_order:
                held.append(report)
            elif message.callback_url:
                await self.post_callback(message.callback_url, report, {})
        for report in reversed(held):
            if message.callback_url:
                await self.post_callback(message.callback_url, report, {})


def main() -> None:
    parser = standalone_parser("A local SMS Aero v2 API for tests and the demo.", 8766)
    parser.add_argument("--email", default=DEFAULT_EMAIL)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args()
    server = FakeSmsAero(
        args.email,
        args.api_key,
        host=args.host,
        port=args.port,
        step_delay=args.step_delay,
        undelivered_suffix=args.undelivered_suffix,
    )
    run_standalone(server, "fake smsaero ready on {url}/v2")


if __name__ == "__main__":
    main()
