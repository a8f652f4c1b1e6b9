"""Deterministic identifiers. An attempt id is also the Asterisk Uniqueid of the call (Originate ChannelId)."""

from __future__ import annotations

from dataclasses import dataclass

from dialer.core.errors import DialerError

# Asterisk limits a preset Uniqueid to 149 characters; ours stay far below.
_SEPARATOR = ":"


@dataclass(frozen=True, order=True)
class AttemptId:
    campaign: str
    target: int
    n: int

    def __str__(self) -> str:
        return f"{self.campaign}{_SEPARATOR}{self.target}{_SEPARATOR}{self.n}"

    @classmethod
    def parse(cls, text: str) -> AttemptId:
        parts = text.split(_SEPARATOR)
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
            raise DialerError(f"not an attempt id: {text!r}")
        return cls(parts[0], int(parts[1]), int(parts[2]))

    @classmethod
    def try_parse(cls, text: str) -> AttemptId | None:
        try:
            return cls.parse(text)
        except DialerError:
            return None


def sms_key(campaign: str, target: int, purpose: str) -> str:
    """The idempotency key of an SMS: one message per target and purpose, ever."""
    return f"sms{_SEPARATOR}{campaign}{_SEPARATOR}{target}{_SEPARATOR}{purpose}"
