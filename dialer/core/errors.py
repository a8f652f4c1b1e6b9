"""The errors dialer raises on purpose: one tree, so that the command line and the web answer each kind once.

Every product error derives from `DialerError` through one of these kinds:

- `ConfigError`: the settings are wrong (a key missing, a value out of range, an example secret); the message
  names the key. Nothing runs until the file is fixed.
- `BadInput`: what a person or another system handed in is wrong: a CSV file or one of its rows, an API
  parameter, a wrap-up form, a password too short. The message says what to change.
- `NotFound`: the thing asked for does not exist (or is not this user's to see).
- `Conflict`: the thing exists, but its state forbids the change: a user name taken, a wrap-up saved already.
- `PeerFailed`: something the service relies on failed or refused: Asterisk (the AMI link, an action, an
  Originate), an SMS gateway, the database, a program it runs (espeak-ng, sox, the sandbox's Asterisk).
  Trying again later may help.
- `Refused`: a caller is not allowed to do this: a delivery report whose signature does not check out.
- `ServiceStop`: going on would do harm or can never help; the service stops.

Messages never carry a patient's phone number or name (see core/privacy.py): they reach logs, terminals
and HTTP answers.
"""

from __future__ import annotations

from dataclasses import dataclass


class DialerError(Exception):
    """Base for every error dialer raises on purpose."""


class ConfigError(DialerError):
    """The configuration is wrong; the message names the key."""


class BadInput(DialerError):
    """Input from a person or another system is wrong; the message says what to change."""


class NotFound(DialerError):
    """What was asked for does not exist, or is not the asker's to see."""


class Conflict(DialerError):
    """What was asked for exists, but its state forbids the change."""


class PeerFailed(DialerError):
    """Asterisk, an SMS gateway, the database or a program the service runs failed or refused."""


class Refused(DialerError):
    """The caller is not allowed to do this."""


class ServiceStop(DialerError):
    """An error after which the service must stop rather than go on: going on would do harm (the dialing
    lease is lost, so another process may be dialing the same patients) or can never help (Asterisk refuses
    the login). Every other error inside a long-running loop is logged and the loop goes on."""


class FieldError(BadInput):
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
