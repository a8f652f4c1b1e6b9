"""Importing appointments from a clinic's CSV (the CLI) and from JSON (the API), into a real SQLite file and a
real PostgreSQL database.
Bad rows are reported by row and field; the good rows still go in; nothing is half-written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request

from dialer.app import build_web_app, open_runtime
from dialer.core.passwords import hash_password
from dialer.settings import load_settings
from tests.staff import add_staff
from tests.support import DialerHome

# The test client of the service's web app.
AppClient = TestClient[Request, Application]
# The client, and the days each import told the day's lists about.
Api = tuple[AppClient, list[set[date]]]
CONFIG = """
[service]
data_dir = "var"
[[clinics]]
id = "omsk"
name = "КДЦ Омск"
timezone = "Asia/Omsk"
[[clinics]]
id = "msk"
name = "Клиника Москва"
timezone = "Europe/Moscow"
"""

HEADER = "ID записи;Клиника;ФИО пациента;Телефон;Дата приёма;Время приёма;Врач;Не звонить\n"
ROWS = [
    "1001;omsk;Смирнова Анна Сергеевна;8 (916) 123-45-67;26.11.2026;09:30;Иванова М. П.;нет",  # row 2: good
    "1002;omsk;Кузнецов Игорь;+7 916 123 45 68;2026-11-26;10:00;Петров А. Н.;да",  # row 3: good
    "1003;omsk;Попова Елена;12345;2026-11-26;10:30;Петров А. Н.;нет",  # row 4: bad phone
    "1004;tomsk;Васильев Олег;9161234569;2026-11-26;11:00;Петров А. Н.;нет",  # row 5: unknown clinic
    "1005;msk;Соколова Татьяна;9161234570;30.02.2026;11:30;Иванова М. П.;нет",  # row 6: no such date
    "1001;omsk;Михайлов Артём;9161234571;2026-11-26;12:00;Сидорова О. И.;нет",  # row 7: duplicate id
    "1007;msk;Новикова Ирина;+7 701 123 45 67;2026-11-26;12:30;Сидорова О. И.;нет",  # row 8: Kazakhstan
    "1008;msk;Фёдоров Денис;9161234573;2026-11-26;25:00;Сидорова О. И.;нет",  # row 9: bad time
    "1009;msk;;9161234574;2026-11-26;13:00;Сидорова О. И.;нет",  # row 10: no name
    "1010;msk;Морозова Юлия;9161234575;2026-11-26;13:30;Иванова М. П.;может быть",  # row 11: bad flag
    "1011;msk;Волков Сергей;9161234576;2026-11-26;14:00;Иванова М. П.;нет",  # row 12: good
]
EXPECTED_ERRORS = {
    (4, "phone"),
    (5, "clinic"),
    (6, "visit_date"),
    (7, "appointment_id"),
    (8, "phone"),
    (9, "visit_time"),
    (10, "patient_name"),
    (11, "do_not_call"),
}


@pytest.fixture
def home(tmp_path: Path, database_url: str) -> DialerHome:
    home = DialerHome(tmp_path, database_url=database_url)
    home.write(CONFIG)
    return home


def test_cp1251_csv_with_bad_rows_reports_each_and_imports_the_rest(home: DialerHome) -> None:
    path = home.root / "export-from-excel.csv"
    path.write_bytes((HEADER + "\r\n".join(ROWS) + "\r\n").encode("cp1251"))
    result = home.run("import", "appointments", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    reported = {
        (int(line.split("строка ")[1].split(",")[0]), line.split("поле «")[1].split("»")[0])
        for line in result.stdout.splitlines()
        if "строка " in line
    }
    assert reported == EXPECTED_ERRORS
    assert "Загружено записей: 3 из 11" in result.stdout
    assert "cp1251" in result.stdout
    stored = {
        r["appointment_id"]: r
        for r in home.query(
            "select a.appointment_id, p.name, p.phone, p.do_not_call, a.visit_day from appointments a "
            "join patients p using (clinic_id, patient_id)"
        )
    }
    assert set(stored) == {"1001", "1002", "1011"}
    assert stored["1001"]["name"] == "Смирнова Анна Сергеевна"  # Cyrillic intact after cp1251
    assert stored["1001"]["phone"] == "+79161234567"
    assert stored["1002"]["do_not_call"] == 1
    # Importing the same file again updates in place: no duplicates.
    again = home.run("import", "appointments", str(path))
    assert "обновлено 3" in again.stdout
    assert len(home.query("select * from appointments")) == 3


def test_a_file_without_required_columns_is_refused_whole(home: DialerHome) -> None:
    path = home.root / "short.csv"
    path.write_text("appointment_id,clinic,phone\n1,omsk,9161234567\n", encoding="utf-8")
    result = home.run("import", "appointments", str(path))
    assert result.returncode == 2
    assert "нет обязательных столбцов: patient_name, visit_date, visit_time, doctor" in result.stdout
    assert not home.has_database() or not home.query("select * from appointments")


def test_an_all_good_file_exits_zero(home: DialerHome) -> None:
    path = home.root / "good.csv"
    path.write_text(
        "appointment_id,clinic,patient_name,phone,visit_date,visit_time,doctor\n"
        "1,msk,Анна,9161234567,2026-11-26,10:00,Иванова\n",
        encoding="utf-8",
    )
    assert home.run("import", "appointments", str(path)).returncode == 0


@pytest.fixture
async def api(home: DialerHome) -> AsyncIterator[Api]:
    """The real web app of a service built on this config (nothing dialled: the AMI link is never started),
    called with an API token as the clinic's own software would."""
    settings = load_settings(home.config, env={})
    async with open_runtime(settings) as rt:
        imported: list[set[date]] = []

        async def on_imported(days: set[date]) -> None:
            imported.append(days)

        rt.day_jobs.lists.on_imported = on_imported  # type: ignore[method-assign]
        password = hash_password("long enough password")
        crm = await add_staff(
            rt.storage, "crm", "admin", password_hash=password, display_name="CRM", token=True
        )
        client = TestClient(TestServer(build_web_app(rt)), headers={"Authorization": f"Bearer {crm.token}"})
        async with client:
            yield client, imported


def as_json(row: str) -> dict[str, str]:
    keys = [
        "appointment_id",
        "clinic",
        "patient_name",
        "phone",
        "visit_date",
        "visit_time",
        "doctor",
        "do_not_call",
    ]
    return dict(zip(keys, row.split(";"), strict=True))


async def test_json_import_answers_400_with_every_error_and_keeps_the_good_rows(
    api: Api, home: DialerHome
) -> None:
    client, imported = api
    response = await client.post("/api/appointments", json={"appointments": [as_json(r) for r in ROWS]})
    assert response.status == 400
    body = await response.json()
    assert {(e["row"] + 1, e["field"]) for e in body["errors"]} == EXPECTED_ERRORS  # JSON rows count from 1
    assert body["imported"] == 3
    assert all(e["message"] for e in body["errors"])
    assert imported and len(home.query("select * from appointments")) == 3
    listing = await client.get("/api/appointments", params={"date": "2026-11-26"})
    assert {a["appointment_id"] for a in (await listing.json())["appointments"]} == {"1001", "1002", "1011"}


@pytest.mark.parametrize("body", [b"not json", b'{"appointments": 5}', b"[1, 2]", b"\xff\xfe", b"{}"])
async def test_json_import_refuses_malformed_bodies_with_400(api: Api, body: bytes) -> None:
    client, _ = api
    response = await client.post("/api/appointments", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["errors"]


async def test_json_import_names_unknown_fields(api: Api) -> None:
    client, _ = api
    row = as_json(ROWS[0]) | {"diagnosis": "кариес"}
    response = await client.post("/api/appointments", json=[row])
    assert response.status == 400
    (error,) = (await response.json())["errors"]
    assert error["field"] == "diagnosis" and error["row"] == 1


async def test_listing_refuses_a_bad_date_or_clinic(api: Api) -> None:
    client, _ = api
    assert (await client.get("/api/appointments", params={"date": "завтра"})).status == 400
    assert (await client.get("/api/appointments", params={"date": "2026-11-26", "clinic": "x"})).status == 400


async def test_the_api_refuses_calls_without_a_token(home: DialerHome) -> None:
    settings = load_settings(home.config, env={})
    async with open_runtime(settings) as rt, TestClient(TestServer(build_web_app(rt))) as client:
        assert (await client.post("/api/appointments", json=[])).status == 401
        assert (
            await client.get(
                "/api/appointments", params={"date": "2026-11-26"}, headers={"Authorization": "Bearer wrong"}
            )
        ).status == 401


# The KOS journal («3. Звать»), as a senior administrator exports it: the same per-row checks.
KOS_HEADER = "Номер;Клиника;ФИО пациента;Телефон;Врач;Комментарий врача;Дата КОС;Статус;В плане\n"
KOS_ROWS = [
    "K1;omsk;Смирнова Анна;8 (916) 123-45-67;Иванова М. П.;Контроль пломбы 36;26.11.2026;3. Звать;да",  # 2 good
    "K2;msk;Кузнецов Игорь;+7 916 123 45 68;Петров А. Н.;Продолжить лечение;2026-12-01;;нет",  # 3 good
    "K3;omsk;Попова Елена;12345;Петров А. Н.;;2026-12-01;Звать;да",  # 4: bad phone
    "K4;tomsk;Васильев Олег;9161234569;Петров А. Н.;;2026-12-01;Звать;да",  # 5: unknown clinic
    "K5;msk;Соколова Татьяна;9161234570;Петров А. Н.;;30.02.2026;Звать;да",  # 6: no such date
    "K1;omsk;Михайлов Артём;9161234571;Петров А. Н.;;2026-12-01;Звать;да",  # 7: duplicate id
    "K7;msk;Новикова Ирина;9161234572;Петров А. Н.;;2026-12-01;может быть;да",  # 8: unknown status
    "K8;msk;Фёдоров Денис;9161234573;;;2026-12-01;Звать;да",  # 9: no doctor
    "K9;msk;Морозова Юлия;9161234574;Петров А. Н.;;2026-12-01;Звать;иногда",  # 10: bad flag
    "K10;msk;Волков Сергей;9161234575;Иванова М. П.;Имплант;2026-12-02;Отказ;да",  # 11 good
]
KOS_ERRORS = {
    (4, "phone"),
    (5, "clinic"),
    (6, "target_date"),
    (7, "recall_id"),
    (8, "status"),
    (9, "doctor"),
    (10, "planned"),
}
KOS_KEYS = [
    "recall_id",
    "clinic",
    "patient_name",
    "phone",
    "doctor",
    "comment",
    "target_date",
    "status",
    "planned",
]


def test_kos_csv_with_bad_rows_reports_each_imports_the_rest_and_exports_back(home: DialerHome) -> None:
    path = home.root / "kos.csv"
    path.write_bytes((KOS_HEADER + "\r\n".join(KOS_ROWS) + "\r\n").encode("cp1251"))
    result = home.run("import", "kos", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    reported = {
        (int(line.split("строка ")[1].split(",")[0]), line.split("поле «")[1].split("»")[0])
        for line in result.stdout.splitlines()
        if "строка " in line
    }
    assert reported == KOS_ERRORS
    assert "Загружено записей: 3 из 10" in result.stdout
    assert "обновлено 3" in home.run("import", "kos", str(path)).stdout
    exported = home.run("export", "kos", "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert lines[0].startswith("recall_id,clinic,patient_id,doctor,status,status_label")
    rows = {line.split(",")[0]: line for line in lines[1:]}
    assert set(rows) == {"K1", "K2", "K10"}
    assert ",call,Звать," in rows["K1"] and ",refused,Отказ," in rows["K10"]
    assert "Смирнова" not in exported.stdout  # names stay in the clinic's system
    stored = {r["external_id"]: r for r in home.query("select * from recalls")}
    assert stored["K1"]["phone"] == "+79161234567" and stored["K1"]["comment"] == "Контроль пломбы 36"
    assert stored["K2"]["planned"] == 0


async def test_kos_json_import_gives_the_same_errors_as_the_csv(api: Api, home: DialerHome) -> None:
    client, _ = api
    body = [dict(zip(KOS_KEYS, row.split(";"), strict=True)) for row in KOS_ROWS]
    response = await client.post("/api/kos", json={"recalls": body})
    assert response.status == 400
    reply = await response.json()
    assert {(e["row"] + 1, e["field"]) for e in reply["errors"]} == KOS_ERRORS
    assert reply["imported"] == 3
    listing = await (await client.get("/api/kos")).json()
    assert {r["recall_id"] for r in listing["recalls"]} == {"K1", "K2", "K10"}
    unknown = await client.post("/api/kos", json=[{**body[0], "diagnosis": "кариес"}])
    assert unknown.status == 400 and (await unknown.json())["errors"][0]["field"] == "diagnosis"
    for bad in (b"not json", b'{"recalls": 5}', b"[1]"):
        refused = await client.post("/api/kos", data=bad, headers={"Content-Type": "application/json"})
        assert refused.status == 400 and (await refused.json())["errors"]


async def test_cancelling_a_visit_from_the_ui_checks_its_input(api: Api, home: DialerHome) -> None:
    client, _ = api
    await client.post("/api/appointments", json=[as_json(ROWS[0])])
    ok = await client.post("/api/appointments/cancel", json={"clinic": "omsk", "appointment_id": "1001"})
    assert ok.status == 200, await ok.text()
    (row,) = home.query("select reminder_status from appointments where appointment_id = '1001'")
    assert row["reminder_status"] == "cancelled"
    again = await client.post("/api/appointments/cancel", json={"clinic": "omsk", "appointment_id": "1001"})
    assert again.status == 404
    for bad in ({"clinic": "tomsk", "appointment_id": "1"}, {"clinic": "omsk"}, {"x": 1}, [1]):
        response = await client.post("/api/appointments/cancel", json=bad)
        assert response.status == 400, bad
