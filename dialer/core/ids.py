"""Deterministic identifiers. An attempt id is also the Asterisk Uniqueid of the call (Originate ChannelId)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Self

from dialer.core.errors import DialerError

# Asterisk limits a preset Uniqueid to 149 characters; ours stay far below.
_SEPARATOR = ":"
# Heads of the due-task ids: the worker's row for placing an attempt, and for sending an SMS.
_DIAL_TASK = "dial"
_SMS_TASK = "send"
_SMS = "sms"


class _DueTaskKey:
    """A key that names exactly one due task: the task's id is the key under the kind's head, `<head>:<key>`."""

    _task_head: ClassVar[str]

    @classmethod
    def parse(cls, text: str) -> Self:
        raise NotImplementedError

    @property
    def due_task_id(self) -> str:
        return f"{self._task_head}{_SEPARATOR}{self}"

    @classmethod
    def of_due_task(cls, task_id: str) -> Self:
        prefix = f"{cls._task_head}{_SEPARATOR}"
        if not task_id.startswith(prefix):
            raise DialerError(f"not a {cls._task_head} task id: {task_id!r}")
        return cls.parse(task_id[len(prefix) :])


@dataclass(frozen=True, order=True)
class AttemptId(_DueTaskKey):
    """`<installation>:<campaign>:<target>:<n>`, e.g. `3f9a0c1d:reminders:17:2`.

    The installation id is made once per database (storage/installation.py), so that installations sharing
    one PBX never reuse each other's ids; an id without one (`reminders:17:2`) is read as of installation "".
    Asterisk also refuses a ChannelId that is a prefix of a live channel's Uniqueid: the installation ids all
    have the same width, so no installation's id is a prefix of another's, and one target's attempts are never
    up at once.
    """

    campaign: str
    target: int
    n: int
    installation: str = ""
    _task_head = _DIAL_TASK  # the due task that places this attempt: one task per attempt, ever

    def __str__(self) -> str:
        own = f"{self.campaign}{_SEPARATOR}{self.target}{_SEPARATOR}{self.n}"
        return f"{self.installation}{_SEPARATOR}{own}" if self.installation else own

    @classmethod
    def parse(cls, text: str) -> AttemptId:
        parsed = _attempt_id(text)
        if parsed is None:
            raise DialerError(f"not an attempt id: {text!r}")
        return parsed

    @classmethod
    def try_parse(cls, text: str) -> AttemptId | None:
        return _attempt_id(text)

    @staticmethod
    def like_campaign(campaign: str) -> tuple[str, str]:
        """SQL LIKE patterns of the ids of the attempts filed under `campaign`, with an installation and
        without: a count by campaign answered from an index of the ids, with no target looked up. They hold
        because an installation id is 8 hex digits, never a campaign's name."""
        return f"{campaign}{_SEPARATOR}%", f"%{_SEPARATOR}{campaign}{_SEPARATOR}%"

    def with_campaign(self, campaign: str) -> AttemptId:
        """The same attempt filed under another campaign (a callback that dials the patient first)."""
        return AttemptId(campaign, self.target, self.n, self.installation)


# Each of a call's events names its channel's Uniqueid, and each of its facts its attempt: the same few ids are
# read again and again, and each is read the same way every time.
@lru_cache(maxsize=4096)
def _attempt_id(text: str) -> AttemptId | None:
    parts = text.split(_SEPARATOR)
    installation = parts.pop(0) if len(parts) == 4 and parts[0].isalnum() else ""
    if len(parts) != 3 or not parts[0] or not _number(parts[1]) or not _number(parts[2]):
        return None
    return AttemptId(parts[0], int(parts[1]), int(parts[2]), installation)


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # "²" is a digit to str.isdigit, and no number to int()


@dataclass(frozen=True)
class SmsKey(_DueTaskKey):
    """`sms:<campaign>:<target>:<purpose>`: the idempotency key of an SMS, one message per target and purpose, ever."""

    campaign: str
    target: int
    purpose: str
    _task_head = _SMS_TASK  # the due task that sends this SMS

    def __str__(self) -> str:
        return _SEPARATOR.join((_SMS, self.campaign, str(self.target), self.purpose))

    @classmethod
    def parse(cls, text: str) -> SmsKey:
        parts = text.split(_SEPARATOR)
        if len(parts) != 4 or parts[0] != _SMS or not _number(parts[2]) or not parts[3]:
            raise DialerError(f"not an SMS key: {text!r}")
        return cls(parts[1], int(parts[2]), parts[3])


def sms_key(campaign: str, target: int, purpose: str) -> str:
    """The idempotency key of an SMS: one message per target and purpose, ever."""
    return str(SmsKey(campaign, target, purpose))
