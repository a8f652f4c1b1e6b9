"""Why patients did not come: reasons from the clinic's file (the import's «Причина неявки» column) and from the
senior administrator's form on the week's no-show page, counted per reason above the list and in its CSV; the
last word wins, a re-sent file never overwrites the administrator's; another clinic's staff and operators are
refused; the purge and forgetting take reasons with their visits. The web app as the service builds it, a real
SQLite file, real sockets; the import through the `dialer` command."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.engine.importing import import_appointments
from dialer.settings import RetentionSettings
from dialer.storage import noshow_schema, schema
from dialer.storage.forgetting import forget
from dialer.storage.repository import Storage
from dialer.storage.retention import purge
from tests.clinics import Chain, Person, clinic_chain
from tests.people_db import Db, fill
from tests.people_db import Person as Patient
from tests.support import DialerHome


async def load(chain: Chain, clinic: str, rows: list[dict[str, Any]]) -> None:
    numbered = [
        (n, {**chain.appointment_row(clinic, r["appointment_id"]), **r}) for n, r in enumerate(rows, 1)
    ]
    outcome = await import_appointments(
        numbered, settings=chain.rt.settings, store=chain.rt.storage.appointments, now=chain.time.now()
    )
    assert outcome.ok, outcome.errors


async def page(chain: Chain, person: Person, path: str, **params: str) -> tuple[int, str]:
    assert person.http is not None
    async with person.http.get(f"{chain.base}{path}", params=params, headers=person.headers()) as r:
        return r.status, await r.text()


async def post_reason(
    chain: Chain, person: Person, clinic: str, appointment: str, reason: str, comment: str = ""
) -> int:
    assert person.http is not None
    async with person.http.post(
        f"{chain.base}/supervisor/noshow/{appointment}/reason",
        params={"clinic": clinic},
        data={"reason": reason, "comment": comment},
        headers=person.headers(),
        allow_redirects=False,
    ) as r:
        return r.status


async def reasons(chain: Chain) -> dict[str, dict[str, Any]]:
    return {
        r["appointment_id"]: r for r in await Db(chain.rt.storage.engine).rows(noshow_schema.noshow_reasons)
    }


async def test_reasons_from_the_file_and_the_form_counted_on_the_week_s_page_and_in_its_csv(
    tmp_path: Path, database_url: str
) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        sup1, sup23, op1 = chain.people["sup1"], chain.people["sup23"], chain.people["op1"]
        day = chain.time.today.isoformat()
        visit = {"visit_date": day, "attended": "нет"}
        week_file = [
            {"appointment_id": "NS-1", **visit, "noshow_reason": "Забыл о приёме"},
            {"appointment_id": "NS-2", **visit, "noshow_reason": "уехал на дачу"},
            {"appointment_id": "NS-3", **visit},
            {"appointment_id": "CAME", "visit_date": day, "attended": "да"},
        ]
        await load(chain, "c1", week_file)
        await load(chain, "c2", [{"appointment_id": "C2-NS", **visit, "noshow_reason": "заболел"}])

        status, html = await page(chain, sup1, "/supervisor/noshow", clinic="c1", date=day)
        assert status == 200
        assert html.count('<tr data-appointment="') == 3 and "CAME" not in html and "C2-NS" not in html
        assert "Причина известна: 2 из 3 (67 %)" in html
        assert '<li data-reason="forgot">забыл о приёме: <b>1</b></li>' in html
        assert '<li data-reason="">не выяснена: <b>1</b></li>' in html
        assert "<td>другое</td><td>уехал на дачу</td>" in html

        # The senior administrator records the unknown one and corrects the file's: the last word wins.
        assert await post_reason(chain, sup1, "c1", "NS-3", "ill", "  температура   38 ") == 303
        assert await post_reason(chain, sup1, "c1", "NS-1", "rescheduled", "записан на пятницу") == 303
        status, html = await page(chain, sup1, "/supervisor/noshow", clinic="c1", date=day)
        assert "Причина известна: 3 из 3 (100 %)" in html and "не выяснена" not in html
        assert "<td>заболел / плохое самочувствие</td><td>температура 38</td>" in html
        assert '<option value="rescheduled" selected>' in html
        stored = await reasons(chain)
        assert (stored["NS-1"]["source"], stored["NS-1"]["recorded_by"]) == ("staff", sup1.user_id)
        assert stored["NS-2"]["source"] == "import" and stored["NS-2"]["recorded_by"] is None

        # The clinic's file comes again the next day: it refreshes its own reasons, never the administrator's.
        week_file[1]["noshow_reason"] = "дорого"
        await load(chain, "c1", week_file)
        stored = await reasons(chain)
        assert stored["NS-1"]["reason"] == "rescheduled" and stored["NS-2"]["reason"] == "changed_mind"

        # Bad input and the wrong people.
        assert await post_reason(chain, sup1, "c1", "NS-3", "guessed") == 400
        assert await post_reason(chain, sup1, "c1", "NS-3", "other", "слово " * 100) == 400  # over 500
        assert await post_reason(chain, sup1, "c1", "CAME", "forgot") == 404  # the patient came
        assert await post_reason(chain, sup1, "c1", "C2-NS", "forgot") == 404  # another clinic's visit
        assert await post_reason(chain, sup23, "c1", "NS-3", "forgot") == 403
        assert await post_reason(chain, op1, "c1", "NS-3", "forgot") == 403
        assert (await reasons(chain))["NS-3"]["reason"] == "ill"

        status, text = await page(chain, sup1, "/supervisor/noshow.csv", clinic="c1", date=day)
        assert status == 200
        table = list(csv.DictReader(io.StringIO(text)))
        assert [(r["appointment_id"], r["reason_label"], r["comment"], r["source"]) for r in table] == [
            ("NS-1", "перенёс на другой день", "записан на пятницу", "staff"),
            ("NS-2", "дорого / передумал", "", "import"),
            ("NS-3", "заболел / плохое самочувствие", "температура 38", "staff"),
        ]
        assert table[0]["doctor"] == "Иванова Мария Петровна" and table[0]["reminder"]
        assert "Пациент" not in text and chain.phones["c1"][2:] not in text

        # The clinic's system over the JSON API: the same column, the same reading.
        adm = chain.people["adm"]
        assert adm.http is not None
        visits = [
            {**chain.appointment_row("c1", "API-1"), **visit, "noshow_reason": "работа: совещание"},
            {**chain.appointment_row("c1", "API-2"), **visit, "noshow_reason": None},
        ]
        async with adm.http.post(f"{chain.base}/api/appointments", json=visits, headers=adm.headers()) as r:
            assert r.status == 200, await r.text()
        stored = await reasons(chain)
        assert (stored["API-1"]["reason"], stored["API-1"]["comment"]) == ("busy", "совещание")
        assert "API-2" not in stored

        audited = [
            json.loads(r["detail"])
            for r in await Db(chain.rt.storage.engine).rows(schema.audit_log)
            if r["action"] == "noshow_reason"
        ]
        assert audited == [
            {"appointment_id": "NS-3", "reason": "ill"},
            {"appointment_id": "NS-1", "reason": "rescheduled"},
        ]  # ids only: the comment may speak of the patient


CONFIG = """
[service]
data_dir = "var"
[[clinics]]
id = "omsk"
name = "КДЦ Омск"
timezone = "Asia/Omsk"
"""


def test_the_file_s_reason_column_takes_any_text_and_never_refuses_a_row(
    tmp_path: Path, database_url: str
) -> None:
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(CONFIG)
    path = home.root / "visits.csv"
    header = "ID записи;Клиника;ФИО пациента;Телефон;Дата приёма;Время приёма;Врач;Явка;Причина неявки\n"
    rows = [
        "2001;omsk;Смирнова Анна;9161234567;26.11.2026;09:30;Иванова М. П.;нет;Заболела",
        "2002;omsk;Кузнецов Игорь;9161234568;26.11.2026;10:00;Петров А. Н.;нет;=1+2 не знаю",
        "2003;omsk;Попова Елена;9161234569;26.11.2026;10:30;Петров А. Н.;да;",
    ]
    path.write_bytes((header + "\r\n".join(rows) + "\r\n").encode("cp1251"))
    result = home.run("import", "appointments", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Загружено записей: 3 из 3" in result.stdout
    stored = {r["appointment_id"]: dict(r) for r in home.query("select * from noshow_reasons")}
    assert set(stored) == {"2001", "2002"}
    assert (stored["2001"]["reason"], stored["2001"]["comment"]) == ("ill", "")
    assert (stored["2002"]["reason"], stored["2002"]["comment"], stored["2002"]["source"]) == (
        "other",
        "=1+2 не знаю",
        "import",
    )


NOW = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
POLICY = RetentionSettings(appointments=timedelta(days=40), comments=timedelta(days=15))


@pytest.fixture
def db(storage: Storage) -> Db:
    return Db(storage.engine)


async def test_the_purge_takes_reasons_with_their_visits_and_their_comments_earlier(db: Db) -> None:
    old = Patient("O", "+79161230010", "Старая Запись")
    mid = Patient("M", "+79161230011", "Средняя Запись")
    new = Patient("N", "+79161230012", "Свежая Запись")
    await fill(db, old, NOW - timedelta(days=41))
    await fill(db, mid, NOW - timedelta(days=16))
    await fill(db, new, NOW - timedelta(days=1))

    erased = await purge(db.engine, POLICY, NOW)

    left = {r["appointment_id"]: r["comment"] for r in await db.rows(noshow_schema.noshow_reasons)}
    assert left == {mid.appointment_id: "", new.appointment_id: f"{new.name} уехала к родным"}
    assert erased.counts["noshow_reasons"] == 1 and erased.counts["noshow_reasons.comment"] == 1


async def test_forgetting_a_patient_takes_their_visits_reasons_only(db: Db) -> None:
    gone, kept = Patient("G", "+79161230020", "Забытая Пациентка"), Patient("K", "+79161230021", "Другая")
    await fill(db, gone, NOW)
    await fill(db, kept, NOW)

    erased = await forget(db.engine, gone.phone)

    left = [r["appointment_id"] for r in await db.rows(noshow_schema.noshow_reasons)]
    assert left == [kept.appointment_id] and erased.counts["noshow_reasons"] == 1
