"""Missed calls become callbacks with a 15-minute deadline: two attempts at least 3 minutes apart, then an SMS.

A patient calls the clinic, waits in the queue while every administrator is on a call, and hangs up: the real
inbound tracker and InboundDesk turn that into a callback task. The callback rings a free administrator first
(agent_first), or dials the patient first when the clinic allows it and nobody is free (auto).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.core.inbound import InboundAnswered, MissReason
from dialer.core.outcomes import CallResult
from dialer.core.ports import SmsError
from dialer.core.queues import INUSE, NOT_INUSE
from dialer.core.records import CallbackTask, CloseReason, DueTask, InboundCallRow, InboundSource, TaskState
from dialer.core.sla import TaskStat, figures
from dialer.engine.board import risk
from tests.fakes.pbx import ANSWERS, NO_ANSWER
from tests.fakes.rig import CLINIC, Rig, build, clinic_settings, running

MSK = ZoneInfo("Europe/Moscow")
DAY = date(2026, 12, 2)  # a Wednesday
PHONE = "+79161234567"
ANNA, BORIS = "PJSIP/101", "PJSIP/102"


def local(hh: int, mm: int = 0, ss: float = 0) -> datetime:
    return datetime.combine(DAY, time(hh, mm), MSK) + timedelta(seconds=ss)


MISSED_AT = local(12, 0, 43)  # the caller joined the queue at 12:00:03 and gave up 40 s later
DEADLINE = MISSED_AT + timedelta(minutes=15)


@pytest.fixture(autouse=True)
def no_errors(caplog: pytest.LogCaptureFixture) -> object:
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


NOON = local(11, 59, 59)  # the rig's start: the link comes up at 12:00


def clinic(mode: str = "agent_first", *busy: str, start: datetime = NOON) -> Rig:
    rig = build(clinic_settings(hours=["пн-пт 08:00-20:00"], callback_mode=mode), start=start)
    for interface, name in ((ANNA, "Анна"), (BORIS, "Борис")):
        rig.asterisk.admin(interface, name, status=INUSE if interface in busy else NOT_INUSE)
    return rig


async def missed_call(rig: Rig) -> CallbackTask:
    """The patient calls at 12:00 and gives up after 40 s in the queue; the call becomes a callback task."""
    assert rig.clock.now() == local(12)  # the rig started at 11:59:59 and brought the link up in a second
    rig.asterisk.call_in(PHONE.lstrip("+"), "100", gives_up_after=40)
    await rig.clock.run_until(MISSED_AT + timedelta(milliseconds=1))
    (task,) = rig.callback_store.tasks.values()
    return task


def stat(task: CallbackTask) -> TaskStat:
    return TaskStat(task.starts_at, task.deadline_at, task.first_attempt_at, task.contacted_at)


async def test_a_missed_call_is_called_back_twice_through_a_free_administrator_then_texted() -> None:
    rig = clinic("agent_first", ANNA, BORIS)
    rig.asterisk.patient(PHONE, NO_ANSWER)
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        assert (task.phone, task.reason, task.missed_count) == (PHONE, MissReason.ABANDONED.value, 1)
        assert (task.starts_at, task.deadline_at) == (MISSED_AT, DEADLINE)
        (call,) = rig.inbound_store.calls.values()
        assert (call.caller, call.miss_reason, call.task_id) == (PHONE, "abandoned", task.task_id)

        await rig.clock.run_until(local(12, 5))
        assert rig.asterisk.originates == []  # both administrators are still talking
        assert rig.dispatcher.waiting == 1
        rig.asterisk.set_status(ANNA, NOT_INUSE)  # Anna hangs up: her phone is free
        await rig.clock.run_until(local(12, 30))

    t = task.target_id
    assert t is not None
    calls = rig.asterisk.originates
    assert [(c.at, c.request.attempt_id, c.request.channel) for c in calls] == [
        (local(12, 5), f"callback:{t}:1", ANNA),
        (local(12, 8), f"callback:{t}:2", ANNA),  # three minutes after the first attempt began
    ]
    assert {c.request.context for c in calls} == {"dialer-callback"}
    assert calls[0].request.variables["DIALER_PATIENT_DIAL"] == "Local/79161234567@patients"
    rows = rig.attempts.of_target(t)
    assert [(r.result, r.leg_status) for r in rows] == [(CallResult.ANSWERED, "NOANSWER")] * 2

    (sms,) = rig.gateway.sent
    assert sms.sms.key == f"sms:callback:{t}:not_reached"
    assert sms.at == local(12, 8, 33)  # Anna picked up in 3 s, the patient's phone rang 30 s
    assert (
        sms.sms.body
        == "Клиника на Лесной: не дозвонились до вас после вашего звонка. Перезвоните: +7 495 123-45-67"
    )

    done = rig.callback_store.tasks[task.task_id]
    assert (done.state, done.close_reason) == (TaskState.NOT_REACHED.value, CloseReason.NOT_REACHED.value)
    assert done.first_attempt_at == local(12, 5)
    assert done.contacted_at is None
    day = figures([], [stat(done)], local(12, 30))
    assert (day.breaches, day.first_attempt_in_deadline_pct, day.contacted_in_deadline_pct) == (0, 100.0, 0.0)
    assert rig.intake.queues.reserved == set()
    assert rig.pacers["sim"].in_use == 0


async def test_a_callback_no_administrator_could_take_within_15_minutes_is_a_breach() -> None:
    rig = clinic("agent_first", ANNA, BORIS)
    rig.asterisk.patient(PHONE, ANSWERS)
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        await rig.clock.run_until(DEADLINE - timedelta(seconds=1))
        assert figures([], [stat(rig.callback_store.tasks[task.task_id])], rig.clock.now()).breaches == 0
        assert risk((task.deadline_at - rig.clock.now()).total_seconds()) == "amber"
        await rig.clock.run_until(DEADLINE + timedelta(seconds=1))
        waiting = rig.callback_store.tasks[task.task_id]
        assert waiting.first_attempt_at is None
        assert figures([], [stat(waiting)], rig.clock.now()).breaches == 1
        assert risk((waiting.deadline_at - rig.clock.now()).total_seconds()) == "breach"

        await rig.clock.run_until(local(12, 20))
        rig.asterisk.set_status(BORIS, NOT_INUSE)
        await rig.clock.run_until(local(12, 30))

    assert [(c.at, c.request.channel) for c in rig.asterisk.originates] == [(local(12, 20), BORIS)]
    done = rig.callback_store.tasks[task.task_id]
    assert done.first_attempt_at == local(12, 20) > done.deadline_at
    assert (done.state, done.close_reason) == (TaskState.CONTACTED.value, CloseReason.CALLBACK_ANSWERED.value)
    assert done.contacted_at == local(12, 20, 10)  # Boris picked up in 3 s, the patient in 7
    day = figures([], [stat(done)], local(12, 30))
    assert (day.breaches, day.first_attempt_in_deadline_pct, day.contacted_in_deadline_pct) == (1, 0.0, 0.0)
    assert rig.gateway.sent == []


async def test_auto_mode_dials_the_patient_first_when_nobody_is_free_and_the_answer_closes_the_task() -> None:
    rig = clinic("auto", ANNA, BORIS)
    rig.asterisk.patient(PHONE, ANSWERS)
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        await rig.clock.run_until(local(12, 30))

    t = task.target_id
    assert t is not None
    (call,) = rig.asterisk.originates
    assert (call.at, call.request.attempt_id, call.request.context) == (
        MISSED_AT,
        f"autocb:{t}:1",
        "dialer-callback-auto",
    )
    assert call.request.channel == "Local/79161234567@patients"
    done = rig.callback_store.tasks[task.task_id]
    assert (done.state, done.close_reason) == (TaskState.CONTACTED.value, CloseReason.CALLBACK_ANSWERED.value)
    assert done.first_attempt_at == MISSED_AT
    assert done.contacted_at == MISSED_AT + timedelta(seconds=7)
    assert figures([], [stat(done)], local(12, 30)).contacted_in_deadline_pct == 100.0
    assert rig.gateway.sent == []


async def test_an_administrator_who_lets_a_callback_ring_out_rests_and_it_is_no_call_to_the_patient() -> None:
    rig = clinic("agent_first")
    rig.asterisk.admins[ANNA].picks_up_after = None  # Anna is away from her desk; her phone shows free
    rig.asterisk.patient(PHONE, NO_ANSWER)
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        await rig.clock.run_until(local(12, 30))

    t = task.target_id
    assert t is not None
    calls = [(c.at, c.request.attempt_id, c.request.channel) for c in rig.asterisk.originates]
    second = MISSED_AT + timedelta(seconds=20)  # Anna's phone rang its 20 s; she rests a minute: Boris
    third = second + timedelta(minutes=3)  # the patient's second call, 3 min after the first; Anna has rested
    assert calls == [
        (MISSED_AT, f"callback:{t}:1", ANNA),
        (second, f"callback:{t}:2", BORIS),
        (third, f"callback:{t}:3", ANNA),
        (third + timedelta(seconds=20), f"callback:{t}:4", BORIS),
    ]
    rows = rig.attempts.of_target(t)
    # Only the attempts an administrator picked up dialled the patient: two calls to the patient, as the plan says.
    assert [(r.result, r.leg_status) for r in rows] == [
        (CallResult.NO_ANSWER, None),
        (CallResult.ANSWERED, "NOANSWER"),
        (CallResult.NO_ANSWER, None),
        (CallResult.ANSWERED, "NOANSWER"),
    ]
    (sms,) = rig.gateway.sent
    assert (sms.sms.key, sms.at) == (f"sms:callback:{t}:not_reached", third + timedelta(seconds=53))
    done = rig.callback_store.tasks[task.task_id]
    assert (done.state, done.first_attempt_at) == (TaskState.NOT_REACHED.value, MISSED_AT)


async def test_a_patient_who_calls_in_and_is_answered_closes_the_task_and_is_not_called_back() -> None:
    rig = clinic("agent_first", ANNA, BORIS)
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        await rig.clock.run_until(local(12, 3))
        # A second missed call from the same number counts into the open task.
        rig.asterisk.call_in(PHONE.lstrip("+"), "100", gives_up_after=10)
        await rig.clock.run_until(local(12, 4))
        assert rig.callback_store.tasks[task.task_id].missed_count == 2
        assert len(rig.callback_store.tasks) == 1
        await rig.inbound.handle(
            InboundAnswered("1795600000.77", PHONE.lstrip("+"), ANNA, 12.0, local(12, 4))
        )
        await rig.clock.run_until(local(12, 5))
        assert rig.callback_store.tasks[task.task_id].state == TaskState.CONTACTED.value
        rig.asterisk.set_status(ANNA, NOT_INUSE)  # the callback that waited for an administrator gets Anna
        await rig.clock.run_until(local(12, 30))

    done = rig.callback_store.tasks[task.task_id]
    assert (done.state, done.close_reason) == (TaskState.CONTACTED.value, CloseReason.PATIENT_CALLED_IN.value)
    assert done.contacted_at == local(12, 4)
    assert rig.asterisk.originates == []
    assert rig.gateway.sent == []
    assert rig.intake.queues.reserved == set()  # the waiting callback gave Anna back


def stored_before_a_crash(at: datetime, *, after_hours: bool = False) -> tuple[InboundCallRow, CallbackTask]:
    """A missed call and its task as a service leaves them when it stops right after storing them, before
    planning anything."""
    call = InboundCallRow(
        call_id="1795600700.5",
        clinic_id=CLINIC,
        did="100",
        queue="reception",
        caller=PHONE,
        hidden=False,
        started_at=at - timedelta(seconds=40),
        answered_at=None,
        ended_at=at,
        waited=40.0,
        answered_by="",
        miss_reason=MissReason.AFTER_HOURS if after_hours else MissReason.ABANDONED,
        source=InboundSource.LIVE,
    )
    starts = local(8) if after_hours else at  # after hours: the next morning's opening
    task = CallbackTask(
        task_id=0,
        clinic_id=call.clinic_id,
        phone=PHONE,
        state=TaskState.OPEN,
        reason=str(call.miss_reason),
        missed_count=1,
        first_call_id=call.call_id,
        first_missed_at=at,
        last_missed_at=at,
        starts_at=starts,
        deadline_at=starts + timedelta(minutes=15),
        after_hours=after_hours,
        target_id=None,
    )
    return call, task


async def test_a_task_stored_just_before_a_crash_is_called_back_once_the_service_is_back() -> None:
    rig = clinic("agent_first")
    rig.asterisk.patient(PHONE, NO_ANSWER)
    call, task = stored_before_a_crash(local(11, 58))
    taken = await rig.callback_store.record_miss(call, task, local(11, 58))
    assert taken is not None and rig.due.rows == {}
    async with running(rig, tickers=True):
        await rig.clock.run_until(local(12, 1))
        await rig.callbacks.resume()  # taking the work up again plans nothing twice
        await rig.clock.run_until(local(12, 2))
    t = taken.task.target_id
    assert [c.request.attempt_id for c in rig.asterisk.originates] == [f"callback:{t}:1"]
    assert rig.asterisk.originates[0].at < local(12, 0, 5)


async def test_an_after_hours_task_stored_just_before_a_crash_still_gets_its_one_sms() -> None:
    rig = clinic("agent_first", start=local(7, 29, 59))  # back the next morning, before the clinic opens
    rig.asterisk.patient(PHONE, NO_ANSWER)
    evening = local(21) - timedelta(days=1)
    call, task = stored_before_a_crash(evening, after_hours=True)
    taken = await rig.callback_store.record_miss(call, task, evening)
    assert taken is not None
    async with running(rig, tickers=True):
        await rig.clock.run_until(local(7, 45))
        kinds = sorted(r.task.kind.value for r in rig.due.rows.values())
        assert kinds == ["dial", "sms"]  # planned on taking up the work
        await rig.callbacks.resume()
        await rig.clock.run_until(local(8, 1))
    t = taken.task.target_id
    assert [s.sms.key for s in rig.gateway.sent] == [f"sms:callback:{t}:after_hours"]
    # The callback itself waits for the opening.
    assert [(c.at, c.request.attempt_id) for c in rig.asterisk.originates] == [(local(8), f"callback:{t}:1")]


async def test_a_patient_who_said_no_to_sms_is_called_back_twice_and_not_texted() -> None:
    rig = clinic("agent_first")
    rig.asterisk.patient(PHONE, NO_ANSWER)
    rig.callback_store.declining_sms.add((CLINIC, PHONE))  # «согласие на смс: нет» in the schedule
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        await rig.clock.run_until(local(12, 30))

    t = task.target_id
    assert [c.request.attempt_id for c in rig.asterisk.originates] == [f"callback:{t}:1", f"callback:{t}:2"]
    assert rig.gateway.sent == []
    done = rig.callback_store.tasks[task.task_id]
    assert (done.state, done.close_reason) == (TaskState.NOT_REACHED.value, CloseReason.NOT_REACHED.value)
    assert [r for r in rig.due.rows.values() if r.task.kind.value == "sms"] == []


async def test_an_after_hours_caller_who_said_no_to_sms_gets_no_sms_and_is_called_back_at_opening() -> None:
    rig = clinic("agent_first", start=local(7, 29, 59))
    rig.asterisk.patient(PHONE, NO_ANSWER)
    rig.callback_store.declining_sms.add((CLINIC, PHONE))
    evening = local(21) - timedelta(days=1)
    call, task = stored_before_a_crash(evening, after_hours=True)
    taken = await rig.callback_store.record_miss(call, task, evening)
    assert taken is not None
    async with running(rig, tickers=True):
        await rig.clock.run_until(local(8, 1))
    t = taken.task.target_id
    assert rig.gateway.sent == []
    assert [(c.at, c.request.attempt_id) for c in rig.asterisk.originates] == [(local(8), f"callback:{t}:1")]


async def test_an_sms_planned_before_the_patient_said_no_to_sms_is_not_sent() -> None:
    rig = clinic("agent_first")
    rig.asterisk.patient(PHONE, NO_ANSWER)
    rig.gateway.refuse = SmsError("503 from the gateway", retryable=True)  # the SMS waits, planned
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        await rig.clock.run_until(local(12, 10))
        (row,) = [r for r in rig.due.rows.values() if r.task.kind.value == "sms"]
        assert row.state == "pending" and row.task.tries >= 1
        rig.callback_store.declining_sms.add((CLINIC, PHONE))  # the schedule comes again with «нет»
        rig.gateway.refuse = None
        await rig.clock.run_until(local(12, 30))

    assert rig.gateway.sent == []
    assert row.state == "cancelled"
    assert len(rig.asterisk.originates) == 2
    done = rig.callback_store.tasks[task.task_id]
    assert (done.state, done.close_reason) == (TaskState.NOT_REACHED.value, CloseReason.NOT_REACHED.value)


async def test_a_callback_whose_first_planning_fails_is_planned_on_the_next_try(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = clinic("agent_first")
    rig.asterisk.patient(PHONE, NO_ANSWER)
    schedule = rig.due.schedule
    refused: list[str] = []

    async def locked_once(task: DueTask) -> None:
        if not refused:
            refused.append(task.task_id)
            raise OSError("database is locked")
        await schedule(task)

    rig.due.schedule = locked_once  # type: ignore[method-assign]
    async with running(rig, tickers=True):
        task = await missed_call(rig)
        await rig.clock.run_until(MISSED_AT + timedelta(seconds=10))
    t = task.target_id
    assert refused == [f"dial:callback:{t}:1"]
    assert [c.request.attempt_id for c in rig.asterisk.originates] == [f"callback:{t}:1"]
    assert rig.asterisk.originates[0].at <= MISSED_AT + timedelta(seconds=2)  # after the loop's 1 s pause
    (failure,) = [r.getMessage() for r in caplog.records if r.name == "dialer.loops"]
    assert failure.startswith("callbacks: a turn failed (1 in a row): OSError")
    caplog.clear()  # the one error expected here


async def test_a_database_away_at_start_up_delays_the_resumed_callbacks_without_stopping_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = clinic("agent_first")
    rig.asterisk.patient(PHONE, NO_ANSWER)
    call, task = stored_before_a_crash(local(11, 58))
    taken = await rig.callback_store.record_miss(call, task, local(11, 58))
    assert taken is not None
    open_tasks = rig.callback_store.open_tasks
    refused: list[datetime] = []

    async def away_twice(clinic_id: str | None = None) -> list[CallbackTask]:
        if len(refused) < 2:
            refused.append(rig.clock.now())
            raise OSError("connection refused")
        return await open_tasks(clinic_id)

    rig.callback_store.open_tasks = away_twice  # type: ignore[method-assign]
    async with running(rig, tickers=True):
        await rig.clock.run_until(local(12, 1))
        assert rig.callbacks.resumed.is_set()
    t = taken.task.target_id
    assert [c.request.attempt_id for c in rig.asterisk.originates] == [f"callback:{t}:1"]
    # Asked again after 1 s, then 2 s: the first call is placed once it answers.
    assert rig.asterisk.originates[0].at < local(12, 0, 5)
    failures = [r.getMessage() for r in caplog.records if r.name == "dialer.loops"]
    assert [f[:40] for f in failures] == [
        "callbacks: a turn failed (1 in a row): O",
        "callbacks: a turn failed (2 in a row): O",
    ]
    caplog.clear()
