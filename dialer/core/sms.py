"""SMS delivery states. A status only moves forward: a late `sent` never overwrites `delivered`."""

from __future__ import annotations

from enum import StrEnum


class SmsStatus(StrEnum):
    PENDING = "pending"  # written by us, not yet accepted by the gateway
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"  # not sent on purpose: no consent, no gateway

    @property
    def is_final(self) -> bool:
        return _RANK[self] >= _FINAL_RANK

    @property
    def label(self) -> str:
        return _LABELS[self]


_FINAL_RANK = 3
_RANK = {
    SmsStatus.PENDING: 0,
    SmsStatus.QUEUED: 1,
    SmsStatus.SENDING: 1,
    SmsStatus.SENT: 2,
    SmsStatus.DELIVERED: 3,
    SmsStatus.UNDELIVERED: 3,
    SmsStatus.FAILED: 3,
    SmsStatus.SKIPPED: 3,
}
_LABELS = {
    SmsStatus.PENDING: "готовится",
    SmsStatus.QUEUED: "в очереди",
    SmsStatus.SENDING: "отправляется",
    SmsStatus.SENT: "отправлено",
    SmsStatus.DELIVERED: "доставлено",
    SmsStatus.UNDELIVERED: "не доставлено",
    SmsStatus.FAILED: "ошибка",
    SmsStatus.SKIPPED: "не отправлялось",
}


def advance(current: SmsStatus, incoming: SmsStatus) -> SmsStatus:
    """The status after a report arrives: the later stage wins, a final status is never replaced."""
    if current.is_final:
        return current
    return incoming if _RANK[incoming] > _RANK[current] else current


def segments(text: str) -> int:
    """How many SMS parts a text takes: 160/153 in GSM-7, 70/67 when any character needs UCS-2 (Cyrillic)."""
    ucs2 = any(ord(c) > 0x7F for c in text)
    single, multi = (70, 67) if ucs2 else (160, 153)
    if len(text) <= single:
        return 1
    return -(-len(text) // multi)
