"""SMS texts. They carry the clinic, the date and time, and a phone number: never a doctor, a service or a diagnosis."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.core.errors import ConfigError
from dialer.core.retry import RetryBackoff

# A campaign's SMS while the gateway is unavailable: tried again within seconds, then every ten minutes.
GATEWAY_DOWN_BACKOFF = RetryBackoff(
    first=timedelta(seconds=5), longest=timedelta(minutes=10), max_doublings=7
)

ALLOWED_PLACEHOLDERS = frozenset({"clinic", "date", "time", "phone"})

# Short on purpose: a Cyrillic SMS over 70 characters is billed as two.
DEFAULT_REMINDER_SMS = "{clinic}: ждём вас {date} в {time}. Тел. {phone}"

_MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


@dataclass(frozen=True)
class SmsTemplate:
    text: str

    def __post_init__(self) -> None:
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(self.text) if name is not None}
        except ValueError as err:
            raise ConfigError(f"шаблон SMS {self.text!r}: {err}") from None
        extra = used - ALLOWED_PLACEHOLDERS
        if extra:
            raise ConfigError(
                f"шаблон SMS: недопустимые поля {sorted(extra)}; разрешены только {sorted(ALLOWED_PLACEHOLDERS)}"
                " — в SMS нельзя писать врача, услугу или диагноз"
            )
        try:
            self.render(clinic="К", at=datetime(2026, 1, 1, tzinfo=UTC), tz=ZoneInfo("UTC"), phone="+7")
        except (ValueError, KeyError, IndexError) as err:
            raise ConfigError(f"шаблон SMS {self.text!r} не заполняется: {err}") from None

    def render(self, *, clinic: str, at: datetime, tz: ZoneInfo, phone: str) -> str:
        local = at.astimezone(tz)
        return self.text.format(
            clinic=clinic,
            date=f"{local.day} {_MONTHS_GENITIVE[local.month - 1]}",
            time=local.strftime("%H:%M"),
            phone=phone,
        )
