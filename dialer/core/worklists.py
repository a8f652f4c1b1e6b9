"""The rows of the day-by-day call lists as the engine reads them: a campaign's target, a diary entry on the day
it is called, and a freed slot offered to a waiting patient (made, and as stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from dialer.core.records import TargetState
from dialer.core.worklist_states import DiaryState, OfferState


@dataclass(frozen=True)
class TargetRow:
    """One thing a campaign calls about (a visit, a diary entry, an offer): who, and whether still worked."""

    target_id: int
    clinic_id: str
    campaign: str
    subject_id: str  # the appointment, "<entry_id>:<day>" of a diary entry, the offer's id
    patient_id: str
    phone: str
    state: TargetState
    created_at: datetime


@dataclass(frozen=True)
class DiaryEntry:
    """A diary entry as the round of calls of `target_day` about it sees it."""

    entry_id: int
    clinic_id: str
    phone: str
    patient_id: str | None
    due_day: date
    comment: str
    state: DiaryState
    target_state: TargetState
    target_day: date


@dataclass(frozen=True)
class OfferMade:
    """A freed slot just offered to the next waiting patient: the SMS goes now, the call target follows."""

    offer_id: int
    target_id: int | None  # None when the offer's call target is no longer active
    phone: str
    slot_at: datetime
    doctor: str
    entry_id: int


@dataclass(frozen=True)
class Offer:
    """A stored offer with its call target's state and phone."""

    offer_id: int
    clinic_id: str
    appointment_id: str  # the cancelled visit whose slot is free
    doctor: str
    slot_at: datetime
    entry_id: int  # the waiting-list entry it is offered to
    state: OfferState
    sms_at: datetime  # set as the offer is made (next_offer texts it at once)
    phone: str
    target_state: TargetState
