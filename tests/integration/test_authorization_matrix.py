"""Who may use what, route by route: every route the web app answers (walked from its own route table) ×
every kind of person (nobody, an operator, a supervisor of one clinic, a supervisor of two, an admin of every
clinic, the clinic's system with an admin's API token for one clinic, an operator's API token) × their own
clinic and a clinic that is not theirs, sent over a real socket to the app as the service builds it, on a
real SQLite file. The expected answers come from SPECS below, written from the issue ("who may see and do
what"), not from the code's rules: a route the table does not know, a route without a rule, or a rule that
differs from the table fails the suite."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from bench.lib.service import free_port
from dialer.app import build_web_app
from dialer.core.quality import CRITERIA
from dialer.core.staff import Role
from dialer.engine.importing import import_appointments
from dialer.web.access import RULES, Rule, route_table
from tests.clinics import TWILIO_TOKEN, Chain, Person, clinic_chain
from tests.integration.test_own_recordings import let_operators_hear_own
from tests.quality_calls import add_call, add_recording, make_ogg
from tests.staff import add_staff

OPERATOR, SUPERVISOR, ADMIN = Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN
EVERYONE = frozenset({OPERATOR, SUPERVISOR, ADMIN})
SUPERVISORS = frozenset({SUPERVISOR, ADMIN})
LOGIN = "login"  # 401, or a page's redirect to the login form


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, str] | None = None
    json: Any = None
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    socket: bool = False


Build = Callable[[Chain, Person, str], Awaitable[Call]]


@dataclass(frozen=True)
class Spec:
    """What the issue says about one route. `roles` empty and `public` set: anyone, with no login."""

    roles: frozenset[str]
    build: Build
    ok: int  # the answer to someone who may
    other: int | None = None  # the answer to them for a clinic they do not hold; None: the route names none
    tokens: bool = True  # may an API token be used (the live socket, wrap-ups and logout: a browser only)
    public: bool = False
    # Roles the rule lets in, to whom the record built is not theirs to see: answered as if it did not exist.
    not_theirs: frozenset[str] = frozenset()
    loopback: bool = False  # also open without a login to a client on this host that no proxy forwarded


def get(path: str, **params: str) -> Build:
    async def build(chain: Chain, person: Person, clinic: str) -> Call:
        return Call("GET", path, params or None)

    return build


def proxied(path: str) -> Build:
    """As a reverse proxy on this host forwards an outside request: what the matrix's loopback client is."""

    async def build(chain: Chain, person: Person, clinic: str) -> Call:
        return Call("GET", path, headers={"X-Forwarded-For": "203.0.113.7"})

    return build


def get_clinic(path: str, *, socket: bool = False, **params: str) -> Build:
    async def build(chain: Chain, person: Person, clinic: str) -> Call:
        return Call("GET", path, {**params, "clinic": clinic}, socket=socket)

    return build


async def skill_of_week(chain: Chain, person: Person, clinic: str) -> Call:
    """«Навык недели» for an administrator of that clinic, made for the call."""
    admin = await add_staff(
        chain.rt.storage,
        chain.next_id(f"op-{clinic}"),
        "operator",
        clinics=frozenset({clinic}),
        display_name="Администратор недели",
        now=chain.time.now(),
    )
    form = {"user_id": str(admin.user_id), "week": chain.time.today.isoformat(), "skill": "Два слота"}
    return Call("POST", "/supervisor/listening/skill", {"clinic": clinic}, data=form)


async def noshow_reason(chain: Chain, person: Person, clinic: str) -> Call:
    """Why a patient of that clinic did not come, for a missed visit made for the call."""
    appointment = chain.next_id("NS")
    row = {**chain.appointment_row(clinic, appointment), "attended": "нет"}
    outcome = await import_appointments(
        [(1, row)], settings=chain.rt.settings, store=chain.rt.storage.appointments, now=chain.time.now()
    )
    assert outcome.ok, outcome.errors
    form = {"reason": "forgot", "comment": "перепутал дни"}
    return Call("POST", f"/supervisor/noshow/{appointment}/reason", {"clinic": clinic}, data=form)


async def appointments_day(chain: Chain, person: Person, clinic: str) -> Call:
    return Call(
        "GET",
        "/api/appointments",
        {"date": chain.appointment_row(clinic, "x")["visit_date"], "clinic": clinic},
    )


async def import_appointment(chain: Chain, person: Person, clinic: str) -> Call:
    return Call("POST", "/api/appointments", json=[chain.appointment_row(clinic, chain.next_id("NEW"))])


async def import_recall(chain: Chain, person: Person, clinic: str) -> Call:
    return Call("POST", "/api/kos", json=[chain.recall_row(clinic, chain.next_id("K"))])


async def cancel(chain: Chain, person: Person, clinic: str) -> Call:
    return Call(
        "POST",
        "/api/appointments/cancel",
        json={"clinic": clinic, "appointment_id": chain.appointments[clinic].pop()},
    )


async def wrap_up(chain: Chain, person: Person, clinic: str) -> Call:
    """A call this person answered (someone's, for the anonymous), in the clinic given, waiting for its wrap-up."""
    owner = person.user_id or chain.people["op1"].user_id
    row = await chain.pending_wrapup(clinic, owner, chain.next_id("call"))
    await chain.rt.storage.wrapups.ended(row.wrapup_id, chain.time.now())
    return Call("POST", f"/api/wrapups/{row.wrapup_id}", json={"result": "no_result"})


async def delivery_report(chain: Chain, person: Person, clinic: str) -> Call:
    path = "/sms/twilio/status"
    form = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(chain.base + path, form)
    return Call("POST", path, data=form, headers={"X-Twilio-Signature": signature})


async def a_call(chain: Chain, person: Person, clinic: str) -> int:
    """A call of the clinic's journal, answered by the clinic's operator op1."""
    return await add_call(
        chain.rt.storage.engine,
        clinic,
        user_id=chain.people["op1"].user_id,
        phone=chain.phones[clinic],
        at=chain.time.now(),
        call_ref=chain.next_id("L"),
    )


async def call_card(chain: Chain, person: Person, clinic: str) -> Call:
    return Call("GET", f"/supervisor/calls/{await a_call(chain, person, clinic)}")


async def score_call(chain: Chain, person: Person, clinic: str) -> Call:
    points = {f"points_{c.key}": str(c.points) for c in CRITERIA}
    return Call("POST", f"/supervisor/calls/{await a_call(chain, person, clinic)}/score", data=points)


async def someone_elses_recording(chain: Chain, person: Person, clinic: str) -> Call:
    """A recording of a call of the clinic answered by someone other than this person."""
    folder = chain.rt.settings.service.recordings_dir
    if not (folder / "tone.ogg").is_file():
        make_ogg(folder / "tone.ogg", 1)
    owner = next(p.user_id for p in chain.people.values() if p.role and p.user_id != person.user_id)
    recording = await add_recording(
        chain.rt.storage.engine,
        folder,
        clinic,
        call_ref=chain.next_id("L"),
        user_id=owner,
        at=chain.time.now(),
        file_name="tone.ogg",
    )
    return Call("GET", f"/recordings/{recording}")


async def own_recordings(chain: Chain, person: Person, clinic: str) -> Call:
    """An administrator's own recordings, where the clinic allows it (refused where not: test_own_recordings)."""
    let_operators_hear_own(chain, clinic)
    return Call("GET", "/operator/calls", {"clinic": clinic})


async def login_form(chain: Chain, person: Person, clinic: str) -> Call:
    return Call("POST", "/login", data={"username": person.name, "password": "x"})


async def logout(chain: Chain, person: Person, clinic: str) -> Call:
    return Call("POST", "/logout")


SPECS: dict[tuple[str, str], Spec] = {
    # Public: each says what protects it instead.
    ("GET", "/login"): Spec(frozenset(), get("/login"), 200, public=True),
    ("POST", "/login"): Spec(frozenset(), login_form, 403, public=True),  # no form token: refused by the form
    ("GET", "/static"): Spec(frozenset(), get("/static/app.css"), 200, public=True),
    ("GET", "/favicon.ico"): Spec(frozenset(), get("/favicon.ico"), 204, public=True),
    ("GET", "/api/health"): Spec(frozenset(), get("/api/health"), 200, public=True),
    ("GET", "/api/openapi.json"): Spec(frozenset(), get("/api/openapi.json"), 200, public=True),
    ("POST", "/sms/{provider}/status"): Spec(frozenset(), delivery_report, 200, public=True),  # signed
    # The load balancer's probes: no data. The app is not connected to Asterisk here, so it is not ready.
    ("GET", "/health"): Spec(frozenset(), get("/health"), 200, public=True),
    ("GET", "/ready"): Spec(frozenset(), get("/ready"), 503, public=True),
    # Counts only, but not for the internet: the admin, the clinic's system, or Prometheus on this host.
    ("GET", "/metrics"): Spec(frozenset({ADMIN}), proxied("/metrics"), 200, loopback=True),
    # Everyone logged in.
    ("GET", "/"): Spec(EVERYONE, get("/"), 303),
    ("POST", "/logout"): Spec(EVERYONE, logout, 303, tokens=False),
    ("GET", "/ws"): Spec(EVERYONE, get_clinic("/ws", socket=True), 101, 403, tokens=False),
    # The operator's page and their wrap-ups.
    ("GET", "/operator"): Spec(frozenset({OPERATOR, ADMIN}), get("/operator"), 200),
    ("POST", "/api/wrapups/{wrapup_id}"): Spec(frozenset({OPERATOR, ADMIN}), wrap_up, 200, 404, tokens=False),
    # The supervisor's pages.
    ("GET", "/supervisor"): Spec(SUPERVISORS, get("/supervisor"), 200),
    ("GET", "/supervisor/report"): Spec(SUPERVISORS, get_clinic("/supervisor/report"), 200, 403),
    ("GET", "/supervisor/report.csv"): Spec(SUPERVISORS, get_clinic("/supervisor/report.csv"), 200, 403),
    ("GET", "/supervisor/missed"): Spec(SUPERVISORS, get_clinic("/supervisor/missed"), 200, 403),
    ("GET", "/supervisor/unreached"): Spec(SUPERVISORS, get_clinic("/supervisor/unreached"), 200, 403),
    ("GET", "/supervisor/noshow"): Spec(SUPERVISORS, get_clinic("/supervisor/noshow"), 200, 403),
    ("GET", "/supervisor/noshow.csv"): Spec(SUPERVISORS, get_clinic("/supervisor/noshow.csv"), 200, 403),
    # Why a patient did not come: a person's judgement, in a browser.
    ("POST", "/supervisor/noshow/{appointment_id}/reason"): Spec(
        SUPERVISORS, noshow_reason, 303, 403, tokens=False
    ),
    ("GET", "/supervisor/audit"): Spec(SUPERVISORS, get_clinic("/supervisor/audit"), 200, 403),
    # Listening and scoring: a call or a recording names its clinic, and one not held does not exist.
    ("GET", "/supervisor/calls"): Spec(SUPERVISORS, get_clinic("/supervisor/calls"), 200, 403),
    ("GET", "/supervisor/calls.csv"): Spec(SUPERVISORS, get_clinic("/supervisor/calls.csv"), 200, 403),
    ("GET", "/supervisor/calls/{contact_id}"): Spec(SUPERVISORS, call_card, 200, 404),
    ("POST", "/supervisor/calls/{contact_id}/score"): Spec(SUPERVISORS, score_call, 303, 404, tokens=False),
    ("GET", "/supervisor/quality"): Spec(SUPERVISORS, get_clinic("/supervisor/quality"), 200, 403),
    # An operator may hear their own calls only, where the clinic allows it: another's is not there for them;
    # a person listens, in a browser, and never another system by an API token.
    ("GET", "/recordings/{recording_id}"): Spec(
        EVERYONE, someone_elses_recording, 200, 404, tokens=False, not_theirs=frozenset({OPERATOR})
    ),
    ("GET", "/operator/calls"): Spec(frozenset({OPERATOR}), own_recordings, 200, 403, tokens=False),
    ("GET", "/supervisor/listening"): Spec(SUPERVISORS, get_clinic("/supervisor/listening"), 200, 403),
    ("POST", "/supervisor/listening/skill"): Spec(SUPERVISORS, skill_of_week, 303, 403),
    # The JSON API: loading lists (calls and SMS follow) is for admins and the clinic's system, row by row
    # for their clinics; reading results also for supervisors; cancelling a visit also for the operator.
    ("POST", "/api/appointments"): Spec(frozenset({ADMIN}), import_appointment, 200, 400),
    ("POST", "/api/kos"): Spec(frozenset({ADMIN}), import_recall, 200, 400),
    ("GET", "/api/appointments"): Spec(SUPERVISORS, appointments_day, 200, 403),
    ("GET", "/api/kos"): Spec(SUPERVISORS, get_clinic("/api/kos"), 200, 403),
    ("GET", "/api/sla"): Spec(SUPERVISORS, get_clinic("/api/sla"), 200, 403),
    ("POST", "/api/appointments/cancel"): Spec(EVERYONE, cancel, 200, 403),
}


def expected(spec: Spec, person: Person, mine: bool) -> int | str:
    if spec.public:
        return spec.ok
    if not person.role:
        return LOGIN
    if person.role not in spec.roles or (person.token and not spec.tokens):
        return 403
    if not mine and spec.other is not None and not person.all_clinics:
        return spec.other
    if person.role in spec.not_theirs:
        return 404
    return spec.ok


async def send(chain: Chain, person: Person, call: Call) -> int | str:
    assert person.http is not None
    headers = {**person.headers(), **(call.headers or {})}
    url = chain.base + call.path
    if call.socket:
        try:
            async with person.http.ws_connect(url, params=call.params, headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as err:
            return LOGIN if err.status == 401 else err.status
    async with person.http.request(
        call.method,
        url,
        params=call.params,
        json=call.json,
        data=call.data,
        headers=headers,
        allow_redirects=False,
    ) as response:
        await response.read()
        location = response.headers.get("Location", "")
        if response.status == 401 or (response.status == 303 and location.startswith("/login?next=")):
            return LOGIN
        return response.status


def table_problems(app: web.Application) -> list[str]:
    """Routes the matrix cannot vouch for: without a rule, unknown to SPECS, or ruled otherwise than SPECS."""
    problems = []
    for method, path, rule in route_table(app):
        spec = SPECS.get((method, path))
        if rule is None:
            problems.append(f"{method} {path}: no access rule (refused to everyone)")
        if spec is None:
            problems.append(f"{method} {path}: not in the authorization matrix")
        elif rule is not None and not same_rule(rule, spec):
            problems.append(
                f"{method} {path}: rule says {rule.describe()}, the matrix says {sorted(spec.roles)}"
            )
    return problems


def same_rule(rule: Rule, spec: Spec) -> bool:
    if spec.public:
        return bool(rule.public)
    return (
        not rule.public
        and rule.roles == spec.roles
        and rule.tokens == spec.tokens
        and rule.loopback == spec.loopback
    )


async def run_matrix(chain: Chain, app: web.Application) -> tuple[int, list[str]]:
    """Every route × person × own/other clinic; logging out last, as it ends the session."""
    routes = [(m, p) for m, p, _ in route_table(app) if (m, p) in SPECS]
    routes.sort(key=lambda r: r == ("POST", "/logout"))
    sent, wrong = 0, []
    for method, path in routes:
        spec = SPECS[(method, path)]
        for person in chain.people.values():
            for mine in (True, False) if spec.other is not None else (True,):
                call = await spec.build(chain, person, person.own if mine else person.other)
                got = await send(chain, person, call)
                want = expected(spec, person, mine)
                sent += 1
                if got != want:
                    where = "own clinic" if mine else "other clinic"
                    wrong.append(f"{method} {path} as {person.name} ({where}): got {got}, expected {want}")
    return sent, wrong


async def test_every_route_answers_each_person_as_the_matrix_says(tmp_path: Path, database_url: str) -> None:
    async with clinic_chain(tmp_path, database_url=database_url) as chain:
        app = chain.app
        assert app is not None
        assert table_problems(app) == []
        sent, wrong = await run_matrix(chain, app)
        assert wrong == [], "\n".join(wrong)
        assert sent >= 200  # 23 routes × 7 people, × 2 clinics where the route names one


async def test_a_route_added_without_a_rule_is_refused_to_everyone_and_fails_the_matrix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def secret(request: web.Request) -> web.Response:
        return web.json_response({"patients": ["Смирнова Анна"]})

    async with clinic_chain(tmp_path) as chain:
        app = build_web_app(chain.rt)
        app.router.add_get("/api/secret", secret)  # a new route whose author forgot its rule
        app.router.add_post("/api/secret", secret)
        assert table_problems(app) == [
            "GET /api/secret: no access rule (refused to everyone)",
            "GET /api/secret: not in the authorization matrix",
            "POST /api/secret: no access rule (refused to everyone)",
            "POST /api/secret: not in the authorization matrix",
        ]
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        try:
            caplog.set_level(logging.ERROR, "dialer.web")
            for person in chain.people.values():
                assert person.http is not None
                for method in ("GET", "POST"):
                    async with person.http.request(
                        method, f"http://127.0.0.1:{port}/api/secret", headers=person.headers()
                    ) as response:
                        assert response.status == 403, (person.name, method, response.status)
                        assert "Смирнова" not in await response.text()
            assert "refused GET /api/secret: the route declares no access rule" in caplog.text
        finally:
            await runner.cleanup()
        assert RULES in app and ("GET", "/api/secret") not in app[RULES]


def test_the_matrix_knows_the_difference_between_a_rule_and_its_spec() -> None:
    """A loosened rule (operators let into the import) is caught by the table check, not only by requests."""
    loose = Rule(EVERYONE)
    assert not same_rule(loose, SPECS[("POST", "/api/kos")])
    assert same_rule(Rule(frozenset({ADMIN})), SPECS[("POST", "/api/kos")])
    assert not same_rule(Rule(EVERYONE), SPECS[("GET", "/ws")])  # a socket that took API tokens
    assert expected(SPECS[("GET", "/api/kos")], Person("x", OPERATOR, frozenset({"c1"})), True) == 403


async def test_metrics_are_open_to_this_host_without_login_and_closed_when_a_proxy_forwards(
    tmp_path: Path, database_url: str
) -> None:
    """Prometheus beside the service scrapes without a login; the same request forwarded by a reverse proxy on
    this host (the internet, as far as the service can tell) needs the admin's login or token."""
    async with (
        clinic_chain(tmp_path, database_url=database_url) as chain,
        aiohttp.ClientSession() as anonymous,
    ):
        async with anonymous.get(chain.base + "/metrics") as here:
            assert here.status == 200 and "dialer_ami_up" in await here.text()
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            async with anonymous.get(
                chain.base + "/metrics", headers={header: "203.0.113.7"}, allow_redirects=False
            ) as far:
                assert far.status == 303 and far.headers["Location"].startswith("/login?"), header
        assert not same_rule(Rule(frozenset({ADMIN})), SPECS[("GET", "/metrics")])  # the loopback is declared
