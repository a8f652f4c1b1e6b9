"""КОС on the real Asterisk sandbox: `dialer run` dials recall patients progressively, bridges each answered
one to a free simulated administrator, and takes the administrators' results through the wrap-up API their
web page uses. The pacing is checked from Asterisk's own events, read by an independent AMI connection.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from bench.lib.clinic import ClinicTime
from dialer.campaigns.kos import NOBODY_FREE_REASON
from tests.ami_proxy import AmiProxy
from tests.asterisk_plugin import SandboxHandle
from tests.inbound_scenario import QUEUE, Service, running_service
from tests.kos_scenario import kos_config, replay_pacing, webhook_receiver
from tests.operators import Operator, add_user, api_token, operators

pytestmark = pytest.mark.asterisk

DOCTOR = "Петрова Анна Викторовна"


def carrier_phone(patient: CarrierPatient, rng: random.Random) -> str:
    """A number on the sandbox's carrier for this far end, different every run (the service's attempts are
    per number)."""
    return patient.number(rng.randrange(1000 if patient.then else 10000))


async def post(svc: Service, token: str, path: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.post(f"{svc.base}{path}", json=body) as r,
    ):
        return r.status, await r.json()


async def get(svc: Service, token: str, path: str) -> Any:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(f"{svc.base}{path}") as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()


def recall_row(n: int, phone: str, today: date, comment: str, **extra: Any) -> dict[str, Any]:
    return {
        "recall_id": f"K-{n}",
        "clinic": "c1",
        "patient_name": f"Пациент {n}",
        "phone": phone,
        "doctor": DOCTOR,
        "comment": comment,
        "target_date": today.isoformat(),
        **extra,
    }


Form = Callable[[dict[str, Any]], dict[str, Any]]


async def work_cards(person: Operator, form: Form, done: dict[str, dict[str, Any]], kinds: set[str]) -> None:
    """The administrator's day: every call of these kinds that reaches wrap-up gets the form planned for it,
    saved through the wrap-up API."""
    while True:
        card = await person.card(
            lambda c: c["state"] == "wrapup" and c["kind"] in kinds and c["call"] not in done,
            120,
            "to wrap up",
        )
        status, reply = await person.wrap_up(card["wrapup_id"], form(card))
        assert status == 200, reply
        done[card["call"]] = {**card, "operator": person.username}


async def test_kos_calls_are_paced_by_free_administrators_bridged_with_the_card_and_their_results_written_back(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    today = clinic.today
    rng = random.Random()
    # People who answer (the carrier's «Алло?», «Да, слушаю» and a wait: they press nothing on a KOS call),
    # a busy line and a phone that rings until the clinic gives up.
    person = CarrierPatient(FarEnd.PERSON)
    booked, thinking, refusing = (carrier_phone(person, rng) for _ in range(3))
    busy = carrier_phone(CarrierPatient(FarEnd.BUSY), rng)
    silent = carrier_phone(CarrierPatient(FarEnd.RINGS_OUT), rng)
    unplanned = carrier_phone(person, rng)
    comments = {
        booked: "Контроль пломбы 36 через полгода",
        thinking: "Продолжить лечение: 46 под коронку",
        refusing: "Проверить имплант 24",
    }
    async with (
        webhook_receiver(fail_first=2) as receiver,
        running_service(
            sandbox, tmp_path, clinic, extra=kos_config(receiver.port), database_url=database_url
        ) as svc,
    ):
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
        add_user(svc, "olga", "operator", "Ольга Белова", "Local/admin2@sandbox-agents")
        token = api_token(svc)
        await svc.admins(admin1="answer", admin2="answer")
        await svc.set_global("SIM_TALK_admin1", "3")
        await svc.set_global("SIM_TALK_admin2", "3")
        visit = (today + timedelta(days=5)).isoformat()
        forms = {
            booked: {
                "result": "booked",
                "visit_date": visit,
                "visit_time": "10:30",
                "comment": "придёт с мужем",
            },
            thinking: {
                "result": "call_again",
                "reason": "хочет подумать",
                "call_again_date": (today + timedelta(days=3)).isoformat(),
                "comment": "посоветуется с семьёй",
            },
            refusing: {"result": "refused", "reason": "дорого", "comment": "лечится в другой клинике"},
        }
        done: dict[str, dict[str, Any]] = {}
        async with operators(svc, "anna", "olga") as people:
            rows = [
                recall_row(1, booked, today, comments[booked]),
                recall_row(2, thinking, today, comments[thinking]),
                recall_row(3, refusing, today, comments[refusing]),
                recall_row(4, busy, today, "Контроль"),
                recall_row(5, silent, today, "Контроль"),
                recall_row(6, unplanned, today, "Не в плане", planned="нет"),
                recall_row(7, "8 (916) АБВ-45-67", today, "Плохой номер"),
            ]
            status, reply = await post(svc, token, "/api/kos", rows)
            # The bad row is named; the good ones went in.
            assert status == 400 and reply["imported"] == 6, reply
            assert [(e["row"], e["field"]) for e in reply["errors"]] == [(7, "phone")]
            workers = [
                asyncio.create_task(work_cards(p, lambda c: forms[c["phone"]], done, {"kos"}))
                for p in people.values()
            ]
            try:
                await svc.until(lambda: len(done) == 3, 120, "three KOS calls wrapped up")

                def settled() -> bool:
                    recalls = {r["phone"]: r for r in svc.home.query("select * from recalls")}
                    return all(recalls[p]["moves"] == 1 for p in (busy, silent))

                await svc.until(settled, 90, "the unreached patients moved a week")
            finally:
                for task in workers:
                    task.cancel()
        events = list(svc.ami.events)

        # Statuses, in the journal's words, through the API the clinic's system reads.
        journal = {r["recall_id"]: r for r in (await get(svc, token, "/api/kos"))["recalls"]}
        assert journal["K-1"]["status_label"] == "Записан" and journal["K-1"]["booked_date"] == visit
        assert (journal["K-2"]["status_label"], journal["K-2"]["reason"]) == ("Звать", "хочет подумать")
        assert journal["K-2"]["target_date"] == (today + timedelta(days=3)).isoformat()
        assert (journal["K-3"]["status_label"], journal["K-3"]["reason"]) == ("Отказ", "дорого")
        for moved in ("K-4", "K-5"):
            assert journal[moved]["status_label"] == "Звать" and journal[moved]["moves"] == 1
            assert journal[moved]["reason"] == "не берёт трубку"
            assert journal[moved]["target_date"] == (today + timedelta(days=7)).isoformat()
        assert journal["K-6"]["moves"] == 0 and journal["K-6"]["status_label"] == "Звать"
        called = {r["phone"] for r in svc.home.query("select phone from attempts")}
        assert unplanned not in called and {busy, silent} <= called
        tries = svc.home.query("select phone, count(*) n from attempts group by phone")
        assert {r["phone"]: r["n"] for r in tries if r["phone"] in (busy, silent)} == {busy: 2, silent: 2}

        # Each answered patient reached the administrator Asterisk connected, with the doctor's comment shown.
        attempts = {
            r["attempt_id"]: r["phone"] for r in svc.home.query("select attempt_id, phone from attempts")
        }
        pacing = replay_pacing(events, QUEUE, 1.0, (booked, thinking, refusing, busy, silent), attempts)
        interfaces = {"anna": "Local/admin1@sandbox-agents", "olga": "Local/admin2@sandbox-agents"}
        for call, card in done.items():
            assert pacing.connected[call] == interfaces[card["operator"]], (call, pacing.connected)
            assert card["card"]["recall"]["comment"] == comments[card["phone"]]
            assert card["card"]["recall"]["doctor"] == DOCTOR
        # The administrators' phones were offered the patient's number and «КОС», not the clinic's own number.
        offered = {
            e["Uniqueid"]: (e.get("CallerIDNum"), e.get("CallerIDName"))
            for _, e in events
            if e.get("Event") == "AgentCalled" and e.get("Uniqueid") in done
        }
        assert offered == {call: (card["phone"].lstrip("+"), "КОС") for call, card in done.items()}
        # Progressive pacing: never more patients waiting than free administrators × 1.0.
        assert pacing.violations == []
        assert 1 <= pacing.most_waiting <= 2 and pacing.most_in_air <= 2

        # The contacts («обращения»): «Мы звоним» with the КОС mark; «Звать» did not also go to the diary.
        contacts = svc.home.query(
            "select phone, direction, flags, result, reason from contacts order by phone"
        )
        assert {(c["phone"], c["result"]) for c in contacts} == {
            (booked, "booked"),
            (thinking, "call_again"),
            (refusing, "refused"),
        }
        assert all(c["direction"] == "out" and c["flags"] == "Мы звоним,КОС" for c in contacts)
        assert svc.home.query("select * from diary") == []

        # The webhook: every status change delivered once, though the receiver failed the first two tries.
        await svc.until(lambda: len({r["key"] for r in receiver.accepted()}) == 5, 60, "five webhook events")
        # Once the outbox has every event marked delivered, nothing is left to send again.
        await svc.until(
            lambda: not svc.home.query("select 1 from webhook_outbox where delivered_at is null"),
            30,
            "every webhook event marked delivered",
        )
        keys = [r["key"] for r in receiver.accepted()]
        assert len(keys) == len(set(keys)) == 5
        assert [r["status"] for r in receiver.requests[:2]] == [500, 500]
        assert {r["body"]["data"]["recall_id"] for r in receiver.accepted()} == {
            "K-1",
            "K-2",
            "K-3",
            "K-4",
            "K-5",
        }
        assert all(
            r["body"]["event"] == "kos.status" and r["body"]["id"] == r["key"] for r in receiver.accepted()
        )
        assert not any("Пациент" in str(r["body"]) for r in receiver.requests)  # no names leave the dialer


async def test_remind_later_goes_to_the_diary_and_the_waiting_list_and_a_cancelled_slot_is_offered(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    today = clinic.today
    tomorrow = today + timedelta(days=1)
    rng = random.Random()
    waiting = carrier_phone(CarrierPatient(FarEnd.PERSON), rng)
    # Never needs to answer here: their visit is cancelled from the clinic's side.
    cancelling = carrier_phone(CarrierPatient(FarEnd.BUSY), rng)
    surgeon = "Сидоров Олег Игоревич"
    async with (
        webhook_receiver(fail_first=0) as receiver,
        running_service(
            sandbox, tmp_path, clinic, extra=kos_config(receiver.port), database_url=database_url
        ) as svc,
    ):
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
        token = api_token(svc)
        await svc.admins(admin1="answer")
        await svc.set_global("SIM_TALK_admin1", "2")

        def form(card: dict[str, Any]) -> dict[str, Any]:
            if (
                card["kind"] == "kos"
            ):  # «перезвоните позже»: the diary today, the waiting list for the surgeon
                return {
                    "result": "call_again",
                    "reason": "просил перезвонить",
                    "call_again_date": (today + timedelta(days=14)).isoformat(),
                    "diary_date": today.isoformat(),
                    "diary_comment": "напомнить про снимок",
                    "waiting_doctor": surgeon,
                    "waiting_date": tomorrow.isoformat(),
                    "waiting_comment": "хочет пораньше",
                }
            if card["kind"] == "diary":
                return {"result": "no_result", "reason": "другое", "comment": "снимок принесёт"}
            return {"result": "booked", "visit_date": tomorrow.isoformat(), "visit_time": "12:00"}

        done: dict[str, dict[str, Any]] = {}
        async with operators(svc, "anna") as people:
            worker = asyncio.create_task(work_cards(people["anna"], form, done, {"kos", "diary", "offer"}))
            try:
                status, reply = await post(
                    svc, token, "/api/kos", [recall_row(1, waiting, today, "Контроль")]
                )
                assert status == 200, reply
                await svc.until(
                    lambda: {c["kind"] for c in done.values()} == {"kos", "diary"}, 90, "KOS, diary"
                )
                # The diary call came back today, marked ЕЖ.; the patient waits for the surgeon tomorrow.
                (entry,) = svc.home.query("select * from waiting_list")
                assert (entry["phone"], entry["doctor"], entry["wanted_day"]) == (
                    waiting,
                    surgeon,
                    str(tomorrow),
                )
                assert {r["state"] for r in svc.home.query("select state from diary")} == {"done"}

                # Another patient's visit to the surgeon tomorrow is cancelled from the clinic's side.
                visit = {
                    "appointment_id": "V-77",
                    "clinic": "c1",
                    "patient_name": "Отменяющий Пациент",
                    "phone": cancelling,
                    "visit_date": tomorrow.isoformat(),
                    "visit_time": "12:00",
                    "doctor": surgeon,
                }
                assert (await post(svc, token, "/api/appointments", [visit]))[0] == 200
                status, reply = await post(
                    svc, token, "/api/appointments/cancel", {"clinic": "c1", "appointment_id": "V-77"}
                )
                assert status == 200, reply
                # The waiting patient gets the SMS first, then the call; the administrator books them.
                await svc.until(lambda: "offer" in {c["kind"] for c in done.values()}, 60, "the offer call")
            finally:
                worker.cancel()
        (offer_sms,) = [m for m in svc.twilio.messages if m.to == waiting]
        assert "освободилось время" in offer_sms.body and "12:00" in offer_sms.body
        offer_call = next(c for c in done.values() if c["kind"] == "offer")
        offer_started = datetime.fromisoformat(offer_call["started_at"])
        # The fake gateway stamps its messages with the host's clock; the service runs on the clinic's.
        sms_created = offer_sms.date_created + clinic.offset
        assert offer_started > sms_created + timedelta(seconds=3)  # after the reply window
        (offer,) = svc.home.query("select * from offers")
        assert (offer["state"], offer["appointment_id"]) == ("booked", "V-77")
        assert svc.home.query("select state from waiting_list")[0]["state"] == "booked"
        marks = {r["result"]: r["flags"] for r in svc.home.query("select result, flags from contacts")}
        assert marks == {"call_again": "Мы звоним,КОС", "no_result": "Мы звоним,ЕЖ.", "booked": "Мы звоним"}


async def test_the_follow_up_and_survey_ivrs_turn_answers_into_work(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    clinic = ClinicTime.morning()
    yesterday = clinic.today - timedelta(days=1)
    rng = random.Random()
    # Patients on their own clock, on the carrier: presses 2 at +3 s (follow-up: «talk to us»; survey: a low
    # rating); presses 3 during the menu (not a follow-up answer; a 3); presses 1 a second after answering and
    # hangs up at once; presses "45" in one go.
    early = FarEnd.EARLY_PRESSER
    wants_talk = carrier_phone(CarrierPatient(early, key="2", press_at=3), rng)
    rates_three = carrier_phone(CarrierPatient(early, key="3", voice=1, press_at=6), rng)
    early_one = carrier_phone(CarrierPatient(early, key="1", voice=2, press_at=1, gone_at_once=True), rng)
    quick_pair = carrier_phone(CarrierPatient(early, key="4", press_at=1, then="5"), rng)
    ivr = """
[campaigns.followup]
days_after = 1
windows = [{ start = "08:00", end = "21:00", attempts = 1 }]

[campaigns.survey]
days_after = 1
low_rating = 2
windows = [{ start = "08:00", end = "21:00", attempts = 1 }]
"""
    async with (
        webhook_receiver(fail_first=0) as receiver,
        running_service(
            sandbox, tmp_path, clinic, extra=kos_config(receiver.port) + ivr, database_url=database_url
        ) as svc,
    ):
        token = api_token(svc)
        visits = [
            {
                "appointment_id": f"V-{n}",
                "clinic": "c1",
                "patient_name": f"Пациент {n}",
                "phone": phone,
                "visit_date": yesterday.isoformat(),
                "visit_time": "10:00",
                "doctor": DOCTOR,
            }
            for n, phone in enumerate((wants_talk, rates_three, early_one, quick_pair))
        ]
        assert (await post(svc, token, "/api/appointments", visits))[0] == 200
        await svc.until(lambda: len(svc.home.query("select * from feedback")) == 6, 90, "six IVR answers")
        await svc.until(
            lambda: not svc.home.query("select * from attempts where state in ('dialing', 'answered')"),
            30,
            "calls end",
        )
        answers = {
            (r["appointment_id"], r["kind"]): r["digit"] for r in svc.home.query("select * from feedback")
        }
        assert answers == {
            ("V-0", "followup"): "2",
            ("V-0", "survey"): "2",
            ("V-1", "survey"): "3",
            # Pressed during the greeting: the answer counts, though the patient hung up at once.
            ("V-2", "followup"): "1",
            ("V-2", "survey"): "1",
            # "45": 4 is taken. A 4 is not a follow-up answer, so that call records nothing.
            ("V-3", "survey"): "4",
        }
        # Each patient was called once per campaign: an answer during the greeting is not redialled.
        targets = svc.home.query("select target_id from targets where campaign in ('followup', 'survey')")
        placed = svc.home.query(
            "select a.target_id from attempts a join targets t on t.target_id = a.target_id "
            "where t.campaign in ('followup', 'survey') and a.state != 'unplaced'"
        )
        assert sorted(r["target_id"] for r in placed) == sorted(r["target_id"] for r in targets)
        ignored = svc.home.query("select digit, detail from attempt_events where kind = 'digit_ignored'")
        assert sorted((r["digit"], r["detail"]) for r in ignored) == [("5", "taken 4"), ("5", "taken 4")]
        # «2 — поговорить с нами» became a diary call for today; the ratings of 2 and 1 alerted the senior
        # administrator.
        (entry,) = svc.home.query("select * from diary")
        assert entry["phone"] == wants_talk and "самочувствия" in entry["comment"]
        alerts = svc.home.query("select * from alerts where kind = 'low_rating'")
        assert sorted(a["detail"][a["detail"].index("оценка") :][:13] for a in alerts) == [
            "оценка 1 из 5",
            "оценка 2 из 5",
        ]
        await svc.until(
            lambda: sum(m.to == "+79169990011" for m in svc.twilio.messages) == 2, 20, "the alert SMS"
        )
        for sms in [m for m in svc.twilio.messages if m.to == "+79169990011"]:
            assert "низкая оценка" in sms.body and "Пациент" not in sms.body


async def test_a_kos_patient_who_answers_while_no_administrator_takes_the_call_is_moved_without_counting(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """The administrator's phone is free, so the patient is dialled, but she never takes the call: the patient
    picks up on the carrier, waits in the queue, hears the apology and is let go, on both of the round's calls.
    That round ends as the clinic's want of hands, not «не берёт трубку»: the date moves by the gap, the count
    of moves toward Отказ «не дозвонились» stays, and the clinic's system is told once."""
    clinic = ClinicTime.morning()
    phone = carrier_phone(CarrierPatient(FarEnd.PERSON), random.Random())
    async with (
        webhook_receiver(fail_first=0) as receiver,
        running_service(
            sandbox, tmp_path, clinic, extra=kos_config(receiver.port, wait="3s"), database_url=database_url
        ) as svc,
    ):
        add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
        token = api_token(svc)
        await svc.admins(admin1="ring")
        status, reply = await post(svc, token, "/api/kos", [recall_row(1, phone, clinic.today, "Контроль")])
        assert status == 200, reply
        await svc.until(
            lambda: svc.home.query("select 1 from recalls where reason != ''"), 120, "the round's end"
        )
        await svc.until(receiver.accepted, 30, "the webhook")
        journal = {r["recall_id"]: r for r in (await get(svc, token, "/api/kos"))["recalls"]}
        attempts = {r["attempt_id"] for r in svc.home.query("select attempt_id from attempts")}
        events = [e for _, e in svc.ami.events]

    # Asterisk's own account: both calls reached the queue and were let go unanswered by an administrator.
    dropped = {
        e["AttemptId"] for e in events if e.get("Event") == "UserEvent" and e.get("DialStatus") == "DROPPED"
    }
    assert len(attempts) == 2 and dropped == attempts
    assert not [e for e in events if e.get("Event") == "AgentConnect" and e.get("Linkedid") in attempts]
    recall = journal["K-1"]
    assert (recall["status_label"], recall["reason"], recall["moves"]) == ("Звать", NOBODY_FREE_REASON, 0)
    assert recall["target_date"] == (clinic.today + timedelta(days=7)).isoformat()
    assert [(r["body"]["data"]["recall_id"], r["body"]["data"]["status"]) for r in receiver.accepted()] == [
        ("K-1", "call")
    ]


async def test_a_kos_patient_left_waiting_in_the_queue_is_no_inbound_call_after_the_link_comes_back(
    sandbox: SandboxHandle, tmp_path: Path, database_url: str
) -> None:
    """Asterisk's queue_log holds the КОС patient's wait like any caller's; the service reads that log back at a
    link-up for the calls it did not see. The dropped patient is the dialer's own call: no inbound call, no
    callback to them or to the clinic's own number."""
    clinic = ClinicTime.morning()
    phone = carrier_phone(CarrierPatient(FarEnd.PERSON), random.Random())
    proxy = await AmiProxy(sandbox.host, sandbox.port).start()
    try:
        async with (
            webhook_receiver(fail_first=0) as receiver,
            running_service(
                sandbox,
                tmp_path,
                clinic,
                extra=kos_config(receiver.port, wait="3s"),
                ami_proxy_port=proxy.port,
                queue_log=True,
                database_url=database_url,
            ) as svc,
        ):
            add_user(svc, "anna", "operator", "Анна Кузнецова", "Local/admin1@sandbox-agents")
            token = api_token(svc)
            await svc.admins(admin1="ring")  # free, so the patient is dialled; she never picks up
            status, reply = await post(
                svc, token, "/api/kos", [recall_row(1, phone, clinic.today, "Контроль")]
            )
            assert status == 200, reply
            dropped = await svc.ami.wait_for(
                lambda f: f.get("Event") == "UserEvent" and f.get("DialStatus") == "DROPPED", 90
            )
            await svc.admins()  # nobody on shift: no second call while the link is cut
            joined = [
                e
                for _, e in svc.ami.events
                if e.get("Event") == "QueueCallerJoin" and e.get("Linkedid") == dropped["AttemptId"]
            ]
            assert joined, "the patient never waited in the queue"

            connections = proxy.connections
            proxy.cut(refuse_for=120)
            await asyncio.sleep(2)
            proxy.reopen()
            await svc.until(lambda: proxy.connections > connections, 30, "the link back")
            await svc.until(
                lambda: svc.home.query("select 1 from ami_gaps where ended_at is not null"),
                30,
                "the link-up closing its gap",
            )
            await asyncio.sleep(3)  # queue_log is read right after the gap closes
            assert svc.calls() == [] and svc.tasks() == []
    finally:
        await proxy.stop()
