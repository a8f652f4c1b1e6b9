"""What a process that dials or listens checks before it starts: no example secrets, no cleartext by default.

These are not parse errors: `dialer import`, `export` or `users` work with a half-filled file; `dialer run`
and `dialer campaign run` refuse to start on one.
"""

from __future__ import annotations

import ipaddress
import re

from dialer.core.errors import ConfigError
from dialer.settings.model import Settings

MIN_AMI_SECRET = 16
# Values from the examples we ship (config/dialer.example.toml, config/asterisk/manager_dialer.conf) and the
# usual stand-ins for "fill this in".
PLACEHOLDERS = frozenset({"changeme", "secret", "password", "example", "yoursecret", "mysecret", "dialer"})
_NOT_ALNUM = re.compile(r"[^0-9a-zа-яё]+")


def is_placeholder(value: str) -> bool:
    """An example or stand-in value rather than a real secret: change-me, CHANGE_ME_TO_…, xxxx…, secret."""
    plain = _NOT_ALNUM.sub("", value.lower())
    return "changeme" in plain or plain in PLACEHOLDERS or "xxxx" in plain


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or "" (every address): reachable from the network


def check_secrets(settings: Settings) -> None:
    """Refuse example secrets and a short AMI secret. The sandbox's own secret (24 random characters) passes."""
    ami = settings.ami
    if not ami.use_sandbox:
        if is_placeholder(ami.secret.value):
            raise ConfigError(
                "ami.secret: это пример из документации, а не пароль; задайте в manager_dialer.conf и здесь "
                "свой длинный случайный пароль (openssl rand -base64 24)"
            )
        if len(ami.secret.value) < MIN_AMI_SECRET:
            raise ConfigError(
                f"ami.secret: пароль AMI короче {MIN_AMI_SECRET} символов; AMI позволяет звонить и слушать "
                "все звонки АТС — задайте длинный случайный пароль (openssl rand -base64 24)"
            )
    used = {
        "webhook.secret": settings.webhook.secret.value if settings.webhook.url else "",
        "sms.twilio.auth_token": settings.sms.twilio.auth_token.value,
        "sms.twilio.account_sid": settings.sms.twilio.account_sid
        if settings.sms.provider == "twilio"
        else "",
        "sms.smsaero.api_key": settings.sms.smsaero.api_key.value,
    }
    for key, value in used.items():
        if value and is_placeholder(value):
            raise ConfigError(f"{key}: это пример из документации; задайте настоящее значение")


def check_listening(settings: Settings) -> bool:
    """Refuse to serve patients' data in cleartext to the network. True when the owner asked for it anyway
    (`insecure_http = true`): the caller then warns loudly."""
    service = settings.service
    if is_loopback(service.listen_host) or service.public_url.startswith("https://"):
        return False
    if service.insecure_http:
        return True
    raise ConfigError(
        f"service.listen_host = {service.listen_host!r}: веб-страницы будут доступны из сети без шифрования — "
        "пароли администраторов и данные пациентов пойдут открытым текстом. Оставьте listen_host = "
        '"127.0.0.1" и поставьте перед сервисом обратный прокси с TLS, указав public_url = "https://…"; '
        "или, если сеть закрыта и вы это понимаете, укажите insecure_http = true"
    )


def check_start(settings: Settings, *, listening: bool) -> bool:
    """Everything `dialer run` checks before it starts. True when it will serve plain HTTP to the network."""
    check_secrets(settings)
    return check_listening(settings) if listening else False
