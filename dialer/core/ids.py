"""Deterministic identifiers. An attempt id is also the Asterisk Uniqueid of the call (Originate ChannelId)."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.core.errors import DialerError

# Asterisk limits a preset Uniqueid to 149 characters; ours stay far below.
_SEPARATOR = ":"


@dataclass(frozen=True, order=True)
class AttemptId:
    """`<installation>:<campaign>:<target>:<n>`, e.g. `3f9a0c1d:reminders:17:2`.

    The installation id is made once per database (storage/installation.py), so that installations sharing
    one PBX never reuse each other's ids; an id without one (`reminders:17:2`) is read as of installation "".
    """

    campaign: str
    target: int
    n: int
    installation: str = ""

    def __str__(self) -> str:
        own = f"{self.campaign}{_SEPARATOR}{self.target}{_SEPARATOR}{self.n}"
        return f"{self.installation}{_SEPARATOR}{own}" if self.installation else own

    @classmethod
    def parse(cls, text: str) -> AttemptId:
        parts = text.split(_SEPARATOR)
        installation = parts.pop(0) if len(parts) == 4 and parts[0].isalnum() else ""
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
            raise DialerError(f"not an attempt id: {text!r}")
        return cls(parts[0], int(parts[1]), int(parts[2]), installation)

    @classmethod
    def try_parse(cls, text: str) -> AttemptId | None:
        try:
            return cls.parse(text)
        except DialerError:
            return None


def sms_key(campaign: str, target: int, purpose: str) -> str:
    """The idempotency key of an SMS: one message per target and purpose, ever."""
    return f"sms{_SEPARATOR}{campaign}{_SEPARATOR}{target}{_SEPARATOR}{purpose}"
