"""КОС: the control-examination recall list (Журнал КОС, «3. Звать»), its rows and its statuses."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar

from dialer.core import rows
from dialer.core.appointments import ClinicRef, known_clinic, patient_key
from dialer.core.errors import FieldError
from dialer.core.phones import normalize_phone

REQUIRED_FIELDS = ("recall_id", "clinic", "patient_name", "phone", "doctor", "target_date")
OPTIONAL_FIELDS = ("patient_id", "comment", "status", "planned")
ALL_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
HEADER_ALIASES = {
    "id": "recall_id",
    "номер": "recall_id",
    "клиника": "clinic",
    "филиал": "clinic",
    "пациент": "patient_name",
    "фио": "patient_name",
    "фио пациента": "patient_name",
    "телефон": "phone",
    "врач": "doctor",
    "доктор": "doctor",
    "комментарий": "comment",
    "комментарий врача": "comment",
    "предложение": "comment",
    "дата": "target_date",
    "дата прозвона": "target_date",
    "дата кос": "target_date",
    "статус": "status",
    "в плане": "planned",
    "план": "planned",
    "id пациента": "patient_id",
}
NOT_REACHED = "не дозвонились"


class RecallStatus(StrEnum):
    CALL = "call"
    BOOKED = "booked"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        return {"call": "Звать", "booked": "Записан", "refused": "Отказ"}[self.value]


@dataclass(frozen=True)
class RecallChange:
    """A new status of a recall, with what goes with it into the journal and the webhook."""

    status: RecallStatus
    reason: str = ""
    comment: str = ""
    target_day: date | None = None
    booked_day: date | None = None
    moves: int | None = None


_STATUS_WORDS = {
    "звать": RecallStatus.CALL,
    "3. звать": RecallStatus.CALL,
    "3 звать": RecallStatus.CALL,
    "записан": RecallStatus.BOOKED,
    "отказ": RecallStatus.REFUSED,
    "": RecallStatus.CALL,
}


@dataclass(frozen=True)
class RecallRecord:
    """One row of the recall journal: as imported from the clinic's file, and as the dialer has moved it on."""

    clinic_id: str
    external_id: str
    patient_id: str
    patient_name: str
    phone: str
    doctor: str
    comment: str
    target_day: date
    status: RecallStatus
    planned: bool
    # What the dialer adds once the row is stored: its id (0 for a row read from a file), why the status
    # changed, how many times the date was moved, and the visit day it booked.
    recall_id: int = 0
    reason: str = ""
    status_comment: str = ""
    moves: int = 0
    booked_day: date | None = None

    def public(self) -> dict[str, Any]:
        """The row as the clinic's own system takes it back: the export, the API and the webhook."""
        return {
            "recall_id": self.external_id,
            "clinic": self.clinic_id,
            "patient_id": self.patient_id,
            "doctor": self.doctor,
            "status": self.status.value,
            "status_label": self.status.label,
            "reason": self.reason,
            "comment": self.status_comment,
            "target_date": self.target_day.isoformat(),
            "booked_date": self.booked_day.isoformat() if self.booked_day else None,
            "moves": self.moves,
        }


RecallReport = rows.RowReport[RecallRecord]


def validate_recall(row: rows.Row, clinics: Mapping[str, ClinicRef]) -> RecallRecord:
    clinic = known_clinic(row, clinics)
    name = rows.text(row, "patient_name")
    phone = normalize_phone(rows.text(row, "phone", max_len=40))
    status_text = rows.text(row, "status", required=False).lower()
    if status_text not in _STATUS_WORDS:
        raise FieldError("status", f"статус «Звать», «Записан» или «Отказ», а не {status_text!r}")
    return RecallRecord(
        clinic_id=clinic.id,
        external_id=rows.text(row, "recall_id", max_len=64),
        patient_id=rows.text(row, "patient_id", required=False, max_len=64) or patient_key(phone, name),
        patient_name=name,
        phone=phone,
        doctor=rows.text(row, "doctor"),
        comment=rows.text(row, "comment", required=False, max_len=1000),
        target_day=rows.day(row, "target_date"),
        status=_STATUS_WORDS[status_text],
        planned=rows.flag(row, "planned", default=True),
    )


def validate_recalls(
    records: Iterable[tuple[int, rows.Row]], clinics: Mapping[str, ClinicRef]
) -> RecallReport:
    return rows.check_rows(
        records,
        lambda row: validate_recall(row, clinics),
        lambda r: (r.clinic_id, r.external_id),
        "recall_id",
    )


def missing_columns(header: Iterable[str]) -> list[str]:
    return rows.missing(header, REQUIRED_FIELDS)


@dataclass(frozen=True)
class Unreached:
    """What one more round without reaching the patient does: move the date a gap later, or give up."""

    moves: int
    target_day: date
    refused: bool


def after_unreached(moves: int, target_day: date, max_moves: int, gap_days: int) -> Unreached:
    """The customer's rule («Звоним три раза. Меняем дату три раза через неделю»): a round of calls that does
    not reach the patient moves the date `gap_days` later, up to `max_moves` times; the round after the last
    move failing too is Отказ «не дозвонились»."""
    if moves >= max_moves:
        return Unreached(moves, target_day, refused=True)
    return Unreached(moves + 1, date.fromordinal(target_day.toordinal() + gap_days), refused=False)


RoundKey = TypeVar("RoundKey", bound=Hashable)


def rounds_for_today(
    due: Iterable[RoundKey], today: Collection[RoundKey], earlier_active: Mapping[RoundKey, bool], limit: int
) -> list[RoundKey]:
    """The due rounds (oldest date first) that join today's plan, in that order, at most `limit` rounds a day
    with those opened earlier today counted. A round opened on an earlier day goes on today while it is still
    active; a finished one adds nothing (the wrap-up or the unreached rule gave its recall the next date).
    The others are new rounds to open."""
    room = max(0, limit - len(today))
    joining: list[RoundKey] = []
    for key in due:
        if len(joining) >= room:
            break
        if key in today or not earlier_active.get(key, True):
            continue
        joining.append(key)
    return joining


def status_change(change: RecallChange) -> dict[str, object]:
    """The fields of a recall that a status change sets, named as on the recall row and in its table: the
    status, its reason and comment always; the date, the booked visit's date and the count of moves only when
    the change brings them."""
    fields: dict[str, object] = {
        "status": change.status,
        "reason": change.reason,
        "status_comment": change.comment,
    }
    brought = {"target_day": change.target_day, "booked_day": change.booked_day, "moves": change.moves}
    fields.update({name: value for name, value in brought.items() if value is not None})
    return fields
