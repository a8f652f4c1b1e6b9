"""КОС recalls dialled progressively: a patient is dialled only for a free administrator (never more patients in the
air than free administrators × ratio), the answered patient is connected through the queue, and the next patient
is dialled when the administrator's call ends. The rounds and their results follow the customer's KOS policy."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.campaigns.kos import NOBODY_FREE_REASON
from dialer.core.outcomes import CallResult
from dialer.core.ports import OriginateRequest
from dialer.core.queues import INUSE, NOT_INUSE
from dialer.core.recalls import RecallRecord, RecallStatus
from dialer.core.records import WrapupRow, WrapupState
from dialer.core.staff import Role, UserRow
from dialer.core.wrapup import WrapupForm
from tests.fakes.pbx import NO_ANSWER, Patient
from tests.fakes.rig import CLINIC, Rig, build, clinic_settings, running

MSK = ZoneInfo("Europe/Moscow")
DAY = date(2026, 12, 2)  # a Wednesday
ANNA, BORIS = "PJSIP/101", "PJSIP/102"
PICKS_UP = Patient(answers=True, answer_after=7, talk=60)


def local(hh: int, mm: int = 0, ss: float = 0) -> datetime:
    return datetime.combine(DAY, time(hh, mm), MSK) + timedelta(seconds=ss)


def phone(n: int) -> str:
    return f"+7916000000{n}"


@pytest.fixture(autouse=True)
def no_errors(caplog: pytest.LogCaptureFixture) -> object:
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def recall(n: int) -> RecallRecord:
    return RecallRecord(
        recall_id=n,
        clinic_id=CLINIC,
        external_id=f"K-{n}",
        patient_id=f"P-{n}",
        patient_name=f"Пациент {n}",
        phone=phone(n),
        doctor="Петров Пётр Петрович",
        comment="контроль через месяц",
        target_day=DAY,
        status=RecallStatus.CALL,
        reason="",
        status_comment="",
        moves=0,
        booked_day=None,
        planned=True,
    )


class Watch:
    """At every Originate: how many of our patients were already in the air, and how many administrators free."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.seen: list[tuple[datetime, int, int]] = []
        rig.asterisk.before_send.append(self)

    def __call__(self, request: OriginateRequest) -> None:
        sent = {o.request.attempt_id for o in self.rig.asterisk.originates}
        in_air = sum(1 for a in sent if self.rig.attempts.rows[a].result is None)
        free = sum(1 for a in self.rig.asterisk.admins.values() if a.status == NOT_INUSE)
        self.seen.append((self.rig.clock.now(), in_air, free))


def kos_rig(recalls: int, ratio: float = 1.0, pacing: str = "progressive", **admins: int) -> Rig:
    kos = {"pacing": pacing, "ratio": ratio}
    rig = build(clinic_settings(campaigns={"kos": kos}), start=local(10, 59, 59))
    for interface, status in admins.items():
        rig.asterisk.admin(
            f"PJSIP/{interface.removeprefix('a')}", f"Администратор {interface}", status=status
        )
    for n in range(1, recalls + 1):
        rig.recall_store.add(recall(n))
    return rig


async def test_patients_are_dialled_only_for_a_free_administrator_one_after_another() -> None:
    rig = kos_rig(3, a101=INUSE)
    for n in (1, 2, 3):
        rig.asterisk.patient(phone(n), PICKS_UP)
    watch = Watch(rig)
    async with running(rig, tickers=True):
        assert await rig.progressive.prepare_day() == 3
        rig.worker.wake()
        await rig.clock.run_until(local(11, 2))
        assert rig.asterisk.originates == []  # Anna is on a call of her own
        rig.asterisk.set_status(ANNA, NOT_INUSE)
        await rig.clock.run_until(local(11, 10))

    calls = rig.asterisk.originates
    # Each patient answers in 7 s, Anna picks up in 3 s and talks 60 s: the next patient is dialled the moment
    # her phone is free again.
    assert [c.at for c in calls] == [local(11, 2), local(11, 3, 10), local(11, 4, 20)]
    assert [c.request.attempt_id for c in calls] == ["kos:1:1", "kos:2:1", "kos:3:1"]
    assert {c.request.context for c in calls} == {"dialer-progressive"}
    assert calls[0].request.variables["DIALER_QUEUE"] == "reception"
    assert calls[0].request.variables["DIALER_WAIT"] == "4"
    assert [(in_air, free) for _, in_air, free in watch.seen] == [(0, 1)] * 3
    for n in (1, 2, 3):
        (row,) = rig.attempts.of_target(n)
        assert (row.result, row.leg_status) == (CallResult.ANSWERED, "CONNECTED")
    assert rig.progressive.drop_rate(CLINIC) == 0.0
    # Connected calls close their rounds: the administrator's wrap-up decides the recall's status.
    assert [r.stop_reason for r in rig.recall_store.rounds.values()] == ["contacted"] * 3
    assert {r.status for r in rig.recall_store.recalls.values()} == {RecallStatus.CALL}


@pytest.mark.parametrize(("ratio", "admins", "in_air"), [(1.0, 2, 2), (1.5, 2, 3), (2.0, 1, 2)])
async def test_never_more_patients_in_the_air_than_free_administrators_times_the_ratio(
    ratio: float, admins: int, in_air: int
) -> None:
    rig = kos_rig(6, ratio, "progressive", **{f"a10{i}": NOT_INUSE for i in range(1, admins + 1)})
    for n in range(1, 7):
        rig.asterisk.patient(phone(n), NO_ANSWER)  # each rings its 30 s, keeping its place in the air
    watch = Watch(rig)
    async with running(rig, tickers=True):
        assert await rig.progressive.prepare_day() == 6
        rig.worker.wake()
        await rig.clock.run_until(local(11, 0, 29))
        assert len(rig.asterisk.originates) == in_air
        await rig.clock.run_until(local(11, 2))

    assert max(before for _, before, _ in watch.seen) + 1 == in_air
    assert all(before < int(free * ratio) for _, before, free in watch.seen)
    # The trunk's pace (2 calls a second) spaces the first wave; the rest go as the first ring out.
    first = [c.at for c in rig.asterisk.originates[:in_air]]
    assert first == [local(11, 0, 0.5 * i) for i in range(in_air)]
    assert len(rig.asterisk.originates) == 6


async def test_predictive_pacing_dials_ahead_once_the_clinics_calls_show_few_answers() -> None:
    rig = kos_rig(12, pacing="predictive", a101=NOT_INUSE)
    for n in range(1, 13):
        rig.asterisk.patient(phone(n), NO_ANSWER)
    watch = Watch(rig)
    async with running(rig, tickers=True):
        assert await rig.progressive.prepare_day() == 12
        rig.worker.wake()
        await rig.clock.run_until(local(11, 10))

    in_air = [before for _, before, _ in watch.seen]
    assert len(in_air) == 12
    # Until seven calls have rung out, every patient is taken to answer: one call for the one free administrator.
    assert in_air[:7] == [0] * 7
    # Then a call promises less than half an answer, and two ring at once for her.
    assert max(in_air[7:]) == 1
    assert all(free == 1 for _, _, free in watch.seen)


async def test_no_patient_is_dialled_while_a_missed_call_callback_waits_for_the_administrator() -> None:
    rig = kos_rig(1, a101=INUSE)
    rig.asterisk.patient(phone(1), PICKS_UP)
    async with running(rig, tickers=True):
        rig.asterisk.call_in("79161234567", "100", gives_up_after=20)  # a missed call: a callback task
        await rig.clock.run_until(local(11, 1))
        assert rig.dispatcher.waiting == 1
        assert await rig.progressive.prepare_day() == 1
        rig.worker.wake()
        await rig.clock.run_until(local(11, 3))
        rig.asterisk.set_status(ANNA, NOT_INUSE)
        await rig.clock.run_until(local(11, 10))

    calls = [(c.at, c.request.attempt_id) for c in rig.asterisk.originates]
    # Anna is free at 11:03: the callback takes her; the KOS patient waits until her callback call is over.
    assert calls[0] == (local(11, 3), "callback:1:1")
    assert calls[1][1] == "kos:2:1"
    assert calls[1][0] > local(11, 3, 30)


async def test_a_patient_not_reached_in_three_calls_is_moved_a_week_and_a_wrapped_up_one_is_booked() -> None:
    rig = kos_rig(2, a101=NOT_INUSE)
    rig.asterisk.patient(phone(1), PICKS_UP)
    rig.asterisk.patient(phone(2), NO_ANSWER)
    async with running(rig):
        assert await rig.progressive.prepare_day() == 2
        rig.worker.wake()
        await rig.clock.run_until(local(11, 5))
        # Anna saves her wrap-up of the connected call: booked for the 9th.
        row = WrapupRow(
            1,
            CLINIC,
            7,
            "kos:1:1",
            phone(1),
            "out",
            "kos",
            local(11),
            local(11),
            local(11, 1),
            WrapupState.PENDING,
        )
        form = WrapupForm(
            result="booked", reason="", comment="записан на контроль", visit_day=date(2026, 12, 9)
        )
        user = UserRow(7, "anna", "Анна", Role.OPERATOR, "", (ANNA,), frozenset({CLINIC}), False)
        await rig.progressive.wrapped_up(row, form, user)
        await rig.clock.run_until(local(19, 30))

    booked = rig.recall_store.recalls[1]
    assert (booked.status, booked.booked_day, booked.status_comment) == (
        RecallStatus.BOOKED,
        date(2026, 12, 9),
        "записан на контроль",
    )
    # Anna's call with the first patient took 70 s; then three calls to the second in the 10:00-19:00 window, two
    # hours apart, and the date moves a week.
    assert [(c.at, c.request.attempt_id) for c in rig.asterisk.originates] == [
        (local(11), "kos:1:1"),
        (local(11, 1, 10), "kos:2:1"),
        (local(13, 1, 10), "kos:2:2"),
        (local(15, 1, 10), "kos:2:3"),
    ]
    moved = rig.recall_store.recalls[2]
    assert (moved.status, moved.target_day, moved.moves, moved.reason) == (
        RecallStatus.CALL,
        DAY + timedelta(days=7),
        1,
        "не берёт трубку",
    )
    assert [(e["recall_id"], e["status"]) for e in rig.recall_store.webhook] == [
        ("K-1", "booked"),
        ("K-2", "call"),
    ]


async def test_a_patient_never_called_because_nobody_was_free_is_not_counted_unreached_and_is_called_next_day(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "dialer.kos")
    rig = kos_rig(1, a101=INUSE)  # Anna talks all day long, two days running
    rig.asterisk.patient(phone(1), PICKS_UP)
    async with running(rig):
        for day in range(2):
            if day:
                await rig.clock.run_until(local(10, 0) + timedelta(days=day))
            assert await rig.progressive.prepare_day() == 1
            rig.worker.wake()
            await rig.clock.run_until(local(19, 30) + timedelta(days=day))
            for _ in range(3):  # the sweeps after the window
                await rig.progressive.prepare_day()
            assert rig.asterisk.originates == []
            waiting = rig.recall_store.recalls[1]
            # Not a round «не дозвонились»: no move, no count, nothing sent to the clinic's system.
            assert (waiting.status, waiting.target_day, waiting.moves) == (RecallStatus.CALL, DAY, 0)
            assert rig.recall_store.webhook == []
            # Said once a day, however many sweeps come back to it.
            assert sum("not called today" in r.getMessage() for r in caplog.records) == day + 1
        rig.asterisk.set_status(ANNA, NOT_INUSE)
        await rig.clock.run_until(local(10, 0) + timedelta(days=2))
        assert await rig.progressive.prepare_day() == 1
        rig.worker.wake()
        await rig.clock.run_until(local(10, 5) + timedelta(days=2))

    assert [(c.at, c.request.attempt_id) for c in rig.asterisk.originates] == [
        (local(10, 0) + timedelta(days=2), "kos:1:1")
    ]


async def test_a_patient_who_answered_while_nobody_was_free_is_moved_a_week_without_counting_toward_a_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Anna's phone is free whenever a patient is dialled, but she never takes the call: every patient who
    # answers waits the 4 s, hears the apology and is let go. The patient did pick up; «не берёт трубку»
    # would be untrue, and three such rounds would end in Отказ «не дозвонились» for the clinic's want of hands.
    caplog.set_level(logging.INFO, "dialer.kos")
    rig = build(clinic_settings(campaigns={"kos": {"pacing": "progressive"}}), start=local(10, 59, 59))
    rig.asterisk.admin(ANNA, "Администратор 101", status=NOT_INUSE, picks_up_after=None)
    rig.recall_store.add(recall(1))
    rig.asterisk.patient(phone(1), PICKS_UP)
    async with running(rig):
        assert await rig.progressive.prepare_day() == 1
        rig.worker.wake()
        await rig.clock.run_until(local(19, 30))
        await rig.progressive.prepare_day()  # the sweep after the window ends the round

    rows = rig.attempts.of_target(1)
    assert rows and {(r.result, r.leg_status) for r in rows} == {(CallResult.ANSWERED, "DROPPED")}
    moved = rig.recall_store.recalls[1]
    assert (moved.status, moved.target_day, moved.moves, moved.reason) == (
        RecallStatus.CALL,
        DAY + timedelta(days=7),
        0,
        NOBODY_FREE_REASON,
    )
    assert [(e["recall_id"], e["status"]) for e in rig.recall_store.webhook] == [("K-1", "call")]
    assert sum("no administrator was free" in r.getMessage() for r in caplog.records) == 1
