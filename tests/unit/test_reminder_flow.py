"""The customer's reminder plan played on a FakeClock: 2 calls between 11:00 and 16:00 at least 2 h apart, 1 after
18:00, then an SMS to a patient not reached. The engine's flow, call desk and worker run as real tasks; Asterisk
is played by tests/fakes/pbx.py through the real call tracker."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.campaigns.kinds import CampaignKind
from dialer.core.ids import SmsKey
from dialer.core.outcomes import CallResult
from dialer.core.records import AttemptState, ReminderStatus
from tests.fakes.memory import Appointment
from tests.fakes.pbx import BUSY, NO_ANSWER, presses
from tests.fakes.rig import CLINIC, Rig, build, clinic_settings, running

MSK = ZoneInfo("Europe/Moscow")
CALL_DAY = date(2026, 12, 2)  # a Wednesday, a working day
VISIT_DAY = date(2026, 12, 3)
VISIT_AT = datetime.combine(VISIT_DAY, time(10, 30), MSK)
PHONE = "+79161234567"


def local(hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.combine(CALL_DAY, time(hh, mm, ss), MSK)


def rig_with_patient() -> Rig:
    rig = build(clinic_settings(), start=local(10))
    rig.reminder_store.add(
        Appointment(CLINIC, "A-1", "P-1", PHONE, VISIT_AT, VISIT_DAY, doctor="Петров Пётр Петрович")
    )
    return rig


@pytest.fixture(autouse=True)
def no_errors(caplog: pytest.LogCaptureFixture) -> object:
    yield
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def make_list(rig: Rig) -> None:
    """What DayLists.prepare_due_days does once the list-build time has come: plan every reminder, wake the worker."""
    assert await rig.reminders.prepare_day(VISIT_DAY) == 1
    rig.worker.wake()


async def play_day(rig: Rig) -> int:
    """Make the list at 10:00 (the list-build time) and play the day to 21:00; the reminder's target id."""
    await make_list(rig)
    (target_id,) = rig.reminder_store.targets
    await rig.clock.run_until(local(21))
    return target_id


async def test_a_patient_who_never_answers_gets_three_calls_at_the_plan_times_then_one_sms() -> None:
    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, NO_ANSWER)
    async with running(rig):
        target_id = await play_day(rig)

    calls = rig.asterisk.originates
    assert [c.at for c in calls] == [local(11), local(13), local(18)]
    ids = [c.request.attempt_id for c in calls]
    assert ids == [f"reminders:{target_id}:1", f"reminders:{target_id}:2", f"reminders:{target_id}:3"]
    assert all(c.request.channel == "Local/79161234567@patients" for c in calls)
    assert all(c.request.context == "dialer-reminder" for c in calls)
    assert calls[0].request.variables["DIALER_APPT_TS"] == str(int(VISIT_AT.timestamp()))
    assert rig.asterisk.refused == []

    rows = rig.attempts.of_target(target_id)
    assert [(r.state, r.result) for r in rows] == [(AttemptState.ENDED, CallResult.NO_ANSWER)] * 3
    assert [rig.attempts.ends[i].cause for i in ids] == [19, 19, 19]

    (sent,) = rig.gateway.sent
    assert sent.sms.key == f"sms:reminders:{target_id}:not_reached"
    assert sent.at == local(18, 0, 30)  # the third call rang out for the trunk's 30 s
    assert sent.sms.to == PHONE
    assert sent.sms.body == "Клиника на Лесной: ждём вас 3 декабря в 10:30. Тел. +7 495 123-45-67"
    assert rig.sms_store.rows[sent.sms.key].provider_id == sent.provider_id

    appointment = rig.reminder_store.appointment_of(target_id)
    assert appointment.status is ReminderStatus.NOT_REACHED
    assert rig.reminder_store.targets[target_id].state == "done"
    assert rig.reminder_store.targets[target_id].stop_reason == "not_reached"
    assert rig.asterisk.forgotten == ids  # every AstDB record was read back out
    assert await rig.due.pending_count() == 0


async def test_a_patient_who_presses_1_on_the_first_call_is_confirmed_and_hears_no_more() -> None:
    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, presses("1", answer_after=6))
    async with running(rig):
        target_id = await play_day(rig)

    assert rig.asterisk.originated_ids() == [f"reminders:{target_id}:1"]
    assert rig.asterisk.originates[0].at == local(11)
    (row,) = rig.attempts.of_target(target_id)
    assert (row.state, row.result, row.digit) == (AttemptState.ENDED, CallResult.ANSWERED, "1")
    assert rig.attempts.answered_at[row.attempt_id] == local(11, 0, 6)
    appointment = rig.reminder_store.appointment_of(target_id)
    assert (appointment.status, appointment.digit) == (ReminderStatus.CONFIRMED, "1")
    assert rig.reminder_store.targets[target_id].state == "done"
    assert rig.gateway.sent == []
    assert rig.sms_store.rows == {}
    assert await rig.due.pending_count() == 0


async def test_a_busy_patient_is_called_again_and_confirms_on_the_second_call() -> None:
    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, BUSY, presses("1"))
    async with running(rig):
        target_id = await play_day(rig)

    # A busy line is someone on the phone now: called again 5 minutes later, not after the window's 2 h.
    assert [c.at for c in rig.asterisk.originates] == [local(11), local(11, 5)]
    rows = rig.attempts.of_target(target_id)
    assert [r.result for r in rows] == [CallResult.BUSY, CallResult.ANSWERED]
    assert rig.attempts.ends[rows[0].attempt_id].reason == 5
    assert rig.reminder_store.appointment_of(target_id).status is ReminderStatus.CONFIRMED
    assert rig.gateway.sent == []


async def test_a_patient_always_busy_gets_the_whole_plan_and_the_sms() -> None:
    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, BUSY)
    async with running(rig):
        target_id = await play_day(rig)

    # The window's second call comes soon after a busy first; the evening call is the plan's.
    assert [c.at for c in rig.asterisk.originates] == [local(11), local(11, 5), local(18)]
    assert [r.result for r in rig.attempts.of_target(target_id)] == [CallResult.BUSY] * 3
    assert [s.sms.key for s in rig.gateway.sent] == [f"sms:reminders:{target_id}:not_reached"]
    assert rig.gateway.sent[0].at == local(18, 0, 2)
    assert rig.reminder_store.appointment_of(target_id).status is ReminderStatus.NOT_REACHED


async def test_a_patient_who_cancels_gets_a_reschedule_task_and_the_freed_slot_is_offered() -> None:
    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, NO_ANSWER, presses("2"))
    freed = rig.freed_slots
    async with running(rig):
        target_id = await play_day(rig)

    assert [c.at for c in rig.asterisk.originates] == [local(11), local(13)]
    assert rig.reminder_store.appointment_of(target_id).status is ReminderStatus.CANCELLED
    (task,) = rig.reminder_store.admin_tasks
    assert (task.kind, task.source) == ("reschedule", f"reminders:{target_id}:2")
    assert freed == [(CLINIC, "A-1")]
    assert rig.gateway.sent == []


async def test_a_list_made_after_the_first_window_opened_calls_at_once_then_keeps_the_gap() -> None:
    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, NO_ANSWER)
    async with running(rig):
        await rig.clock.run_until(local(12, 40))
        await make_list(rig)
        await rig.clock.run_until(local(21))

    # 12:40 now; 14:40 is two hours later and still before 16:00; then the evening window.
    assert [c.at for c in rig.asterisk.originates] == [local(12, 40), local(14, 40), local(18)]
    assert len(rig.gateway.sent) == 1


async def test_an_unallocated_number_stops_the_plan_and_asks_an_administrator_to_check_it() -> None:
    from tests.fakes.pbx import UNALLOCATED

    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, UNALLOCATED)
    async with running(rig):
        target_id = await play_day(rig)

    assert len(rig.asterisk.originates) == 1
    assert rig.attempts.of_target(target_id)[0].result is CallResult.INVALID_NUMBER
    assert rig.reminder_store.appointment_of(target_id).status is ReminderStatus.INVALID_NUMBER
    assert [t.kind for t in rig.reminder_store.admin_tasks] == ["check_phone"]
    assert rig.gateway.sent == []


async def test_the_sms_waits_for_a_gateway_that_is_down_and_goes_out_once() -> None:
    from dialer.core.ports import SmsError

    rig = rig_with_patient()
    rig.asterisk.patient(PHONE, NO_ANSWER)
    rig.gateway.refuse = SmsError("503 from the gateway", retryable=True)
    async with running(rig):
        await make_list(rig)
        (target_id,) = rig.reminder_store.targets
        await rig.clock.run_until(local(18, 1))
        assert rig.gateway.sent == []
        key = SmsKey(CampaignKind.REMINDERS, target_id, "not_reached")
        assert rig.due.rows[key.due_task_id].task.tries >= 1  # retried with backoff
        rig.gateway.refuse = None
        await rig.clock.run_until(local(18, 30))

    assert [s.sms.key for s in rig.gateway.sent] == [str(key)]
    assert rig.reminder_store.appointment_of(target_id).status is ReminderStatus.NOT_REACHED
    assert timedelta(0) < rig.gateway.sent[0].at - local(18, 0, 30) <= timedelta(minutes=10)
