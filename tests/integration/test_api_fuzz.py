"""A fuzz pass over the JSON API and the forms, driven by the OpenAPI description: whatever comes in, the
answer is a clear 4xx, never a 500."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dialer.app import build_web_app, open_runtime
from dialer.core.passwords import hash_password
from dialer.settings import load_settings
from dialer.web.openapi import SPEC
from tests.hypothesis_profiles import examples
from tests.staff import add_staff
from tests.support import DialerHome

# The test client of the service's web app.
AppClient = TestClient[Request, Application]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "2026-11-26",
            "26.11.2026",
            "25:00",
            "+7 916 123-45-67",
            "c1",
            "booked",
            "refused",
            "\x00",
            "'; drop table users; --",
            "Ж" * 300,
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner, max_size=5),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "appointment_id",
        "clinic",
        "patient_name",
        "phone",
        "visit_date",
        "visit_time",
        "doctor",
        "do_not_call",
        "result",
        "visit_date",
        "call_again_date",
        "reason",
        "slots",
        "comment",
        "diary_date",
        "waiting_doctor",
    ]
)
objects = st.dictionaries(field_names, json_values, max_size=8)
# What a query parameter may carry: junk, and the shapes a store or a datetime may choke on.
query_values = st.one_of(
    st.text(max_size=20), st.dates().map(date.isoformat), st.integers().map(str), st.sampled_from(["c1", "²"])
)
bodies = st.one_of(json_values, objects, st.lists(objects, max_size=5), st.binary(max_size=60))


@pytest.fixture
async def client(tmp_path: Path, database_url: str) -> AsyncIterator[AppClient]:
    home = DialerHome.one_clinic(tmp_path, database_url)
    async with open_runtime(load_settings(home.config, env={})) as rt:
        password = hash_password("long enough password")
        await add_staff(rt.storage, "fuzz", password_hash=password, interfaces=("PJSIP/101",), token=True)
        boss = await add_staff(rt.storage, "boss", "supervisor", password_hash=password, token=True)
        # The API is for admins and other systems: fuzz it as the clinic's system does, with an admin's token.
        crm = await add_staff(
            rt.storage, "crm", "admin", password_hash=password, display_name="CRM", token=True
        )
        headers = {"Authorization": f"Bearer {crm.token}"}
        async with TestClient(TestServer(build_web_app(rt)), headers=headers) as c:
            c.boss_token = boss.token  # type: ignore[attr-defined]
            yield c


def operations() -> list[tuple[str, str]]:
    return [(path, method) for path, item in SPEC["paths"].items() for method in item]


FUZZ = settings(
    max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
BIGGEST_ID = 2**31 - 1  # PostgreSQL's INTEGER holds a signed 32-bit number (SQLite's 64)


@pytest.mark.parametrize(("path", "method"), operations())
@FUZZ
# Cases that once made a 500, kept for every run: an id past SQLite's range (scripts/test on a fresh clone).
@example(body={}, query={}, wrapup_id=BIGGEST_ID + 1)
@example(body={}, query={}, wrapup_id=-(BIGGEST_ID + 2))
@example(body={}, query={}, wrapup_id=BIGGEST_ID)
@example(body={"result": "no_result"}, query={}, wrapup_id="٣")
@example(body={}, query={"date": "9999-12-31"}, wrapup_id=0)
@example(body={}, query={"date": "0001-01-01", "clinic": "c1"}, wrapup_id=0)
@given(
    body=bodies,
    query=st.dictionaries(st.sampled_from(["date", "clinic", "x"]), query_values, max_size=3),
    wrapup_id=st.one_of(st.integers(), st.text(max_size=10)),
)
async def test_no_input_makes_a_500(
    client: AppClient, path: str, method: str, body: Any, query: dict[str, str], wrapup_id: Any
) -> None:
    url = path.replace("{wrapup_id}", str(wrapup_id).replace("/", "") or "0")
    data = body if isinstance(body, bytes) else json.dumps(body)
    response = await client.request(
        method.upper(), url, params=query, data=data, headers={"Content-Type": "application/json"}
    )
    assert response.status < 500, (url, response.status, await response.text())
    if response.status >= 400 and response.content_type == "application/json":
        errors = (await response.json())["errors"]
        assert errors and all(e["message"] for e in errors)


@FUZZ
# A non-ASCII token made hmac.compare_digest raise (75d7292).
@example(form={"csrf": "ё", "username": "fuzz", "password": "x"})
@given(
    form=st.dictionaries(
        st.sampled_from(["csrf", "username", "password", "next"]), st.text(max_size=300), max_size=4
    )
)
async def test_the_login_form_answers_bad_input_without_a_500(
    client: AppClient, form: dict[str, str]
) -> None:
    response = await client.post("/login", data=form, allow_redirects=False, headers={"Authorization": ""})
    assert response.status in (303, 401, 403, 429), response.status


async def login(client: AppClient, username: str, password: str) -> str:
    """Log in through the form as a browser does; returns the session's CSRF token."""
    page = await client.get("/login", headers={"Authorization": ""})
    token = (await page.text()).split('name="csrf" value="')[1].split('"')[0]
    response = await client.post(
        "/login",
        data={"csrf": token, "username": username, "password": password},
        allow_redirects=False,
        headers={"Authorization": ""},
    )
    assert response.status == 303, await response.text()
    home = await client.get(response.headers["Location"], headers={"Authorization": ""})
    return (await home.text()).split('<meta name="csrf" content="')[1].split('"')[0]


async def test_a_change_without_the_csrf_token_is_refused(client: AppClient) -> None:
    csrf = await login(client, "fuzz", "long enough password")
    no_token = await client.post(
        "/api/wrapups/1", json={"result": "no_result"}, headers={"Authorization": ""}
    )
    assert no_token.status == 403
    with_token = await client.post(
        "/api/wrapups/1", json={"result": "no_result"}, headers={"Authorization": "", "X-CSRF-Token": csrf}
    )
    assert with_token.status == 404  # no such call to wrap up: the token itself was accepted
    supervisor_page = await client.get("/supervisor", headers={"Authorization": ""})
    assert supervisor_page.status == 403


@FUZZ
@example(path="/supervisor/report", query={"operator": "²"})
@example(path="/supervisor/missed", query={"operator": "9" * 25})
@example(path="/supervisor/report.csv", query={"date": "9999-12-31"})
@example(path="/supervisor/unreached", query={"date": "0001-01-01"})
@example(path="/api/sla", query={"date": "9999-12-31"})
@example(path="/api/appointments", query={"date": "9999-12-31"})
@given(
    path=st.sampled_from(
        [
            "/supervisor/report",
            "/supervisor/report.csv",
            "/supervisor/missed",
            "/supervisor/unreached",
            "/api/sla",
            "/api/appointments",
        ]
    ),
    query=st.dictionaries(st.sampled_from(["date", "clinic", "operator"]), query_values, max_size=3),
)
async def test_report_pages_answer_bad_filters_without_a_500(
    client: AppClient, path: str, query: dict[str, str]
) -> None:
    response = await client.get(path, params=query, headers={"Authorization": f"Bearer {client.boss_token}"})  # type: ignore[attr-defined]
    assert response.status < 500, (path, query, response.status)
    assert response.status in (200, 400), (path, query, response.status)


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("POST", f"/api/wrapups/{BIGGEST_ID + 1}", 404),  # past PostgreSQL's range: no row can have it
        ("POST", f"/api/wrapups/{2**63}", 404),  # past SQLite's too
        ("POST", "/api/wrapups/0", 404),
        ("POST", f"/api/wrapups/{BIGGEST_ID}", 404),  # in range, but there is no such call
        ("POST", "/api/wrapups/٣", 400),  # int() reads Arabic-Indic digits; an id is ASCII digits
        ("POST", "/api/wrapups/1_0", 400),
        ("POST", "/api/wrapups/-1", 400),
        ("GET", "/api/appointments?date=9999-12-31", 400),
        ("GET", "/api/appointments?date=20261126", 400),
        ("GET", "/api/appointments?date=2026-11-26", 200),
        ("GET", "/api/appointments?date=2026-11-26&clinic=nope", 400),
        ("GET", "/api/sla?date=0001-01-01", 400),
        ("GET", "/api/sla?clinic=c1", 200),
        ("GET", "/api/kos?clinic=nope", 400),
        ("GET", "/supervisor/report?operator=²", 400),  # "²".isdigit() is True, int("²") is not
        ("GET", f"/supervisor/missed?operator={'9' * 25}", 400),
        ("GET", "/supervisor/report.csv?date=9999-12-31", 400),
        ("GET", "/supervisor/report?clinic=c1&date=2026-11-26&operator=7", 200),
    ],
)
async def test_ids_dates_and_clinics_are_checked_at_the_edge(
    client: AppClient, method: str, url: str, status: int
) -> None:
    headers: dict[str, str] = {}
    if url.startswith(("/supervisor", "/api/sla")):
        headers = {"Authorization": f"Bearer {client.boss_token}"}  # type: ignore[attr-defined]
    elif url.startswith("/api/wrapups"):
        # A wrap-up is saved from the operator's own page, in their session (no API token).
        headers = {"Authorization": "", "X-CSRF-Token": await login(client, "fuzz", "long enough password")}
    response = await client.request(method, url, json={"result": "no_result"}, headers=headers)
    assert response.status == status, (url, await response.text())
    if status != 200 and url.startswith("/api/"):
        (error,) = (await response.json())["errors"]
        assert error["message"]
