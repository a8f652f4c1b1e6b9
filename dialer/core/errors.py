"""Typed errors that carry what a user needs to fix the input."""

from __future__ import annotations

from dataclasses import dataclass


class DialerError(Exception):
    """Base for every error dialer raises on purpose."""


class FieldError(DialerError):
    """One field of one record is wrong. The importer adds the row number."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RowError:
    """A rejected input row: its number as the user sees it (header is row 1), the field, and why."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"строка {self.row}, поле «{self.field}»: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "message": self.message}


class ConfigError(DialerError):
    """The configuration is wrong; the message names the key."""


class ServiceStop(DialerError):
    """An error after which the service must stop rather than go on: going on would do harm (the dialing
    lease is lost, so another process may be dialing the same patients) or can never help (Asterisk refuses
    the login). Every other error inside a long-running loop is logged and the loop goes on."""
