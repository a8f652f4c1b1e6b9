"""The operator's pop-up card of one phone number: the rows storage reads for it (the patients on the number,
their next visits, the open callback, the last contacts, the waiting list, the diary, an open KOS invitation),
and the card's JSON view as the operator's page reads it (dialer/web/static/operator.js)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, TypedDict

from dialer.core.inbound import MissReason


@dataclass(frozen=True)
class CardPatient:
    clinic_id: str
    patient_id: str
    name: str
    do_not_call: bool


@dataclass(frozen=True)
class CardVisit:
    clinic_id: str
    appointment_id: str
    patient_id: str
    visit_at: datetime
    doctor: str
    reminder_status: str
    reminder_digit: str | None


@dataclass(frozen=True)
class CardCallback:
    task_id: int
    reason: str
    missed_count: int
    first_missed_at: datetime
    deadline_at: datetime
    first_attempt_at: datetime | None


@dataclass(frozen=True)
class CardContact:
    created_at: datetime
    direction: str
    flags: str
    result: str
    reason: str
    comment: str


@dataclass(frozen=True)
class CardWaiting:
    doctor: str
    wanted_day: date | None
    comment: str


@dataclass(frozen=True)
class CardDiaryEntry:
    due_day: date
    comment: str


@dataclass(frozen=True)
class CardRecall:
    """An open KOS invitation, with the doctor's comment."""

    clinic_id: str
    patient_id: str
    patient_name: str
    doctor: str
    comment: str
    target_day: date
    moves: int
    reason: str


class PatientView(TypedDict):
    name: str
    id: str
    do_not_call: bool


class VisitView(TypedDict):
    at: str
    doctor: str
    status: str
    clinic: str
    id: str


class CallbackView(TypedDict):
    missed_count: int
    reason: str
    first_missed_at: str
    deadline_at: str
    seconds_left: int


class ContactView(TypedDict):
    at: str
    direction: str
    flags: str
    result: str
    reason: str
    comment: str


class WaitingView(TypedDict):
    doctor: str
    day: str
    comment: str


class DiaryView(TypedDict):
    day: str
    comment: str


class RecallView(TypedDict):
    doctor: str
    comment: str
    day: str
    moves: int


class CardView(TypedDict):
    patients: list[PatientView]
    visits: list[VisitView]
    callback: CallbackView | None
    contacts: list[ContactView]
    waiting_list: list[WaitingView]
    diary: list[DiaryView]
    recall: RecallView | None


@dataclass(frozen=True)
class PatientCard:
    """Everything the operator's pop-up shows about one phone number (several patients: a family)."""

    phone: str
    patients: list[CardPatient]
    visits: list[CardVisit]
    callback: CardCallback | None
    contacts: list[CardContact]
    waiting_list: list[CardWaiting]
    diary: list[CardDiaryEntry]
    recall: CardRecall | None = None

    def view(self, now: datetime) -> CardView:
        """The card as the page shows it; `now` counts down the callback's deadline."""
        return {
            "patients": [
                {"name": p.name, "id": p.patient_id, "do_not_call": bool(p.do_not_call)}
                for p in self.patients
            ],
            "visits": [
                {
                    "at": v.visit_at.isoformat(),
                    "doctor": v.doctor,
                    "status": v.reminder_status,
                    "clinic": v.clinic_id,
                    "id": v.appointment_id,
                }
                for v in self.visits
            ],
            "callback": None if self.callback is None else _callback(self.callback, now),
            "contacts": [
                {
                    "at": c.created_at.isoformat(),
                    "direction": c.direction,
                    "flags": c.flags,
                    "result": c.result,
                    "reason": c.reason,
                    "comment": c.comment,
                }
                for c in self.contacts
            ],
            "waiting_list": [
                {
                    "doctor": w.doctor,
                    "day": w.wanted_day.isoformat() if w.wanted_day else "",
                    "comment": w.comment,
                }
                for w in self.waiting_list
            ],
            "diary": [{"day": d.due_day.isoformat(), "comment": d.comment} for d in self.diary],
            "recall": None
            if self.recall is None
            else {
                "doctor": self.recall.doctor,
                "comment": self.recall.comment,
                "day": self.recall.target_day.isoformat(),
                "moves": self.recall.moves,
            },
        }


def _callback(task: CardCallback, now: datetime) -> CallbackView:
    return {
        "missed_count": task.missed_count,
        "reason": MissReason(task.reason).label if task.reason in MissReason._value2member_map_ else "",
        "first_missed_at": task.first_missed_at.isoformat(),
        "deadline_at": task.deadline_at.isoformat(),
        "seconds_left": int((task.deadline_at - now).total_seconds()),
    }


class CardState(StrEnum):
    """Where the call of a pop-up card is: ringing the operator's phone, talking, or waiting for its wrap-up."""

    RINGING = "ringing"
    ACTIVE = "active"
    WRAPUP = "wrapup"


class CardMessage(TypedDict):
    """A pop-up card pushed to the operator's pages: a call ringing, answered, or waiting for its wrap-up."""

    type: Literal["card"]
    now: str
    tz: str
    call: str
    state: CardState
    kind: str
    phone: str
    reason: str
    offer: str
    started_at: str
    wrapup_id: int | None
    card: CardView | None


class CloseMessage(TypedDict):
    """The call is over without a wrap-up: its card goes away."""

    type: Literal["close"]
    call: str


PopupMessage = CardMessage | CloseMessage
