"""The attempt lifecycle (CallDesk): the row is written before the Originate, an Originate is never sent twice,
a refused one ends the attempt, and after a lost link Asterisk is asked what became of every open attempt.

Driven through the reminder flow, as in production: the worker places the day's first call at 11:00.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.core.fencing import Tenure
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult
from dialer.core.ports import OriginateRequest, RecordedOutcome
from dialer.core.records import AttemptState, ReminderStatus
from dialer.engine.calls import RECOVERED
from tests.fakes.memory import Appointment
from tests.fakes.pbx import NO_ANSWER, presses
from tests.fakes.rig import CLINIC, Rig, build, clinic_settings, running

MSK = ZoneInfo("Europe/Moscow")
CALL_DAY = date(2026, 12, 2)
VISIT_DAY = date(2026, 12, 3)
PHONE = "+79161234567"
T = 1  # the only target: the reminder of appointment A-1
FIRST, SECOND, THIRD = f"reminders:{T}:1", f"reminders:{T}:2", f"reminders:{T}:3"


def local(hh: int, mm: int = 0, ss: float = 0) -> datetime:
    return datetime.combine(CALL_DAY, time(hh, mm), MSK) + timedelta(seconds=ss)


@pytest.fixture(autouse=True)
def no_errors(caplog: pytest.LogCaptureFixture) -> object:
    yield
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def listed(rig: Rig) -> None:
    rig.reminder_store.add(
        Appointment(CLINIC, "A-1", "P-1", PHONE, datetime.combine(VISIT_DAY, time(9, 0), MSK), VISIT_DAY)
    )
    assert await rig.reminders.prepare_day(VISIT_DAY) == 1
    rig.worker.wake()
    assert list(rig.reminder_store.targets) == [T]


def rig() -> Rig:
    return build(clinic_settings(), start=local(10, 59))


def sent_once(r: Rig) -> None:
    ids = r.asterisk.originated_ids()
    assert len(ids) == len(set(ids)), ids


async def test_the_attempt_is_written_as_dialing_before_its_originate_goes_out() -> None:
    r = rig()
    r.asterisk.patient(PHONE, presses("1"))
    seen: dict[str, AttemptState | None] = {}

    def before_send(request: OriginateRequest) -> None:
        row = r.attempts.rows.get(request.attempt_id)
        seen[request.attempt_id] = row.state if row else None

    r.asterisk.before_send.append(before_send)
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 5))

    assert seen == {FIRST: AttemptState.DIALING}
    assert r.attempts.writes == [("create", FIRST), ("end", FIRST)]
    assert [e.kind for e in r.attempts.log_of(FIRST)][:1] == ["originate"]
    (call,) = r.asterisk.originates
    assert call.at == local(11)
    assert call.request.attempt_id == FIRST  # the ChannelId: Asterisk's Uniqueid is the attempt id
    assert r.attempts.rows[FIRST].state is AttemptState.ENDED
    assert r.pacers["sim"].in_use == 0


async def test_an_originate_asterisk_refuses_ends_the_attempt_as_failed_and_the_plan_goes_on() -> None:
    r = rig()
    r.asterisk.patient(PHONE, NO_ANSWER)
    r.asterisk.reject_next = "Extension does not exist."
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(13, 5))

    assert [x.request.attempt_id for x in r.asterisk.refused] == [FIRST]
    row = r.attempts.rows[FIRST]
    assert (row.state, row.result) == (AttemptState.ENDED, CallResult.FAILED)
    end = r.attempts.ends[FIRST]
    assert (end.at, end.reason, end.cause) == (local(11), 0, None)
    assert [e.detail for e in r.attempts.log_of(FIRST) if e.kind == "ended"] == [
        "refused by Asterisk, no channel made: Originate: Extension does not exist."
    ]
    # No channel, so no hangup record of ours: one under this id would be another installation's.
    assert FIRST not in r.asterisk.forgotten
    # A failed call is a call: the next one keeps the plan's two hours.
    assert [(x.at, x.request.attempt_id) for x in r.asterisk.originates] == [(local(13), SECOND)]
    assert r.pacers["sim"].in_use == 0


async def test_a_link_lost_before_the_originate_leaves_it_unplaced_and_a_new_attempt_follows_the_reconnect() -> (
    None
):
    r = rig()
    r.asterisk.patient(PHONE, NO_ANSWER)
    r.asterisk.drop_link_on_next_originate = True
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 0, 20))
        assert r.asterisk.originates == []
        assert not r.desk.reconciled.is_set()  # nothing is dialled while the link is down
        r.asterisk.restore_link()
        await r.clock.run_until(local(13, 5))

    assert [x.request.attempt_id for x in r.asterisk.refused] == [FIRST]
    assert r.attempts.rows[FIRST].state is AttemptState.UNPLACED
    # The unplaced attempt was no call: the next goes as soon as the link is back (and reconciled), and the
    # plan's two hours count from it.
    assert [(x.at, x.request.attempt_id) for x in r.asterisk.originates] == [
        (local(11, 0, 20.5), SECOND),
        (local(13, 0, 20.5), THIRD),
    ]
    sent_once(r)


async def test_a_call_still_up_after_a_reconnect_is_adopted_and_its_answer_counts() -> None:
    r = rig()
    r.asterisk.patient(PHONE, presses("1", answer_after=7))
    r.asterisk.drop_link_after_next_send = True
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 0, 5))  # still ringing on Asterisk; we saw nothing of it
        assert r.attempts.rows[FIRST].state is AttemptState.DIALING
        r.asterisk.restore_link()
        await r.clock.run_until(local(11, 10))

    assert r.asterisk.originated_ids() == [FIRST]
    row = r.attempts.rows[FIRST]
    assert (row.state, row.result, row.digit) == (AttemptState.ENDED, CallResult.ANSWERED, "1")
    assert r.attempts.answered_at[FIRST] == local(11, 0, 7)
    assert r.reminder_store.appointment_of(T).status is ReminderStatus.CONFIRMED
    assert r.pacers["sim"].in_use == 0
    assert r.intake.tracker.open_attempts() == []


async def test_a_call_that_ended_during_the_outage_ends_from_the_dialplans_record() -> None:
    r = rig()
    r.asterisk.patient(PHONE, NO_ANSWER)
    r.asterisk.drop_link_after_next_send = True
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 1))  # it rang out at 11:00:30, unseen
        assert r.asterisk.astdb[FIRST].cause == 19
        r.asterisk.restore_link()
        await r.clock.run_until(local(11, 2))
        row = r.attempts.rows[FIRST]
        assert (row.state, row.result) == (AttemptState.ENDED, CallResult.NO_ANSWER)
        assert r.attempts.ends[FIRST].cause == 19
        assert r.attempts.ends[FIRST].at == local(11, 1, 0.5)  # when we learnt it
        assert [e.detail for e in r.attempts.log_of(FIRST) if e.kind == "ended"] == [RECOVERED]
        assert FIRST not in r.asterisk.astdb  # read once, then deleted
        await r.clock.run_until(local(13, 5))

    assert [(x.at, x.request.attempt_id) for x in r.asterisk.originates] == [
        (local(11), FIRST),
        (local(13), SECOND),
    ]
    assert r.pacers["sim"].in_use == 0


async def ended_unseen_with_record(record: RecordedOutcome) -> Rig:
    """The first call rings out while the link is down, its hangup record replaced by `record`; the link comes
    back and the call desk reads its end from that record."""
    r = rig()
    r.asterisk.patient(PHONE, NO_ANSWER)
    r.asterisk.drop_link_after_next_send = True
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 1))
        r.asterisk.astdb[FIRST] = record
        r.asterisk.restore_link()
        await r.clock.run_until(local(11, 2))
    return r


async def test_a_phone_switched_off_during_the_outage_is_unavailable_from_the_records_sip_response() -> None:
    # Its Q.850 cause is 19, as for a phone nobody answers; only the 480 says it was off, and an unreachable
    # patient's next call waits an hour where one who did not pick up is called again soon.
    r = await ended_unseen_with_record(RecordedOutcome(19, "", "", sip=480))
    row = r.attempts.rows[FIRST]
    assert (row.state, row.result) == (AttemptState.ENDED, CallResult.UNAVAILABLE)
    assert r.attempts.ends[FIRST].cause == 19


async def test_a_record_whose_key_field_holds_a_dial_status_is_no_key() -> None:
    # A callback's hangup record keeps its patient leg's DIALSTATUS where a reminder keeps the key; PostgreSQL
    # refuses "ANSWER" in the one-character digit column, and the link-up that tried it failed for ever.
    r = await ended_unseen_with_record(RecordedOutcome(16, "patient", "ANSWER"))
    row = r.attempts.rows[FIRST]
    assert (row.state, row.digit) == (AttemptState.ENDED, None)
    assert [e.kind for e in r.attempts.log_of(FIRST) if e.kind == "digit"] == []


async def test_a_confirmation_given_during_the_outage_is_read_from_the_dialplans_record() -> None:
    r = rig()
    r.asterisk.patient(PHONE, presses("1", answer_after=5))
    r.asterisk.drop_link_after_next_send = True
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 2))  # answered, pressed 1, hung up: all unseen
        r.asterisk.restore_link()
        await r.clock.run_until(local(21))

    assert r.asterisk.originated_ids() == [FIRST]
    row = r.attempts.rows[FIRST]
    assert (row.result, row.digit) == (CallResult.ANSWERED, "1")
    assert r.reminder_store.appointment_of(T).status is ReminderStatus.CONFIRMED
    assert r.gateway.sent == []


async def test_an_originate_that_never_reached_asterisk_is_unplaced_at_reconcile_and_dialled_anew() -> None:
    r = rig()
    r.asterisk.patient(PHONE, NO_ANSWER)
    r.asterisk.lose_next_originate = True
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 0, 10))
        r.asterisk.restore_link()
        await r.clock.run_until(local(11, 5))

    assert r.attempts.rows[FIRST].state is AttemptState.UNPLACED
    # Looked for at the reconnect and twice more (1.5 s, then 4 s later) before it counts as never placed.
    assert [(x.at, x.request.attempt_id) for x in r.asterisk.originates] == [(local(11, 0, 16), SECOND)]
    sent_once(r)


async def test_an_originate_a_loaded_asterisk_makes_a_channel_of_late_is_followed_not_dialled_again() -> None:
    r = rig()
    r.asterisk.patient(PHONE, presses("1", answer_after=7))
    r.asterisk.drop_link_after_next_send = True
    r.asterisk.channel_late_by = 1.0  # after the reconnect's first look, before its last
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 0, 0.2))
        assert r.asterisk.live_channel_ids() == []
        r.asterisk.restore_link()
        await r.clock.run_until(local(11, 10))

    assert r.asterisk.originated_ids() == [FIRST]
    row = r.attempts.rows[FIRST]
    assert (row.state, row.result, row.digit) == (AttemptState.ENDED, CallResult.ANSWERED, "1")
    assert r.reminder_store.appointment_of(T).status is ReminderStatus.CONFIRMED
    assert r.pacers["sim"].in_use == 0


async def test_a_due_task_run_again_after_a_restart_never_originates_its_attempt_twice() -> None:
    r = rig()
    r.asterisk.patient(PHONE, presses("1"))
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 0, 1))
        assert r.asterisk.originated_ids() == [FIRST]
        # A process that died after the Originate left its due task "running"; the next one requeues it.
        r.due.rows[AttemptId.parse(FIRST).due_task_id].state = "running"
        assert await r.due.requeue_running() == 1
        r.worker.wake()
        await r.clock.run_until(local(11, 0, 2))
        # And the link flaps twice while the patient's phone rings: each reconnect reconciles the live call.
        for _ in range(2):
            r.asterisk.drop_link()
            r.asterisk.restore_link()
            await r.clock.run_for(1)
        assert r.attempts.rows[FIRST].state is AttemptState.DIALING
        await r.clock.run_until(local(11, 10))

    assert r.asterisk.originated_ids() == [FIRST]
    assert r.due.rows[AttemptId.parse(FIRST).due_task_id].state == "cancelled"
    assert r.reminder_store.appointment_of(T).status is ReminderStatus.CONFIRMED


async def test_a_confirmation_given_during_the_outage_on_a_call_still_up_at_reconnect_is_not_lost() -> None:
    r = rig()
    r.asterisk.patient(PHONE, presses("1", answer_after=5))
    r.asterisk.drop_link_after_next_send = True
    async with running(r):
        await listed(r)
        # Answered at 11:00:05, 1 pressed at 11:00:14, unseen; the goodbye prompt still plays at the reconnect.
        await r.clock.run_until(local(11, 0, 15))
        r.asterisk.restore_link()
        await r.clock.run_until(local(21))

    assert r.attempts.rows[FIRST].digit == "1"
    assert r.asterisk.originated_ids() == [FIRST]


async def test_a_quick_pair_takes_the_first_key_and_logs_the_second() -> None:
    r = rig()
    r.asterisk.patient(PHONE, presses("25"))
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(21))

    assert r.asterisk.originated_ids() == [FIRST]
    assert r.attempts.rows[FIRST].digit == "2"
    assert r.reminder_store.appointment_of(T).status is ReminderStatus.CANCELLED
    assert [x.kind for x in r.reminder_store.admin_tasks] == ["reschedule"]
    log = r.attempts.log_of(FIRST)
    assert [(e.kind, e.digit) for e in log if e.kind.startswith("digit")] == [
        ("digit", "2"),
        ("digit_ignored", "5"),
    ]
    assert [e.detail for e in log if e.kind == "digit_ignored"] == ["taken 2"]


class PausedOnce(Tenure):
    """The process was paused past its lease once, between an attempt's row and its Originate."""

    def __init__(self) -> None:
        super().__init__(renewed=0.0, good_for=1e9)
        self.asked: list[float] = []

    def fresh(self, monotonic_now: float) -> bool:
        self.asked.append(monotonic_now)
        return len(self.asked) > 1


async def test_a_leader_paused_past_its_lease_after_writing_the_row_sends_nothing_for_it() -> None:
    r = rig()
    r.asterisk.patient(PHONE, NO_ANSWER)
    r.desk.tenure = tenure = PausedOnce()
    async with running(r):
        await listed(r)
        await r.clock.run_until(local(11, 5))

    assert r.attempts.rows[FIRST].state is AttemptState.UNPLACED
    assert [e.detail for e in r.attempts.log_of(FIRST) if e.kind == "unplaced"] == [
        "the dialing lease was not renewed in time"
    ]
    # Renewed meanwhile (the lease still its own), the plan goes on; had another node taken the lease, the
    # next attempt's row would be fenced out.
    assert [x.request.attempt_id for x in r.asterisk.originates] == [SECOND]
    assert len(tenure.asked) == 2
    sent_once(r)


def test_a_tenure_is_fresh_for_two_thirds_of_the_lease_from_its_last_renewal() -> None:
    tenure = Tenure(renewed=100.0, good_for=20.0)
    assert tenure.fresh(119.9) and not tenure.fresh(120.0)
    assert not Tenure().fresh(0.0)  # never renewed: nothing may be sent under it
