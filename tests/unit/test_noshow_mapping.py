"""No-show reasons read from the clinic's free text, and the week's count by reason (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dialer.core.appointments import ClinicRef, validate_appointment
from dialer.core.noshow import (
    MAX_COMMENT,
    NoShowNote,
    NoShowReason,
    NoShowRow,
    note_from_text,
    parse_reason,
    tally,
)


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("забыл о приёме", NoShowNote(NoShowReason.FORGOT)),
        ("Забыла", NoShowNote(NoShowReason.FORGOT)),
        ("  ЗАБОЛЕЛ / плохое самочувствие. ", NoShowNote(NoShowReason.ILL)),
        ("перенес на другой день", NoShowNote(NoShowReason.RESCHEDULED)),  # «е» for «ё»
        ("дорого", NoShowNote(NoShowReason.CHANGED_MIND)),
        ("other_clinic", NoShowNote(NoShowReason.OTHER_CLINIC)),
        ("заболел: температура 38", NoShowNote(NoShowReason.ILL, "температура 38")),
        ("уехал на дачу", NoShowNote(NoShowReason.OTHER, "уехал на дачу")),
        ("время: не то", NoShowNote(NoShowReason.OTHER, "время: не то")),  # not a reason before the colon
    ],
)
def test_the_clinic_s_words_map_to_the_list_and_the_rest_is_other_with_the_text(
    text: str, note: NoShowNote
) -> None:
    assert note_from_text(text) == note


def test_an_empty_cell_is_no_reason_and_a_long_text_is_cut_not_refused() -> None:
    assert note_from_text("  ") is None
    long = note_from_text("очень " * 200)
    assert long is not None and long.reason is NoShowReason.OTHER and len(long.comment) == MAX_COMMENT


def test_a_form_takes_the_list_s_codes_only() -> None:
    assert parse_reason("ill") is NoShowReason.ILL
    assert parse_reason("заболел") is None and parse_reason("") is None


def _row(n: int, reason: NoShowReason | None) -> NoShowRow:
    return NoShowRow(f"A{n}", datetime(2026, 12, 1, 9, tzinfo=UTC), "Врач", "", "pending", None, reason)


def test_the_week_s_tally_counts_reasons_most_frequent_first_and_the_share_known() -> None:
    rows = [
        _row(1, NoShowReason.ILL),
        _row(2, NoShowReason.FORGOT),
        _row(3, NoShowReason.FORGOT),
        _row(4, None),
        _row(5, NoShowReason.BUSY),
    ]
    counts = tally(rows)
    assert counts.counts == ((NoShowReason.FORGOT, 2), (NoShowReason.ILL, 1), (NoShowReason.BUSY, 1))
    assert (counts.total, counts.known, counts.known_pct) == (5, 4, 80.0)
    assert tally([]).known_pct is None


def test_each_label_is_its_own_and_reads_back_as_its_reason() -> None:
    assert len({r.label for r in NoShowReason}) == len(NoShowReason)
    assert all(note_from_text(r.label) == NoShowNote(r) for r in NoShowReason)


CLINICS = {"c1": ClinicRef("c1", ZoneInfo("Europe/Moscow"))}
ROW = {
    "appointment_id": "1",
    "clinic": "c1",
    "patient_name": "Смирнова Анна",
    "phone": "+79161234567",
    "visit_date": "2026-11-26",
    "visit_time": "09:30",
    "doctor": "Иванова М. П.",
    "attended": "нет",
}


def test_an_imported_row_carries_its_reason_and_an_unknown_one_never_rejects_it() -> None:
    assert validate_appointment({**ROW, "noshow_reason": "Забыл"}, CLINICS).noshow == NoShowNote(
        NoShowReason.FORGOT
    )
    odd = validate_appointment({**ROW, "noshow_reason": "???"}, CLINICS)
    assert odd.noshow == NoShowNote(NoShowReason.OTHER, "???")
    assert validate_appointment({**ROW, "noshow_reason": 17}, CLINICS).noshow == NoShowNote(
        NoShowReason.OTHER, "17"
    )
    assert validate_appointment(ROW, CLINICS).noshow is None
