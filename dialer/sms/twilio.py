"""Twilio as the SMS gateway, through the official SDK's async client (twilio 9.x).

Construction is cheap and touches no event loop: the SDK client and its aiohttp session are created on
first use, inside the running loop (aiohttp refuses to build a session outside one). Call `close()` from
that same loop.

The SDK hard-codes `https://api.twilio.com`. With `api_base` set (tests, the demo), every request to a
*.twilio.com host goes to `api_base` instead, path and query kept, so the SDK runs unchanged against a local
Twilio-compatible server.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from dialer.core.ports import OutgoingSms, SmsCallbackRejected, SmsError, SmsReceipt, SmsStatusUpdate
from dialer.core.privacy import mask_phone, scrub_phones
from dialer.core.sms import SmsStatus
from dialer.settings import TwilioSettings

log = logging.getLogger(__name__)

# The SDK logs every request's query string (the patient's number when listing) at INFO on these loggers.
_SDK_LOG = logging.getLogger("twilio.async_http_client")
_SDK_LOGGERS = ("twilio.async_http_client", "twilio.http_client")

T = TypeVar("T")

TWILIO_STATUSES: Mapping[str, SmsStatus] = {
    "accepted": SmsStatus.QUEUED,  # a Messaging Service took it and has not picked a sender yet
    "scheduled": SmsStatus.QUEUED,
    "queued": SmsStatus.QUEUED,
    "sending": SmsStatus.SENDING,
    "sent": SmsStatus.SENT,
    "delivered": SmsStatus.DELIVERED,
    "read": SmsStatus.DELIVERED,  # WhatsApp/RCS read receipts imply delivery
    # Some parts arrived, some did not: the date or time may be missing, so it is not counted as delivered.
    "partially_delivered": SmsStatus.UNDELIVERED,
    "undelivered": SmsStatus.UNDELIVERED,
    "failed": SmsStatus.FAILED,
    "canceled": SmsStatus.FAILED,  # a scheduled message cancelled before sending: it never went out
    # Inbound states: not expected for outbound messages; mapped so an odd report cannot break the intake.
    "receiving": SmsStatus.SENDING,
    "received": SmsStatus.DELIVERED,
}

# Twilio's DateSent is empty while a message is queued, and its filter works by day; the recovery search
# lists the newest messages to the number and compares creation times itself, allowing this much clock skew.
_CLOCK_SKEW = timedelta(minutes=2)
_FIND_LIMIT = 50
_FIND_PAGE_SIZE = 20

# Without this, the SDK fills missing credentials, edge and region from TWILIO_* environment variables;
# settings are the only source of configuration here. Non-empty: the SDK reads os.environ instead of {}.
_NO_ENVIRONMENT = {"DIALER": "settings-only"}


def map_twilio_status(value: object) -> SmsStatus:
    """Our status for a Twilio status. Unknown ones count as queued, which never moves a status back."""
    status = TWILIO_STATUSES.get(str(value or "").lower())
    if status is None:
        log.warning("unknown twilio message status %r, treated as queued", value)
        return SmsStatus.QUEUED
    return status


def basic_auth_header(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode("ascii")


def _error_text(code: object) -> str:
    return f"twilio error {code}" if code not in (None, "", 0, "0") else ""


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's async HTTP client, fixed: host rewriting, a real timeout, private logs, no deprecated auth.

    Build it inside the running loop and pass it as `twilio.rest.Client(..., http_client=...)`.

    The stock client passes the per-call timeout (None unless given) to aiohttp, which means no timeout at
    all; here the client-wide one applies. It never retries (no `max_retries`), and aiohttp itself never
    resends a POST, so one `send` is at most one message.
    """

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__(pool_connections=True, timeout=timeout, logger=_SDK_LOG)
        for name in _SDK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        self._api_base = api_base.rstrip("/")

    def route(self, url: str) -> str:
        if not self._api_base:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        return self._api_base + parts.path + (f"?{parts.query}" if parts.query else "")

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        if auth is not None:  # as a header: aiohttp deprecates its BasicAuth helper
            headers = {**(headers or {}), "Authorization": basic_auth_header(*auth)}
        return await super().request(
            method,
            self.route(url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=self.timeout if timeout is None else timeout,
            allow_redirects=allow_redirects,
        )

    def log_request(self, kwargs: dict[str, Any]) -> None:
        # Path only: the query string of a list request carries the patient's number.
        log.debug("twilio request %s %s", kwargs["method"], urlsplit(str(kwargs["url"])).path)

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("twilio response %s", status_code)


def _http_status(exc: TwilioException) -> int | None:
    """The HTTP status of a generic SDK error, when it carries the response (failed page fetches do)."""
    for arg in exc.args[1:]:
        status = getattr(arg, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def _transient(status: int) -> bool:
    """HTTP statuses after which the same request may succeed later: timeouts, throttling, server trouble."""
    return status in (408, 429) or status >= 500


def _rest_error(what: str, status: int, code: object, message: str) -> SmsError:
    retryable = _transient(status)
    return SmsError(
        f"twilio {what}: HTTP {status}, code {code}: {scrub_phones(message)}", retryable=retryable
    )


async def _guarded(what: str, call: Awaitable[T]) -> T:
    """Await an SDK call, turning every failure into SmsError that says whether a later attempt may help."""
    try:
        return await call
    except TwilioRestException as exc:
        # `from None`: the SDK's own exception text names the patient's number.
        raise _rest_error(what, exc.status, exc.code, str(exc.msg)) from None
    except TwilioServiceException as exc:
        raise _rest_error(what, exc.status, exc.code, str(exc.detail or exc.title)) from None
    except TwilioException as exc:
        status = _http_status(exc)
        retryable = status is None or _transient(status)
        raise SmsError(
            f"twilio {what}: {scrub_phones(str(exc.args[0]) if exc.args else '')} (HTTP {status})",
            retryable=retryable,
        ) from None
    except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
        raise SmsError(f"twilio {what}: {type(exc).__name__}", retryable=True) from exc
    except ValueError as exc:  # a 2xx answer that is not JSON: a proxy or a half-written response
        raise SmsError(f"twilio {what}: unreadable answer", retryable=True) from exc


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class TwilioGateway:
    """Sends the clinic's SMS through Twilio's REST API and reads their delivery status back."""

    name = "twilio"

    def __init__(self, settings: TwilioSettings, *, timeout: float = 15.0) -> None:
        self._settings = settings
        self._timeout = timeout
        self._http: TwilioHttpClient | None = None
        self._client: Any = None

    def _rest(self) -> Any:
        if self._client is None:
            self._http = TwilioHttpClient(self._settings.api_base, self._timeout)
            self._client = Client(
                self._settings.account_sid,
                self._settings.auth_token.value,
                http_client=self._http,
                environment=_NO_ENVIRONMENT,
            )
        return self._client

    async def send(self, sms: OutgoingSms) -> SmsReceipt:
        """One POST to Messages.json, never repeated here.

        A retryable error may still mean Twilio got the message: call `find_sent` before sending again.
        """
        params: dict[str, str] = {"to": sms.to, "body": sms.body}
        sender = self._settings.from_number
        # A Messaging Service sid (MG…) lets Twilio pick the sender, e.g. a registered alphanumeric name.
        params["messaging_service_sid" if sender.startswith("MG") else "from_"] = sender
        if sms.status_callback:
            params["status_callback"] = sms.status_callback
        message = await _guarded("send", self._rest().messages.create_async(**params))
        receipt = SmsReceipt(
            str(message.sid), map_twilio_status(message.status), _error_text(message.error_code)
        )
        log.info(
            "sms %s to %s taken by twilio as %s (%s)",
            sms.key,
            mask_phone(sms.to),
            receipt.provider_id,
            receipt.status,
        )
        return receipt

    async def find_sent(self, sms: OutgoingSms, since: datetime) -> SmsReceipt | None:
        """The message Twilio holds for this number with exactly this text, created since `since`, if any.

        Lists the newest messages to the number rather than filtering on DateSent: a message still queued
        has no DateSent yet, and that is exactly the one a crash right after sending leaves behind.
        """
        earliest = _as_utc(since) - _CLOCK_SKEW
        listing = self._rest().messages.list_async(to=sms.to, limit=_FIND_LIMIT, page_size=_FIND_PAGE_SIZE)
        for message in await _guarded("find_sent", listing):
            created = message.date_created or message.date_sent
            if message.body == sms.body and created is not None and created >= earliest:
                log.info("sms %s to %s found at twilio as %s", sms.key, mask_phone(sms.to), message.sid)
                return SmsReceipt(
                    str(message.sid), map_twilio_status(message.status), _error_text(message.error_code)
                )
        return None

    async def fetch_status(self, provider_id: str) -> SmsStatus:
        message = await _guarded("fetch_status", self._rest().messages(provider_id).fetch_async())
        return map_twilio_status(message.status)

    async def close(self) -> None:
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "")


class TwilioStatusVerifier:
    """Checks Twilio's delivery reports by X-Twilio-Signature and reads MessageSid/MessageStatus from them.

    Twilio signs the URL it called, which is the public one. Behind a reverse proxy the application sees
    another host, so the signature is also checked against `public_url` + the path and query it saw.
    """

    provider = "twilio"

    def __init__(self, auth_token: str, public_url: str = "") -> None:
        if not auth_token:
            # An empty key would make every signature computable by anyone.
            raise ValueError("twilio auth token is required to verify status callbacks")
        self._validator = RequestValidator(auth_token)
        self._public_url = public_url.rstrip("/")

    def _candidate_urls(self, url: str) -> list[str]:
        urls = [url]
        if self._public_url:
            parts = urlsplit(url)
            public = self._public_url + parts.path + (f"?{parts.query}" if parts.query else "")
            if public != url:
                urls.append(public)
        return urls

    def parse(self, url: str, headers: Mapping[str, str], form: Mapping[str, str]) -> SmsStatusUpdate:
        signature = _header(headers, "X-Twilio-Signature")
        if not signature:
            raise SmsCallbackRejected("twilio status callback without X-Twilio-Signature")
        params = dict(form)
        if not any(self._validator.validate(u, params, signature) for u in self._candidate_urls(url)):
            raise SmsCallbackRejected("twilio status callback with a wrong signature")
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = form.get("MessageStatus") or form.get("SmsStatus")
        if not sid or not status:
            raise SmsCallbackRejected("twilio status callback without MessageSid or MessageStatus")
        return SmsStatusUpdate(sid, map_twilio_status(status), _error_text(form.get("ErrorCode")))
