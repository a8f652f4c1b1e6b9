"""Building the configured SMS gateway, its delivery-report verifiers, and the report URL for each message."""

from __future__ import annotations

import logging
from urllib.parse import quote

from dialer.core.errors import ConfigError
from dialer.core.ports import SmsGateway, StatusCallbackVerifier
from dialer.settings import SmsSettings
from dialer.sms.smsaero import SmsAeroGateway, SmsAeroStatusVerifier
from dialer.sms.twilio import TwilioGateway, TwilioStatusVerifier

log = logging.getLogger(__name__)

PROVIDERS = ("twilio", "smsaero")


def status_callback_path(provider: str) -> str:
    """Where, under the service's public URL, the web layer receives this gateway's delivery reports."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown sms provider {provider!r}")
    return f"/sms/{provider}/status"


def status_callback_url(provider: str, public_url: str, key: str) -> str | None:
    """The delivery-report URL to hand the gateway with message `key`.

    None when the service cannot be reached from outside (no public URL) or no gateway is configured: the
    status is then polled instead. Twilio identifies the message by its sid, so its URL is the same for all
    messages. SMS Aero's carries the key; `SmsAeroGateway.send` adds the token proving the URL is ours, so the
    engine never handles the API key.
    """
    if not public_url or provider == "none":
        return None
    url = public_url.rstrip("/") + status_callback_path(provider)
    if provider == "smsaero":
        url += f"?key={quote(key, safe='')}"
    return url


def _require(values: dict[str, str], section: str) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        keys = ", ".join(f"sms.{section}.{name}" for name in missing)
        raise ConfigError(f"{keys}: не задано, а sms.provider = {section!r}")


def build_gateway(settings: SmsSettings, public_url: str) -> SmsGateway | None:
    """The gateway for `settings.provider`, or None for "none". ConfigError when credentials are missing.

    Safe to call outside the event loop: the gateway opens its HTTP session on first use, inside the running
    loop. Close it with `await gateway.close()` from that loop.
    """
    gateway: SmsGateway
    if settings.provider == "none":
        return None
    if settings.provider == "twilio":
        tw = settings.twilio
        _require(
            {"account_sid": tw.account_sid, "auth_token": tw.auth_token.value, "from_number": tw.from_number},
            "twilio",
        )
        gateway = TwilioGateway(tw)
    elif settings.provider == "smsaero":
        ae = settings.smsaero
        _require({"email": ae.email, "api_key": ae.api_key.value}, "smsaero")
        gateway = SmsAeroGateway(ae)
    else:
        raise ConfigError(f"sms.provider: twilio, smsaero или none, а не {settings.provider!r}")
    if public_url:
        log.info("sms via %s, delivery reports to %s", gateway.name, public_url.rstrip("/"))
    else:
        log.info(
            "sms via %s, no public_url: delivery status polled every %s",
            gateway.name,
            settings.status_poll_interval,
        )
    return gateway


def build_verifiers(settings: SmsSettings, public_url: str) -> list[StatusCallbackVerifier]:
    """A verifier for each gateway whose secret is configured, not only the current one.

    Reports for messages sent before a switch of provider still arrive, and are still checked.
    """
    verifiers: list[StatusCallbackVerifier] = []
    if settings.twilio.auth_token:
        verifiers.append(TwilioStatusVerifier(settings.twilio.auth_token.value, public_url))
    if settings.smsaero.api_key:
        verifiers.append(SmsAeroStatusVerifier(settings.smsaero.api_key.value))
    return verifiers
