"""SMS Aero (smsaero.ru, API v2) as the SMS gateway: a small aiohttp client, no third-party SDK.

API facts used (from SMS Aero's own client libraries, smsaero/smsaero_python and smsaero_api_v2):
POST {base}/sms/send, sms/status and sms/list with HTTP basic auth (account e-mail : API key); the answer is
`{"success": true, "data": {...}, "message": null}`; a message is `{"id", "number", "text", "status",
"extendStatus", "dateCreate", ...}`; status codes 0 queue, 1 delivered, 2 not delivered, 3 transmitted,
4 waiting for status, 6 rejected, 8 on moderation.

Unlike SMS Aero's own clients, this one never fails over to the mirror hosts (gate.smsaero.org/.net) on a
network error: if the first host took the message and only the answer was lost, a retry elsewhere would
send it twice.

SMS Aero signs nothing in its delivery reports. The gateway therefore puts the message key and an HMAC
token of it into the callback URL it registers, and `SmsAeroStatusVerifier` accepts only a matching token.
The report is then bound to that key: it counts for that one message, and only if its `id` is that message's
(a report for message A's URL naming message B's id changes nothing), so one leaked URL exposes one message.

Construction touches no event loop; the aiohttp session is opened on first use, inside the running loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from dialer.core.ports import OutgoingSms, SmsCallbackRejected, SmsError, SmsReceipt, SmsStatusUpdate
from dialer.core.privacy import mask_phone, scrub_phones
from dialer.core.sms import SmsStatus
from dialer.settings import SmsAeroSettings

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://gate.smsaero.ru/v2"

SMSAERO_STATUSES: Mapping[int, SmsStatus] = {
    0: SmsStatus.QUEUED,  # в очереди
    1: SmsStatus.DELIVERED,  # доставлено
    2: SmsStatus.UNDELIVERED,  # не доставлено
    3: SmsStatus.SENT,  # передано оператору
    4: SmsStatus.SENT,  # ожидание статуса: with the operator, no report yet
    6: SmsStatus.FAILED,  # отклонено
    8: SmsStatus.QUEUED,  # на модерации: not yet sent
}
_FAILED_CODES = frozenset({2, 6})

_CLOCK_SKEW_S = 120.0
_FIND_MAX_PAGES = 5


def map_smsaero_status(value: object) -> SmsStatus:
    """Our status for an SMS Aero code. Unknown codes count as queued, which never moves a status back."""
    try:
        code = int(str(value))
    except ValueError:
        code = -1
    status = SMSAERO_STATUSES.get(code)
    if status is None:
        log.warning("unknown smsaero status %r, treated as queued", value)
        return SmsStatus.QUEUED
    return status


def _error_text(code: object, extend: object) -> str:
    try:
        failed = int(str(code)) in _FAILED_CODES
    except ValueError:
        failed = False
    return f"smsaero status {code} {extend or ''}".strip() if failed else ""


def callback_token(api_key: str, key: str) -> str:
    """The token that proves a delivery-report URL was issued by us for message `key`, and for no other."""
    message = b"dialer smsaero delivery report\x00" + key.encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def signed_callback_url(url: str, key: str, api_key: str) -> str:
    """`url` with `key` and its token in the query (replacing any already there)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("key", "token")]
    query += [("key", key), ("token", callback_token(api_key, key))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _number(e164: str) -> int:
    """SMS Aero wants the number as digits without "+" (its own clients send an integer)."""
    digits = "".join(c for c in e164 if c.isdigit())
    if not digits:
        raise SmsError("smsaero: empty phone number", retryable=False)
    return int(digits)


def _unwrap(path: str, status: int, text: str) -> Any:
    """The `data` of a successful answer; otherwise SmsError saying whether trying later may help."""
    if status in (408, 429) or status >= 500:  # timeouts, throttling, server trouble
        raise SmsError(f"smsaero {path}: HTTP {status}", retryable=True)
    try:
        payload = json.loads(text)
    except ValueError:
        # A 2xx that is not JSON is a proxy page or a cut answer: the request may have gone through or not.
        raise SmsError(f"smsaero {path}: HTTP {status}, answer is not JSON", retryable=status < 400) from None
    if not isinstance(payload, dict):
        raise SmsError(f"smsaero {path}: HTTP {status}, unexpected answer", retryable=status < 400)
    if status >= 400 or not payload.get("success"):
        reason = payload.get("message") or payload.get("reason") or payload.get("result") or "unknown error"
        raise SmsError(f"smsaero {path}: HTTP {status}: {scrub_phones(str(reason))}", retryable=False)
    return payload.get("data")


def _list_rows(data: Any) -> tuple[list[dict[str, Any]], bool]:
    """The messages of one sms/list page and whether another page follows.

    The page is an object keyed "0", "1", … plus "links" and "totalCount"; tolerate a plain list too.
    """
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)], False
    if not isinstance(data, dict):
        return [], False
    rows = [row for row in data.values() if isinstance(row, dict) and "id" in row]
    links = data.get("links")
    return rows, bool(isinstance(links, dict) and links.get("next"))


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timestamp(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0


class SmsAeroGateway:
    """Sends the clinic's SMS through SMS Aero (a Russian gateway) and reads their delivery status back."""

    name = "smsaero"

    def __init__(self, settings: SmsAeroSettings, *, timeout: float = 15.0) -> None:
        self._settings = settings
        self._base = (settings.api_base or DEFAULT_API_BASE).rstrip("/")
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _authorization(self) -> str:
        # Basic auth as a plain header: aiohttp deprecates its BasicAuth helper.
        credentials = f"{self._settings.email}:{self._settings.api_key.value}".encode()
        return "Basic " + base64.b64encode(credentials).decode("ascii")

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"Accept": "application/json", "Authorization": self._authorization()},
            )
        return self._session

    async def _call(self, path: str, body: Mapping[str, Any], page: int | None = None) -> Any:
        params = {"page": str(page)} if page else None
        try:
            async with self._http().post(f"{self._base}/{path}", json=dict(body), params=params) as response:
                status = response.status
                text = await response.text()
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            raise SmsError(f"smsaero {path}: {type(exc).__name__}", retryable=True) from exc
        return _unwrap(path, status, text)

    def _receipt(self, data: Any, what: str) -> SmsReceipt:
        if not isinstance(data, dict) or data.get("id") in (None, ""):
            raise SmsError(f"smsaero {what}: answer without a message id", retryable=False)
        return SmsReceipt(
            str(data["id"]),
            map_smsaero_status(data.get("status")),
            _error_text(data.get("status"), data.get("extendStatus")),
        )

    async def send(self, sms: OutgoingSms) -> SmsReceipt:
        """One POST to sms/send, never repeated here.

        A retryable error may still mean SMS Aero got the message: call `find_sent` before sending again.
        """
        body: dict[str, Any] = {"number": _number(sms.to), "text": sms.body, "sign": self._settings.sign}
        if sms.status_callback:
            api_key = self._settings.api_key.value
            body["callbackUrl"] = signed_callback_url(sms.status_callback, sms.key, api_key)
        receipt = self._receipt(await self._call("sms/send", body), "send")
        log.info(
            "sms %s to %s taken by smsaero as %s (%s)",
            sms.key,
            mask_phone(sms.to),
            receipt.provider_id,
            receipt.status,
        )
        return receipt

    async def find_sent(self, sms: OutgoingSms, since: datetime) -> SmsReceipt | None:
        """The message SMS Aero holds for this number with exactly this text, created since `since`, if any.

        Uses sms/list filtered by number and text, reading at most a few pages (newest first).
        """
        earliest = _as_utc(since).timestamp() - _CLOCK_SKEW_S
        query = {"number": _number(sms.to), "text": sms.body}
        for page in range(1, _FIND_MAX_PAGES + 1):
            rows, more = _list_rows(await self._call("sms/list", query, page=page))
            for row in rows:
                if row.get("text") == sms.body and _timestamp(row.get("dateCreate")) >= earliest:
                    receipt = self._receipt(row, "find_sent")
                    log.info(
                        "sms %s to %s found at smsaero as %s",
                        sms.key,
                        mask_phone(sms.to),
                        receipt.provider_id,
                    )
                    return receipt
            if not more:
                break
        return None

    async def fetch_status(self, provider_id: str) -> SmsStatus:
        if not provider_id.isdigit():
            raise SmsError(f"smsaero fetch_status: {provider_id!r} is not a message id", retryable=False)
        return self._receipt(await self._call("sms/status", {"id": int(provider_id)}), "fetch_status").status

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class SmsAeroStatusVerifier:
    """Checks SMS Aero's delivery reports by the token in their URL; reads `id` and `status` from the form."""

    provider = "smsaero"

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("smsaero api key is required to verify status callbacks")
        self._api_key = api_key

    def parse(self, url: str, headers: Mapping[str, str], form: Mapping[str, str]) -> SmsStatusUpdate:
        query = dict(parse_qsl(urlsplit(url).query))
        key, token = query.get("key", ""), query.get("token", "")
        if not key or not token:
            raise SmsCallbackRejected("smsaero status callback without key or token")
        if not hmac.compare_digest(token, callback_token(self._api_key, key)):
            raise SmsCallbackRejected("smsaero status callback with a wrong token")
        provider_id, status = form.get("id", ""), form.get("status", "")
        if not provider_id or status == "":
            raise SmsCallbackRejected("smsaero status callback without id or status")
        return SmsStatusUpdate(
            provider_id, map_smsaero_status(status), _error_text(status, form.get("extendStatus")), key=key
        )
