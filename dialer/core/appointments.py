"""Validating appointment records, from a CSV file or a JSON request alike."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from dialer.core import rows
from dialer.core.errors import FieldError
from dialer.core.noshow import NoShowNote, note_from_text
from dialer.core.phones import normalize_phone

REQUIRED_FIELDS = ("appointment_id", "clinic", "patient_name", "phone", "visit_date", "visit_time", "doctor")
OPTIONAL_FIELDS = (
    "patient_id",
    "specialty",
    "high_value",
    "consent_call",
    "consent_sms",
    "do_not_call",
    "attended",
    "noshow_reason",
)
ALL_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS

# Headers as clinics' own exports write them, mapped to our field names.
HEADER_ALIASES = {
    "id": "appointment_id",
    "id записи": "appointment_id",
    "номер записи": "appointment_id",
    "клиника": "clinic",
    "филиал": "clinic",
    "clinic id": "clinic",
    "пациент": "patient_name",
    "фио": "patient_name",
    "фио пациента": "patient_name",
    "name": "patient_name",
    "телефон": "phone",
    "phone number": "phone",
    "дата": "visit_date",
    "дата приема": "visit_date",
    "дата приёма": "visit_date",
    "date": "visit_date",
    "время": "visit_time",
    "время приема": "visit_time",
    "время приёма": "visit_time",
    "time": "visit_time",
    "врач": "doctor",
    "доктор": "doctor",
    "id пациента": "patient_id",
    "специальность": "specialty",
    "высокий чек": "high_value",
    "согласие на звонки": "consent_call",
    "согласие на смс": "consent_sms",
    "не звонить": "do_not_call",
    "пришёл": "attended",
    "пришел": "attended",
    "явка": "attended",
    "причина неявки": "noshow_reason",
}


@dataclass(frozen=True)
class ClinicRef:
    """What validation needs to know about a configured clinic."""

    id: str
    tz: ZoneInfo


@dataclass(frozen=True)
class AppointmentRecord:
    clinic_id: str
    appointment_id: str
    patient_id: str
    patient_name: str
    phone: str
    visit_at: datetime
    visit_day: date
    doctor: str
    specialty: str
    high_value: bool
    consent_call: bool
    consent_sms: bool
    do_not_call: bool
    attended: bool | None = None  # after the visit, from the clinic's system: for the no-show figure
    noshow: NoShowNote | None = None  # why the patient did not come, when the clinic's system knows


ImportReport = rows.RowReport[AppointmentRecord]


def patient_key(phone: str, name: str) -> str:
    """A stable patient id when the clinic's export has none: same phone and name, same patient."""
    digest = hashlib.sha1(f"{phone}|{name.lower()}".encode()).hexdigest()[:12]
    return f"p-{digest}"


def known_clinic(row: rows.Row, clinics: Mapping[str, ClinicRef]) -> ClinicRef:
    """The row's clinic, which must be one of the configured ones."""
    clinic_id = rows.text(row, "clinic", max_len=64)
    clinic = clinics.get(clinic_id)
    if clinic is None:
        known = ", ".join(sorted(clinics)) or "нет ни одной"
        raise FieldError("clinic", f"неизвестная клиника {clinic_id!r} (настроены: {known})")
    return clinic


def validate_appointment(row: rows.Row, clinics: Mapping[str, ClinicRef]) -> AppointmentRecord:
    clinic = known_clinic(row, clinics)
    appointment_id = rows.text(row, "appointment_id", max_len=64)
    name = rows.text(row, "patient_name")
    phone = normalize_phone(rows.text(row, "phone", max_len=40))
    visit_day = rows.day(row, "visit_date")
    visit_time = rows.time_of_day(row, "visit_time")
    visit_at = datetime.combine(visit_day, visit_time, clinic.tz).astimezone(UTC)
    return AppointmentRecord(
        clinic_id=clinic.id,
        appointment_id=appointment_id,
        patient_id=rows.text(row, "patient_id", required=False, max_len=64) or patient_key(phone, name),
        patient_name=name,
        phone=phone,
        visit_at=visit_at,
        visit_day=visit_day,
        doctor=rows.text(row, "doctor"),
        specialty=rows.text(row, "specialty", required=False),
        high_value=rows.flag(row, "high_value", default=False),
        consent_call=rows.flag(row, "consent_call", default=True),
        consent_sms=rows.flag(row, "consent_sms", default=True),
        do_not_call=rows.flag(row, "do_not_call", default=False),
        attended=rows.flag(row, "attended", default=False)
        if str(row.get("attended") or "").strip()
        else None,
        noshow=_noshow_note(row),
    )


def _noshow_note(row: rows.Row) -> NoShowNote | None:
    """The clinic's own words for a no-show: any text is taken (an unknown one as «другое» with the text as its
    comment), so that a reason the list lacks never costs the visit its import."""
    value = row.get("noshow_reason")
    if value is None or isinstance(value, bool):
        return None
    return note_from_text(str(value))


def validate_appointments(
    records: Iterable[tuple[int, rows.Row]], clinics: Mapping[str, ClinicRef]
) -> ImportReport:
    """Validate numbered rows. Bad rows are reported by number and field; good rows are kept."""
    return rows.check_rows(
        records,
        lambda row: validate_appointment(row, clinics),
        lambda r: (r.clinic_id, r.appointment_id),
        "appointment_id",
    )


def missing_columns(header: Iterable[str]) -> list[str]:
    return rows.missing(header, REQUIRED_FIELDS)
