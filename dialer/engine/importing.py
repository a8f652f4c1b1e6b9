"""Loading lists: the same validation and write for `dialer import` and the JSON API (appointments, КОС)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol, TypeVar

from dialer.core import rows as fields
from dialer.core.appointments import ClinicRef, validate_appointments
from dialer.core.errors import FieldError, RowError
from dialer.core.recalls import validate_recalls
from dialer.core.records import UpsertCounts
from dialer.core.rows import Row, RowReport
from dialer.core.stores import AppointmentStore, RecallImportStore
from dialer.settings import Settings


@dataclass
class ImportOutcome:
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    days: set[date] = field(default_factory=set)
    clinics: set[str] = field(default_factory=set)  # of the rows that went in

    @property
    def ok(self) -> bool:
        return not self.errors

    def audit(self, kind: str, via: str) -> tuple[str, dict[str, object]]:
        """The clinic ("*" for several) and detail the audit log keeps of this import: counts, no rows."""
        clinic = next(iter(self.clinics)) if len(self.clinics) == 1 else "*" if self.clinics else ""
        detail: dict[str, object] = {
            "kind": kind,
            "via": via,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "errors": len(self.errors),
            "clinics": sorted(self.clinics),
        }
        return clinic, detail

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "imported": self.created + self.updated,
            "created": self.created,
            "updated": self.updated,
            "errors": [e.as_dict() for e in self.errors],
        }


def clinic_refs(settings: Settings) -> dict[str, ClinicRef]:
    return {cid: ClinicRef(cid, c.timezone) for cid, c in settings.clinics.items()}


Holds = Callable[[str], bool]  # may the caller load rows for this clinic?


def walled(
    rows: Iterable[tuple[int, Row]], holds: Holds | None
) -> tuple[Iterable[tuple[int, Row]], list[RowError]]:
    """Each row for a clinic the caller does not hold is refused, naming its row; the others go on. The clinic
    is read as the validation reads it; a row whose clinic does not parse is left for the validation to name."""
    if holds is None:
        return rows, []
    kept: list[tuple[int, Row]] = []
    refused: list[RowError] = []
    for number, row in rows:
        try:
            clinic = fields.text(row, "clinic", max_len=64)
        except FieldError:
            clinic = ""
        if clinic and not holds(clinic):
            refused.append(RowError(number, "clinic", f"нет доступа к клинике {clinic!r}"))
        else:
            kept.append((number, row))
    return kept, refused


async def import_appointments(
    rows: Iterable[tuple[int, Row]],
    *,
    settings: Settings,
    store: AppointmentStore,
    now: datetime,
    holds: Holds | None = None,
) -> ImportOutcome:
    return await _load(rows, holds, settings, validate_appointments, store.upsert, now, lambda r: r.visit_day)


async def import_recalls(
    rows: Iterable[tuple[int, Row]],
    *,
    settings: Settings,
    store: RecallImportStore,
    now: datetime,
    holds: Holds | None = None,
) -> ImportOutcome:
    return await _load(rows, holds, settings, validate_recalls, store.upsert, now)


class _Record(Protocol):
    @property
    def clinic_id(self) -> str: ...


R = TypeVar("R", bound=_Record)


async def _load(
    rows: Iterable[tuple[int, Row]],
    holds: Holds | None,
    settings: Settings,
    validate: Callable[[Iterable[tuple[int, Row]], Mapping[str, ClinicRef]], RowReport[R]],
    upsert: Callable[[Sequence[R], datetime], Awaitable[UpsertCounts]],
    now: datetime,
    day: Callable[[R], date] | None = None,
) -> ImportOutcome:
    """Wall the rows, validate them, write the good ones; `day`: the day a record is for, when it has one.
    The rows the wall refused count as seen and come first among the errors."""
    kept, refused = walled(rows, holds)
    report = validate(kept, clinic_refs(settings))
    counts = await upsert(report.accepted, now)
    return ImportOutcome(
        rows=report.rows_seen + len(refused),
        created=counts.created,
        updated=counts.updated,
        errors=refused + report.errors,
        days={day(r) for r in report.accepted} if day is not None else set(),
        clinics={r.clinic_id for r in report.accepted},
    )
