"""The reminder flow writes a batch of finished calls' follow-ups in one transaction, on a real SQLite file and
(`--db=postgresql`) on a real PostgreSQL: a batch the database cuts in the middle leaves nothing of itself, the
same batch written again after the cut is whole, and written once more after the worker has dialled and texted
it plans no second call and no second SMS.

The cut is the database's own: a trigger that refuses the SMS of the fourth patient, so the transaction fails
with the batch's admin task, freed slot and first due task already written in it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, text

from bench.intake.seed import CLINIC, TRUNK, phone_of, seed_db
from bench.lib.clinic import ClinicTime
from dialer.app import Runtime, open_runtime
from dialer.core.facts import CallAnswered
from dialer.core.followups import FinishTarget, SetVisitStatus, TargetView
from dialer.core.ids import SmsKey
from dialer.core.outcomes import classify
from dialer.core.records import AttemptBatch, AttemptEnd, AttemptRow, AttemptState, ReminderStatus, Settled
from dialer.engine import reminders as reminder_engine
from dialer.engine.reminders import ReminderFlow
from dialer.settings import Settings, parse_settings
from dialer.storage.fastbatch import SqliteBatchWriter
from dialer.storage.journal_schema import waiting_list
from dialer.storage.pgbatch import PgBatchWriter
from dialer.storage.reminders import SqlReminderStore
from dialer.storage.repository import Storage

# target: (attempts placed, the key pressed on the last one, answered)
CALLS = {1: (1, "1", True), 2: (1, "2", True), 3: (1, None, False), 4: (2, None, False)}
CUT_TARGET = 4

SQLITE_CUT = f"""CREATE TRIGGER cut BEFORE INSERT ON due_tasks WHEN NEW.target_id = {CUT_TARGET}
BEGIN SELECT RAISE(ABORT, 'the batch is cut here'); END"""
PG_CUT = (
    f"""CREATE FUNCTION cut() RETURNS trigger AS $$ BEGIN IF NEW.target_id = {CUT_TARGET} THEN
    RAISE EXCEPTION 'the batch is cut here'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER cut BEFORE INSERT ON due_tasks FOR EACH ROW EXECUTE FUNCTION cut()",
)
PG_MEND = ("DROP TRIGGER cut ON due_tasks", "DROP FUNCTION cut()")


def settings_for(home: Path, clinic: ClinicTime) -> Settings:
    """Two calls a patient in a window open now, then an SMS to one not reached."""
    local = clinic.local_now()
    return parse_settings(
        {
            "service": {"data_dir": str(home)},
            "ami": {"host": "127.0.0.1", "secret": "never-connected-here"},
            "trunks": {TRUNK: {"dial": "Local/{number}@patients", "max_channels": 4}},
            "clinics": [
                {
                    "id": CLINIC,
                    "name": "Клиника «Улыбка»",
                    "timezone": str(local.tzinfo),
                    "phone": "+7 495 123-45-67",
                    "trunk": TRUNK,
                    "skip_holidays": False,
                }
            ],
            "campaigns": {
                "reminders": {
                    "windows": [
                        {
                            "start": (local - timedelta(minutes=30)).strftime("%H:%M:%S"),
                            "end": (local + timedelta(hours=3)).strftime("%H:%M:%S"),
                            "attempts": 2,
                        }
                    ],
                    "same_day_confirmation": False,
                    "sms_when_not_reached": True,
                }
            },
            "sms": {"provider": "none"},
        }
    )


@dataclass
class Clinic:
    rt: Runtime
    ended: list[AttemptRow]  # each patient's last call, ended
    backend: str
    path: str
    read: list[set[int]] = field(default_factory=list)  # the targets of each view the flow read

    def __post_init__(self) -> None:
        store = self.rt.storage.reminders
        read_view = store.follow_up_view

        async def counted(target_ids: Collection[int]) -> Mapping[int, TargetView]:
            self.read.append(set(target_ids))
            return await read_view(target_ids)

        store.follow_up_view = counted  # type: ignore[method-assign]

    @property
    def flow(self) -> ReminderFlow:
        return self.rt.reminders

    def calls_finished(self) -> None:
        """What the call desk tells the flow as the calls end: the key pressed, then the end."""
        for row in self.ended:
            digit = CALLS[row.target_id][1]
            if digit is not None:
                self.flow.digit_pressed(row, digit, row.created_at + timedelta(seconds=20))
            self.flow.finished(row)

    async def sql(self, *statements: str) -> None:
        async with self.rt.storage.engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))

    async def rows(self, query: str) -> list[tuple[object, ...]]:
        async with self.rt.storage.engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(query))]

    async def written(self) -> dict[str, list[tuple[object, ...]]]:
        return {
            "appointments": await self.rows(
                "select appointment_id, reminder_status, reminder_digit from appointments order by appointment_id"
            ),
            "targets": await self.rows(
                "select target_id, state, stop_reason, updated_at from targets order by target_id"
            ),
            "admin_tasks": await self.rows(
                "select kind, subject_id, source, status from admin_tasks order by task_id"
            ),
            "due_tasks": await self.rows(
                "select task_id, kind, target_id, state, due_at from due_tasks order by task_id"
            ),
        }


async def place_and_end(rt: Runtime, now: datetime) -> list[AttemptRow]:
    last: list[AttemptRow] = []
    for target, (placed, digit, answered) in CALLS.items():
        for n in range(1, placed + 1):
            attempt_id = f"reminders:{target}:{n}"
            row = AttemptRow(
                attempt_id, CLINIC, target, n, phone_of(target), TRUNK, AttemptState.DIALING, now
            )
            await rt.storage.attempts.create(row)
            result = classify(answered=answered, reason=4 if answered else 3, cause=16 if answered else 19)
            settled = Settled.FINAL if digit is not None and n == placed else Settled.OPEN
            await rt.storage.attempts.apply(
                AttemptBatch(
                    answered=[(attempt_id, now)] if answered else [],
                    digits=[(attempt_id, digit, settled)] if digit is not None and n == placed else [],
                    ends=[
                        AttemptEnd(attempt_id, now, 4 if answered else 3, 16, result, answered, attempt_id)
                    ],
                ),
                [],
            )
        last.append(row)
    return last


@pytest.fixture(params=["fast path", "sqlalchemy"])
async def clinic(
    request: pytest.FixtureRequest, database_url: str, backend: str, tmp_path: Path
) -> AsyncIterator[Clinic]:
    """A clinic's runtime whose four patients' calls have ended; its batches through the driver's own fast
    path (sqlite3, asyncpg), or through SQLAlchemy."""
    time = ClinicTime.morning()
    settings = settings_for(tmp_path, time)
    clock = time.clock()
    storage = await Storage.open(database_url)
    if request.param == "sqlalchemy":
        storage.reminders.batches = None
    async with open_runtime(settings, clock=clock, storage=storage) as rt:
        await seed_db(storage, settings, [f"reminders:{t}:1" for t in CALLS], clock.now())
        ended = await place_and_end(rt, clock.now() - timedelta(minutes=20))
        yield Clinic(rt, ended, backend, request.param)


async def test_a_cut_batch_leaves_nothing_and_its_replay_dials_and_texts_no_one_twice(clinic: Clinic) -> None:
    fast = isinstance(clinic.rt.storage.reminders.batches, (SqliteBatchWriter, PgBatchWriter))
    assert fast == (clinic.path == "fast path")
    before = await clinic.written()

    await clinic.sql(*((SQLITE_CUT,) if clinic.backend == "sqlite" else PG_CUT))
    clinic.calls_finished()
    with pytest.raises(Exception, match="the batch is cut here"):
        await clinic.flow.follow_up_waiting()
    assert await clinic.written() == before  # not the writes before the cut either

    # Started again: the same calls' follow-ups, now without the cut.
    await clinic.sql(*(("DROP TRIGGER cut",) if clinic.backend == "sqlite" else PG_MEND))
    clinic.calls_finished()
    assert await clinic.flow.follow_up_waiting() == 6
    after = await clinic.written()
    assert [a[1:3] for a in after["appointments"]] == [
        ("confirmed", "1"),
        ("cancelled", "2"),
        ("pending", None),
        ("pending", None),
    ]
    assert [t[1:3] for t in after["targets"]] == [
        ("done", "settled"),
        ("done", "settled"),
        ("active", None),
        ("active", None),
    ]
    assert [(t[0], t[2]) for t in after["admin_tasks"]] == [("reschedule", "reminders:2:1")]
    second_call = clinic.rt.desk.attempt_id("reminders", 3, 2).due_task_id
    sms = SmsKey("reminders", CUT_TARGET, "not_reached").due_task_id
    assert sorted(t[:4] for t in after["due_tasks"]) == sorted(
        [(second_call, "dial", 3, "pending"), (sms, "sms", CUT_TARGET, "pending")]
    )

    # What the flow reads of them is the same whichever path reads it.
    store = clinic.rt.storage.reminders
    view = await store.follow_up_view(CALLS)
    assert sorted(view) == sorted(CALLS) and [len(v.history) for v in view.values()] == [1, 1, 1, 2]
    assert view == await SqlReminderStore(store.engine).follow_up_view(CALLS)

    # The worker dials the third patient and texts the fourth; then the same batch is written once more.
    for task_id, *_ in after["due_tasks"]:
        await clinic.rt.storage.due.finish(str(task_id))
    done = await clinic.written()
    clinic.calls_finished()
    await clinic.flow.follow_up_waiting()
    # The answers are written again as they were (the key's time with them); the due tasks stay done: nobody
    # is dialled or texted again.
    assert await clinic.written() == done
    assert (
        await clinic.rt.storage.due.claim_due(
            clinic.rt.clock.now() + timedelta(days=1), dict.fromkeys(clinic.rt.worker.runners, 10), "w"
        )
        == []
    )


async def key_pressed(clinic: Clinic, target_id: int, digit: str) -> None:
    row = clinic.ended[target_id - 1]
    clinic.flow.digit_pressed(row, digit, clinic.rt.clock.now())
    assert await clinic.flow.follow_up_waiting() == 1


async def test_a_key_on_a_visit_the_flow_knows_is_written_without_reading_the_target(clinic: Clinic) -> None:
    """The flow remembers each target's appointment from reading it (to dial it, or to plan it): a later
    confirming key is written straight to that appointment. A cancelling key is still decided on the target as
    stored, for its task names the patient; so is a key on a visit the flow does not know (another node dialled
    it, or the flow has forgotten it)."""
    await key_pressed(clinic, 3, "1")  # not known yet: read
    await key_pressed(clinic, 3, "3")  # known from that read: not read again
    clinic.flow.finished(clinic.ended[3])  # a step to plan: read, and known from now on
    assert await clinic.flow.follow_up_waiting() == 1
    await key_pressed(clinic, 4, "1")
    await key_pressed(clinic, 4, "2")  # cancelling: read although known
    assert clinic.read == [{3}, {4}, {4}]

    written = await clinic.written()
    assert [a[1:3] for a in written["appointments"][2:]] == [("to_admin", "3"), ("cancelled", "2")]
    assert [(t[0], t[1], t[2]) for t in written["admin_tasks"]] == [("reschedule", "B4", "reminders:4:2")]


async def test_the_flow_forgets_the_longest_known_visit_first(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reminder_engine, "KNOWN_VISITS", 2)
    for target_id in (1, 2, 3):
        clinic.flow.finished(clinic.ended[target_id - 1])
        await clinic.flow.follow_up_waiting()
    clinic.read.clear()
    await key_pressed(clinic, 3, "1")
    await key_pressed(clinic, 2, "1")
    await key_pressed(clinic, 1, "1")  # forgotten when the third was learnt: read again
    assert clinic.read == [{1}]
    written = await clinic.written()
    assert [a[1:3] for a in written["appointments"][:3]] == [("confirmed", "1")] * 3


async def test_a_batch_holds_a_batch_of_finished_calls_with_the_keys_pressed_among_them(
    clinic: Clinic,
) -> None:
    most = reminder_engine.FOLLOW_UP_BATCH
    confirmed, unanswered = clinic.ended[0], clinic.ended[2]
    for _ in range(50):
        clinic.flow.digit_pressed(confirmed, "1", clinic.rt.clock.now())
    for _ in range(most + 50):
        clinic.flow.finished(unanswered)
    assert await clinic.flow.follow_up_waiting() == 50 + most  # the keys ride along uncounted
    assert await clinic.flow.follow_up_waiting() == 50
    for _ in range(2 * most + 50):  # keys alone: at most as many again as finished calls
        clinic.flow.digit_pressed(confirmed, "1", clinic.rt.clock.now())
    assert await clinic.flow.follow_up_waiting() == 2 * most
    assert await clinic.flow.follow_up_waiting() == 50
    assert await clinic.flow.follow_up_waiting() == 0
    written = await clinic.written()
    assert written["appointments"][0][1:3] == ("confirmed", "1")
    assert [t[2] for t in written["due_tasks"]] == [3]  # the one next call, planned once


async def test_the_next_batch_does_not_wait_for_the_waiting_lists_offer(clinic: Clinic) -> None:
    """A cancelled visit is offered to the waiting list by a loop beside the follow-ups: an offer's SMS goes to
    the gateway there and then, and a slow gateway must not hold up the next patients' answers and calls."""
    gateway_answers = asyncio.Event()
    offered: list[list[tuple[str, str]]] = []

    async def slow_offers(freed: Sequence[tuple[str, str]]) -> None:
        await gateway_answers.wait()
        offered.append(list(freed))

    clinic.flow.slots_freed = slow_offers
    running = asyncio.create_task(clinic.flow.run())
    try:
        clinic.flow.digit_pressed(clinic.ended[1], "2", clinic.rt.clock.now())
        clinic.flow.finished(clinic.ended[1])
        async with asyncio.timeout(10):
            while not (await clinic.written())["admin_tasks"]:
                await asyncio.sleep(0.01)
        clinic.flow.finished(clinic.ended[2])  # the next batch, the offer still at the gateway
        second_call = clinic.rt.desk.attempt_id("reminders", 3, 2).due_task_id
        async with asyncio.timeout(10):
            while second_call not in [t[0] for t in (await clinic.written())["due_tasks"]]:
                await asyncio.sleep(0.01)
        assert offered == []
        gateway_answers.set()
        async with asyncio.timeout(10):
            await clinic.flow.freed_slots_offered()
        assert offered == [[(CLINIC, "B2")]]
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_the_follow_ups_wait_for_the_desk_to_commit_a_burst_but_not_for_ever(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the call desk writes a batch of facts, the flow does not start its own: the burst is committed
    before it is planned, and the flow's write does not hold the database while the desk's commit waits. A desk
    that stays busy is waited for only so long."""
    rt = clinic.rt
    store_answers = asyncio.Event()
    apply = rt.desk.attempts.apply

    async def slow_apply(batch: AttemptBatch, log: Sequence[Any]) -> set[str]:
        await store_answers.wait()
        return await apply(batch, log)

    monkeypatch.setattr(rt.desk.attempts, "apply", slow_apply)
    monkeypatch.setattr(reminder_engine, "DESK_FIRST_SECONDS", 30.0)
    async with asyncio.timeout(5):
        await rt.desk.between_bursts(30.0)  # nothing to write: at once

    live = AttemptRow("reminders:1:5", CLINIC, 1, 5, phone_of(1), TRUNK, AttemptState.DIALING, rt.clock.now())
    await rt.storage.attempts.create(live)
    loops = [asyncio.create_task(rt.desk.run()), asyncio.create_task(clinic.flow.run())]
    try:
        rt.intake.facts.put_nowait(CallAnswered(live.attempt_id, rt.clock.now()))
        clinic.flow.finished(clinic.ended[2])  # a step to plan while the desk writes
        await asyncio.sleep(0.2)
        second_call = rt.desk.attempt_id("reminders", 3, 2).due_task_id
        assert [t[0] for t in (await clinic.written())["due_tasks"]] == []
        async with asyncio.timeout(5):
            await rt.desk.between_bursts(0.05)  # the desk still busy: given up on after a while

        store_answers.set()
        async with asyncio.timeout(10):
            while second_call not in [t[0] for t in (await clinic.written())["due_tasks"]]:
                await asyncio.sleep(0.01)
        assert (await rt.storage.attempts.get(live.attempt_id)).state is AttemptState.ANSWERED  # type: ignore[union-attr]
    finally:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop


async def add_waiting_patient(clinic: Clinic, appointment_id: str) -> None:
    """A patient on the waiting list for the doctor of `appointment_id`, any day."""
    (doctor,) = (
        await clinic.rows(f"select doctor from appointments where appointment_id = '{appointment_id}'")
    )[0]
    async with clinic.rt.storage.engine.begin() as conn:
        await conn.execute(
            insert(waiting_list).values(
                clinic_id=CLINIC,
                phone="+79160000001",
                patient_id="W-1",
                doctor=doctor,
                created_at=clinic.rt.clock.now() - timedelta(days=3),
            )
        )


async def run_flow_until(clinic: Clinic, done: Callable[[], Awaitable[bool]]) -> None:
    """The flow's loops running until `done` holds, then stopped as a service stop cancels them."""
    running = asyncio.create_task(clinic.flow.run())
    try:
        async with asyncio.timeout(10):
            while not await done():
                await asyncio.sleep(0.01)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_a_slot_a_stop_kept_from_the_waiting_list_is_offered_at_the_next_start_once(
    clinic: Clinic,
) -> None:
    """A cancelled visit is stored with its cancellation as a slot to offer, and leaves that list in the
    transaction that hands it to the waiting list. The service stopped with the offer still at the gateway: the
    next start offers it, and the start after that offers nothing again."""
    await add_waiting_patient(clinic, "B2")
    offer = clinic.rt.reminders.slots_freed
    stuck = asyncio.Event()

    async def gateway_never_answers(freed: Sequence[tuple[str, str]]) -> None:
        stuck.set()
        await asyncio.Event().wait()

    clinic.flow.slots_freed = gateway_never_answers
    clinic.flow.digit_pressed(clinic.ended[1], "2", clinic.rt.clock.now())

    async def offer_stuck() -> bool:
        return stuck.is_set()

    await run_flow_until(clinic, offer_stuck)
    assert await clinic.rows("select clinic_id, appointment_id from freed_slots") == [(CLINIC, "B2")]
    assert await clinic.rows("select * from offers") == []

    clinic.flow.slots_freed = offer  # started again, the gateway answering

    async def offered() -> bool:
        return bool(await clinic.rows("select appointment_id from offers"))

    await run_flow_until(clinic, offered)
    await run_flow_until(clinic, offered)  # and again: nothing left to offer
    offers = await clinic.rows("select appointment_id, state from offers")
    assert offers == [("B2", "offered")]
    assert await clinic.rows("select campaign from targets where campaign = 'offer'") == [("offer",)]
    assert await clinic.rows("select * from freed_slots") == []


async def test_an_offer_that_fails_is_tried_again_from_what_is_stored(clinic: Clinic) -> None:
    """The offer's transaction fails (the database refuses it): the slot stays stored, and the flow reads it
    again with its next batch and offers it then."""
    await add_waiting_patient(clinic, "B2")
    offer = clinic.rt.reminders.slots_freed
    tries: list[list[tuple[str, str]]] = []

    async def refused_once(freed: Sequence[tuple[str, str]]) -> object:
        tries.append(list(freed))
        if len(tries) == 1:
            raise OSError("the database went away")
        return await offer(freed)  # type: ignore[misc]

    clinic.flow.slots_freed = refused_once
    clinic.flow.digit_pressed(clinic.ended[1], "2", clinic.rt.clock.now())

    async def offered() -> bool:
        if len(tries) == 1 and clinic.flow._work.empty():
            clinic.flow.finished(clinic.ended[2])  # the next batch reads the stored slots again
        return bool(await clinic.rows("select appointment_id from offers"))

    await run_flow_until(clinic, offered)
    assert tries == [[(CLINIC, "B2")], [(CLINIC, "B2")]]
    assert await clinic.rows("select * from freed_slots") == []


async def test_a_slot_nobody_waits_for_is_handed_over_and_not_kept(clinic: Clinic) -> None:
    clinic.flow.digit_pressed(clinic.ended[1], "2", clinic.rt.clock.now())
    assert await clinic.flow.follow_up_waiting() == 1
    assert await clinic.rows("select appointment_id from freed_slots") == [("B2",)]
    await clinic.rt.reminders.slots_freed([(CLINIC, "B2")])  # type: ignore[misc]
    assert await clinic.rows("select * from freed_slots") == []
    assert await clinic.rows("select * from offers") == []


async def test_writes_naming_one_visit_twice_in_a_run_build_on_each_other_as_one_by_one(
    clinic: Clinic,
) -> None:
    """Two targets' keys on one appointment fall in one run of the batch (each target's first write). Written one
    after the other, the second key keeps the status the first set (it sets none): on PostgreSQL such a run goes
    row by row, not as one statement over unnested rows, which would apply only one of the two."""
    at = clinic.rt.clock.now()
    await clinic.rt.storage.reminders.write_follow_ups(
        [
            SetVisitStatus(1, CLINIC, "B1", ReminderStatus.CONFIRMED, "1", at),
            SetVisitStatus(2, CLINIC, "B1", None, "3", at + timedelta(seconds=1)),
            FinishTarget(3, CLINIC, "B3", ReminderStatus.NOT_REACHED, "no_answer", at),
        ]
    )
    written = await clinic.written()
    assert [a[:3] for a in written["appointments"]][:3] == [
        ("B1", "confirmed", "3"),
        ("B2", "pending", None),
        ("B3", "not_reached", None),
    ]
    assert [t[:3] for t in written["targets"]][2] == (3, "done", "no_answer")


async def test_an_sms_planned_before_the_patient_withdrew_sms_consent_is_not_sent(clinic: Clinic) -> None:
    """The fourth patient, not reached, is to be texted. Before the SMS is due the clinic's schedule comes again
    with «согласие на смс: нет»: the SMS is not sent, not even recorded as skipped, and the reminder ends as not
    reached."""
    clinic.calls_finished()
    await clinic.flow.follow_up_waiting()
    await clinic.sql(
        "UPDATE patients SET consent_sms = false WHERE patient_id ="
        f" (SELECT patient_id FROM targets WHERE target_id = {CUT_TARGET})"
    )
    due = await clinic.rt.storage.due.claim_due(
        clinic.rt.clock.now() + timedelta(days=1), dict.fromkeys(clinic.rt.worker.runners, 10), "w"
    )
    sms_task = SmsKey("reminders", CUT_TARGET, "not_reached").due_task_id
    (task,) = [t for t in due if t.task_id == sms_task]
    await clinic.flow.run_sms(task)
    assert await clinic.rows(f"SELECT count(*) FROM sms_messages WHERE target_id = {CUT_TARGET}") == [(0,)]
    assert await clinic.rows(f"SELECT state FROM due_tasks WHERE task_id = '{sms_task}'") == [("cancelled",)]
    written = await clinic.written()
    assert written["appointments"][CUT_TARGET - 1][1] == "not_reached"
    assert written["targets"][CUT_TARGET - 1][1] == "done"
