"""The states of the lists people work from: the diary, the waiting list and the freed slots offered to it, and
the administrators' tasks the dialer opens. Stored as strings with a CHECK of these values (revision 0012)."""

from __future__ import annotations

from enum import StrEnum


class DiaryState(StrEnum):
    OPEN = "open"
    DONE = "done"


class WaitingState(StrEnum):
    OPEN = "open"
    BOOKED = "booked"  # a freed slot offered to the entry was taken


class OfferState(StrEnum):
    OFFERED = "offered"
    BOOKED = "booked"
    DECLINED = "declined"
    EXPIRED = "expired"


class AdminTaskStatus(StrEnum):
    """An administrator's task (reschedule after a cancel, …) is opened here and worked in the clinic's system."""

    OPEN = "open"
