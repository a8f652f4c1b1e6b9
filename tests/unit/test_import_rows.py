"""Reading clinics' CSV exports and validating appointment rows: every error names its row and field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.appointments import (
    HEADER_ALIASES,
    ClinicRef,
    ImportReport,
    missing_columns,
    validate_appointment,
    validate_appointments,
)
from dialer.core.csvfile import CsvError, read_csv
from dialer.core.errors import FieldError, RowError

CLINICS = {
    "msk": ClinicRef("msk", ZoneInfo("Europe/Moscow")),
    "vvo": ClinicRef("vvo", ZoneInfo("Asia/Vladivostok")),
}
RU_HEADER = "ID записи;Клиника;ФИО пациента;Телефон;Дата приёма;Время приёма;Врач;Высокий чек;Не звонить"
GOOD_ROWS = [
    "A-1;msk;Смирнова Анна Петровна;8 (916) 123-45-67;26.11.2026;10:30;Иванов И.И.;да;нет",
    "A-2;vvo;Ёлкин Пётр;+7 914 123 45 67;2026-11-26;09:00;Щукина Ю.А.;нет;",
]


def csv_bytes(lines: list[str], encoding: str = "utf-8-sig") -> bytes:
    return "\r\n".join(lines).encode(encoding) + b"\r\n"


def load(data: bytes) -> ImportReport:
    table = read_csv(data, HEADER_ALIASES)
    return validate_appointments(table.rows, CLINICS)


def errors(report: ImportReport) -> list[tuple[int, str]]:
    return [(e.row, e.field) for e in report.errors]


# Encodings, delimiters, headers ------------------------------------------------------------------------


def test_utf8_with_bom_semicolons_and_russian_headers() -> None:
    data = csv_bytes([RU_HEADER, *GOOD_ROWS])
    assert data.startswith(b"\xef\xbb\xbf")
    table = read_csv(data, HEADER_ALIASES)
    assert table.encoding == "utf-8-sig"
    assert table.delimiter == ";"
    assert table.header == [
        "appointment_id",
        "clinic",
        "patient_name",
        "phone",
        "visit_date",
        "visit_time",
        "doctor",
        "high_value",
        "do_not_call",
    ]
    assert missing_columns(table.header) == []
    report = validate_appointments(table.rows, CLINICS)
    assert report.ok and report.rows_seen == 2
    first, second = report.accepted
    assert first.patient_name == "Смирнова Анна Петровна"
    assert first.phone == "+79161234567"
    assert first.visit_day == date(2026, 11, 26)
    assert first.visit_at == datetime(2026, 11, 26, 7, 30, tzinfo=UTC)  # 10:30 in Moscow
    assert first.doctor == "Иванов И.И."
    assert first.high_value and not first.do_not_call
    assert first.consent_call and first.consent_sms  # absent columns take their defaults
    assert first.patient_id.startswith("p-")
    assert second.visit_at == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)  # 09:00 in Vladivostok
    assert not second.high_value


def test_windows_1251_as_excel_saves_it() -> None:
    data = csv_bytes([RU_HEADER, *GOOD_ROWS], encoding="cp1251")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    table = read_csv(data, HEADER_ALIASES)
    assert table.encoding == "cp1251"
    report = validate_appointments(table.rows, CLINICS)
    assert report.ok
    assert [r.patient_name for r in report.accepted] == ["Смирнова Анна Петровна", "Ёлкин Пётр"]
    assert report.accepted == load(csv_bytes([RU_HEADER, *GOOD_ROWS])).accepted


def test_utf8_without_bom_commas_and_english_headers() -> None:
    data = csv_bytes(
        [
            "appointment_id,clinic,Name,Phone Number,Date,Time,doctor,patient_id",
            'A-1,msk,"Смирнова, Анна",+79161234567,2026-11-26,10:30,Иванов,P-9',
        ],
        encoding="utf-8",
    )
    table = read_csv(data, HEADER_ALIASES)
    assert (table.encoding, table.delimiter) == ("utf-8-sig", ",")
    report = validate_appointments(table.rows, CLINICS)
    assert report.ok
    assert report.accepted[0].patient_name == "Смирнова, Анна"
    assert report.accepted[0].patient_id == "P-9"


def test_header_aliases_ignore_case_spaces_and_underscores() -> None:
    header = " id  ЗАПИСИ ;Филиал;Пациент;ТЕЛЕФОН;Дата приема;Время_приема;Доктор;Согласие на СМС"
    table = read_csv(csv_bytes([header, "1;msk;Анна;9161234567;26.11.2026;10:00;Иванов;нет"]), HEADER_ALIASES)
    assert table.header == [
        "appointment_id",
        "clinic",
        "patient_name",
        "phone",
        "visit_date",
        "visit_time",
        "doctor",
        "consent_sms",
    ]
    report = validate_appointments(table.rows, CLINICS)
    assert report.ok and report.accepted[0].consent_sms is False


def test_missing_columns_are_named() -> None:
    table = read_csv(csv_bytes(["Телефон;ФИО"]), HEADER_ALIASES)
    assert missing_columns(table.header) == ["appointment_id", "clinic", "visit_date", "visit_time", "doctor"]


def test_an_empty_or_undecodable_file_is_a_csv_error() -> None:
    with pytest.raises(CsvError):
        read_csv(b"", HEADER_ALIASES)
    with pytest.raises(CsvError):
        read_csv(b"\xef\xbb\xbf \r\n\r\n", HEADER_ALIASES)
    with pytest.raises(CsvError):
        read_csv(b"\x98\x98\xff", HEADER_ALIASES)  # 0x98 is not a Windows-1251 byte


# Row numbers as a spreadsheet shows them ---------------------------------------------------------------


def test_blank_lines_are_skipped_but_keep_the_numbering() -> None:
    lines = [
        RU_HEADER,  # row 1
        GOOD_ROWS[0],  # row 2
        "",  # row 3
        ";;;;;;;;",  # row 4: empty cells only
        "A-3;msk;Анна;12345;26.11.2026;10:00;Иванов;;",  # row 5: bad phone
        GOOD_ROWS[1],  # row 6
    ]
    table = read_csv(csv_bytes(lines), HEADER_ALIASES)
    assert [n for n, _ in table.rows] == [2, 5, 6]
    report = validate_appointments(table.rows, CLINICS)
    assert errors(report) == [(5, "phone")]
    assert [r.appointment_id for r in report.accepted] == ["A-1", "A-2"]
    assert report.rows_seen == 3


def test_a_multi_line_cell_is_one_spreadsheet_row() -> None:
    lines = [
        "id;clinic;name;phone;date;time;doctor",
        'A-1;msk;"Анна\nПетровна";+79161234567;26.11.2026;10:00;Иванов',  # row 2, two text lines
        "A-2;msk;Пётр;+79161234567;26.11.2026;31:00;Иванов",  # row 3
    ]
    report = load(csv_bytes(lines))
    assert errors(report) == [(3, "visit_time")]
    assert report.accepted[0].patient_name == "Анна Петровна"  # whitespace collapsed


# Validation errors name the row and the field; good rows still go in --------------------------------------

HEADER = "id;clinic;name;phone;date;time;doctor;high_value"


def test_each_bad_field_is_reported_with_its_row_and_the_good_rows_are_kept() -> None:
    lines = [
        HEADER,
        "A-1;msk;Анна;+79161234567;26.11.2026;10:00;Иванов;",  # 2 ok
        "A-2;msk;Анна;+7 701 123 45 67;26.11.2026;10:00;Иванов;",  # 3 Kazakhstan
        "A-3;spb;Анна;+79161234567;26.11.2026;10:00;Иванов;",  # 4 unknown clinic
        "A-4;msk;Анна;+79161234567;2026-02-30;10:00;Иванов;",  # 5 no such date
        "A-5;msk;Анна;+79161234567;31.13.2026;10:00;Иванов;",  # 6 no such month
        "A-6;msk;Анна;+79161234567;завтра;10:00;Иванов;",  # 7 not a date
        "A-7;msk;Анна;+79161234567;26.11.2026;25:00;Иванов;",  # 8 bad time
        "A-8;msk;Анна;+79161234567;26.11.2026;10.30;Иванов;",  # 9 bad time
        "A-9;msk;Анна;+79161234567;26.11.2026;10:00;;",  # 10 no doctor
        ";msk;Анна;+79161234567;26.11.2026;10:00;Иванов;",  # 11 no id
        "A-10;msk;   ;+79161234567;26.11.2026;10:00;Иванов;",  # 12 blank name
        "A-11;msk;Анна;+79161234567;26.11.2026;10:00;Иванов;может быть",  # 13 bad flag
        "A-12;msk;Анна;+79161234567;26.11.2026;;Иванов;",  # 14 no time
        "A-13;msk;Анна;+79161234567;26.11.2026;10:00;Петров;",  # 15 ok
    ]
    report = load(csv_bytes(lines))
    assert errors(report) == [
        (3, "phone"),
        (4, "clinic"),
        (5, "visit_date"),
        (6, "visit_date"),
        (7, "visit_date"),
        (8, "visit_time"),
        (9, "visit_time"),
        (10, "doctor"),
        (11, "appointment_id"),
        (12, "patient_name"),
        (13, "high_value"),
        (14, "visit_time"),
    ]
    assert [r.appointment_id for r in report.accepted] == ["A-1", "A-13"]
    assert report.rows_seen == 14
    assert not report.ok
    by_row = {e.row: e for e in report.errors}
    assert "spb" in by_row[4].message and "msk" in by_row[4].message
    assert "2026-02-30" in by_row[5].message
    assert str(by_row[5]).startswith("строка 5, поле «visit_date»: ")
    assert by_row[5].as_dict() == {"row": 5, "field": "visit_date", "message": by_row[5].message}


def test_a_repeated_id_keeps_the_first_row_and_names_it() -> None:
    lines = [
        HEADER,
        "A-1;msk;Анна;+79161234567;26.11.2026;10:00;Иванов;",  # 2
        "A-2;msk;Пётр;+79161234568;26.11.2026;11:00;Иванов;",  # 3
        "A-1;msk;Иван;+79161234569;27.11.2026;12:00;Петров;",  # 4 duplicate of row 2
        "A-1;vvo;Анна;+79141234567;26.11.2026;10:00;Иванов;",  # 5 same id, other clinic: fine
        "A-1;msk;Ольга;+79161234560;28.11.2026;12:00;Петров;",  # 6 duplicate of row 2
    ]
    report = load(csv_bytes(lines))
    assert errors(report) == [(4, "appointment_id"), (6, "appointment_id")]
    assert all("строке 2" in e.message for e in report.errors)
    kept = {(r.clinic_id, r.appointment_id): r.patient_name for r in report.accepted}
    assert kept == {("msk", "A-1"): "Анна", ("msk", "A-2"): "Пётр", ("vvo", "A-1"): "Анна"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("да", True),
        ("Да", True),
        ("ДА", True),
        ("нет", False),
        ("Нет", False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("no", False),
        ("YES", True),
        (" да ", True),
        ("", False),
    ],
)
def test_flags_accept_russian_and_english(value: str, expected: bool) -> None:
    row = {
        "appointment_id": "A-1",
        "clinic": "msk",
        "patient_name": "Анна",
        "phone": "+79161234567",
        "visit_date": "26.11.2026",
        "visit_time": "10:00",
        "doctor": "Иванов",
        "high_value": value,
        "consent_sms": value,
    }
    record = validate_appointment(row, CLINICS)
    assert record.high_value is expected
    assert record.consent_sms is (expected if value.strip() else True)  # blank takes the default


def test_a_json_row_with_real_booleans_and_numbers() -> None:
    row: dict[str, object] = {
        "appointment_id": 1017,
        "clinic": "msk",
        "patient_name": "Анна",
        "phone": "89161234567",
        "visit_date": "2026-11-26",
        "visit_time": "10:00",
        "doctor": "Иванов",
        "high_value": True,
        "do_not_call": 0,
    }
    record = validate_appointment(row, CLINICS)
    assert record.appointment_id == "1017"
    assert record.high_value and not record.do_not_call
    with pytest.raises(FieldError) as err:
        validate_appointment(row | {"doctor": ["Иванов"]}, CLINICS)
    assert err.value.field == "doctor"


@given(st.lists(st.text(alphabet=st.sampled_from(list('AБ;,"\r\n 1:.-+7')), max_size=40), max_size=6))
@settings(max_examples=150, deadline=None)
def test_any_small_file_gives_rows_or_a_csv_error_never_a_crash(lines: list[str]) -> None:
    data = csv_bytes([HEADER, *lines])
    try:
        table = read_csv(data, HEADER_ALIASES)
    except CsvError:
        return
    report = validate_appointments(table.rows, CLINICS)
    assert report.rows_seen == len(table.rows)
    assert len(report.accepted) + len(report.errors) == report.rows_seen
    numbers = [n for n, _ in table.rows]
    assert numbers == sorted(set(numbers)) and all(n >= 2 for n in numbers)
    assert all(isinstance(e, RowError) and e.row in numbers for e in report.errors)


@pytest.mark.parametrize("visit_date", ["01.01.0001", "9999-12-31", "31.12.1999", "2100-01-01"])
def test_a_visit_date_far_outside_the_services_years_is_refused_by_name(visit_date: str) -> None:
    """Year 1 overflowed as soon as it met the clinic's zone (an import, a form or a query string)."""
    row = {
        "appointment_id": "A-1",
        "clinic": "msk",
        "patient_name": "Анна",
        "phone": "+79161234567",
        "visit_date": visit_date,
        "visit_time": "00:30",
        "doctor": "Иванов",
    }
    with pytest.raises(FieldError) as err:
        validate_appointment(row, CLINICS)
    assert err.value.field == "visit_date" and "2000–2099" in err.value.message
