"""The callback, inbound, service-level and user stores through `Storage`, on a real SQLite file and (with
`--db=postgresql` or `--db=both`) a real PostgreSQL: the same answers from both, instants written in a clinic's
zone read back as the same aware UTC instants, duplicates ignored, periods half-open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from dialer.core.inbound import MissReason
from dialer.core.records import CallbackTask, CloseReason, InboundCallRow, InboundSource, TaskState
from dialer.core.staff import UserExists
from dialer.storage.repository import Storage
from dialer.storage.schema import callback_tasks, inbound_calls

OMSK = timezone(timedelta(hours=6))
T0 = datetime(2026, 12, 2, 9, 0, 0, 250000, tzinfo=OMSK)
PHONE = "+79131234567"


def missed(task_at: datetime, clinic: str = "c1", phone: str = PHONE) -> CallbackTask:
    return CallbackTask(
        task_id=0,
        clinic_id=clinic,
        phone=phone,
        state=TaskState.OPEN,
        reason="abandoned",
        missed_count=1,
        first_call_id=f"call-{clinic}-{task_at.timestamp()}",
        first_missed_at=task_at,
        last_missed_at=task_at,
        starts_at=task_at,
        deadline_at=task_at + timedelta(minutes=15),
        after_hours=False,
        target_id=None,
    )


def call(
    call_id: str, at: datetime, *, answered: bool, clinic: str = "c1", channel: str = ""
) -> InboundCallRow:
    return InboundCallRow(
        call_id=call_id,
        clinic_id=clinic,
        did="100",
        queue="c1-reception",
        caller=PHONE,
        hidden=False,
        started_at=at,
        answered_at=at + timedelta(seconds=12) if answered else None,
        ended_at=at + timedelta(seconds=90),
        waited=12.5 if answered else 40.0,
        answered_by="PJSIP/101" if answered else "",
        miss_reason=None if answered else MissReason.ABANDONED,
        source=InboundSource.LIVE,
        queue_channel=channel,
    )


async def task_of(storage: Storage, call_id: str) -> int | None:
    async with storage.engine.connect() as conn:
        return (
            await conn.execute(select(inbound_calls.c.task_id).where(inbound_calls.c.call_id == call_id))
        ).scalar_one_or_none()


async def test_a_callback_task_lives_its_life_with_its_instants_intact(storage: Storage) -> None:
    tasks = storage.callbacks
    first = await tasks.record_miss(call("m.1", T0, answered=False), missed(T0), T0)
    elsewhere = call("m.2", T0 + timedelta(minutes=1), answered=False, clinic="c2")
    second = await tasks.record_miss(elsewhere, missed(T0 + timedelta(minutes=1), clinic="c2"), T0)
    assert first is not None and second is not None and first.opened and second.opened
    made, other = first.task, second.task
    assert made.task_id != other.task_id and made.target_id is not None
    assert made.first_missed_at == T0 and made.first_missed_at.tzinfo is UTC
    assert made.deadline_at == T0 + timedelta(minutes=15)
    assert await task_of(storage, "m.1") == made.task_id

    # The same caller again: counted into the open task, not a second one; a replayed call changes nothing.
    for call_id, minutes in (("m.3", 3), ("m.4", 2)):  # a late report never moves the last miss back
        at = T0 + timedelta(minutes=minutes)
        again = await tasks.record_miss(call(call_id, at, answered=False), missed(at), T0)
        assert again is not None and not again.opened and again.task.task_id == made.task_id
        assert await task_of(storage, call_id) == made.task_id
    assert await tasks.record_miss(call("m.1", T0, answered=False), missed(T0), T0) is None
    await tasks.first_attempt(made.task_id, T0 + timedelta(minutes=4))
    await tasks.first_attempt(made.task_id, T0 + timedelta(minutes=5))  # the first stays the first
    found = await tasks.open_task("c1", PHONE)
    assert found is not None and found.task_id == made.task_id
    assert (found.missed_count, found.last_missed_at) == (3, T0 + timedelta(minutes=3))
    assert found.first_attempt_at == T0 + timedelta(minutes=4)
    assert [t.task_id for t in await tasks.open_tasks()] == [made.task_id, other.task_id]  # by deadline
    assert [t.task_id for t in await tasks.open_tasks("c2")] == [other.task_id]

    closed_at = T0 + timedelta(minutes=6)
    assert await tasks.close(made.task_id, TaskState.CONTACTED, CloseReason.CALLBACK_ANSWERED, closed_at)
    assert not await tasks.close(made.task_id, TaskState.NOT_REACHED, CloseReason.NOT_REACHED, closed_at)
    done = await tasks.task(made.task_id)
    assert done is not None and done.state is TaskState.CONTACTED and done.contacted_at == closed_at
    assert done.close_reason is CloseReason.CALLBACK_ANSWERED
    assert await tasks.open_task("c1", PHONE) is None
    assert made.target_id is not None and await tasks.task_for_target(made.target_id) == done


# The callback's calling target cannot be written: the database refuses it, as on a full disk.
REFUSE = {
    "sqlite": ("CREATE TRIGGER refuse BEFORE INSERT ON targets BEGIN SELECT RAISE(ABORT, 'disk full'); END",),
    "postgresql": (
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON targets FOR EACH ROW EXECUTE FUNCTION refuse()",
    ),
}
ALLOW = {
    "sqlite": ("DROP TRIGGER refuse",),
    "postgresql": ("DROP TRIGGER refuse ON targets", "DROP FUNCTION refuse()"),
}


async def test_a_missed_call_is_stored_with_its_callback_or_not_at_all(storage: Storage) -> None:
    dialect = storage.engine.dialect.name
    async with storage.engine.begin() as conn:
        for statement in REFUSE[dialect]:
            await conn.execute(text(statement))
    missed_call = call("m.9", T0, answered=False)
    with pytest.raises(Exception, match="disk full"):
        await storage.callbacks.record_miss(missed_call, missed(T0), T0)
    async with storage.engine.connect() as conn:
        calls = (await conn.execute(select(func.count()).select_from(inbound_calls))).scalar_one()
        opened = (await conn.execute(select(func.count()).select_from(callback_tasks))).scalar_one()
    assert (calls, opened) == (0, 0)  # not the call without its callback, which a replay would then skip

    async with storage.engine.begin() as conn:
        for statement in ALLOW[dialect]:
            await conn.execute(text(statement))
    taken = await storage.callbacks.record_miss(missed_call, missed(T0), T0)
    assert taken is not None and taken.opened and taken.task.target_id is not None
    assert await task_of(storage, "m.9") == taken.task.task_id


async def test_inbound_calls_are_recorded_once_and_found_by_either_id(storage: Storage) -> None:
    inbound = storage.inbound
    assert await inbound.record(call("1795600746.1", T0, answered=True, channel="Local/101@q-0001;1"))
    assert not await inbound.record(call("1795600746.1", T0, answered=False))  # replayed: kept as first seen
    assert await inbound.record(call("1795600746.7", T0 + timedelta(minutes=1), answered=False))
    known = await inbound.known({"1795600746.1", "Local/101@q-0001;1", "nobody", "1795600746.7"})
    assert known == {"1795600746.1", "Local/101@q-0001;1", "1795600746.7"}
    assert await inbound.known(set()) == set()

    first = await inbound.open_gap("c1", T0, "link lost")
    second = await inbound.open_gap("c2", T0 + timedelta(seconds=5), "link lost")
    closed = await inbound.close_gaps(T0 + timedelta(minutes=1))
    assert sorted(closed) == [(first, T0), (second, T0 + timedelta(seconds=5))]
    assert await inbound.close_gaps(T0 + timedelta(minutes=2)) == []

    assert await inbound.mark_of("seen") is None
    await inbound.mark("seen", T0)
    await inbound.mark("seen", T0 + timedelta(hours=1))
    assert await inbound.mark_of("seen") == T0 + timedelta(hours=1)


async def test_the_service_level_reads_a_half_open_period_of_one_clinic(storage: Storage) -> None:
    start, end = T0, T0 + timedelta(hours=1)
    # The callback tasks of two of the missed calls: one opened in the period, one at its end.
    opening = {2: missed(start + timedelta(minutes=30)), 4: missed(end, phone="+79130000000")}
    for n, (at, answered, clinic) in enumerate(
        [
            (start - timedelta(microseconds=1), True, "c1"),  # before the period
            (start, True, "c1"),
            (start + timedelta(minutes=30), False, "c1"),
            (end - timedelta(microseconds=1), True, "c1"),
            (end, False, "c1"),  # the next period's
            (start + timedelta(minutes=10), False, "c2"),  # another clinic's
        ]
    ):
        row = call(f"call.{n}", at, answered=answered, clinic=clinic)
        if n in opening:
            assert await storage.callbacks.record_miss(row, opening[n], start) is not None
        else:
            assert await storage.inbound.record(row)

    calls, tasks = await storage.sla.rows("c1", start, end)
    assert sorted((c.started_at, c.answered, c.waited) for c in calls) == [
        (start, True, 12.5),
        (start + timedelta(minutes=30), False, 40.0),
        (end - timedelta(microseconds=1), True, 12.5),
    ]
    assert [(t.starts_at, t.deadline_at) for t in tasks] == [
        (start + timedelta(minutes=30), start + timedelta(minutes=45))
    ]
    # Ended at or after the instant: the two c1 calls that ended in the last 15 minutes before `end` + 90 s.
    assert await storage.sla.recent("c1", end) == (2, 1)


async def test_users_their_clinics_and_sessions(storage: Storage) -> None:
    users = storage.users
    ids = {}
    for name, clinics in (("ivanova", ("c2", "c1")), ("petrova", ("*",)), ("sidorov", ())):
        ids[name] = await users.add(
            username=name,
            display_name=name.title(),
            role="operator",
            password_hash="hash",
            interfaces=("PJSIP/101", "PJSIP/102") if name == "ivanova" else (),
            clinics=clinics,
            api_token_hash=f"token-{name}" if name == "petrova" else None,
            now=T0,
        )
    with pytest.raises(UserExists):
        await users.add(
            username="ivanova",
            display_name="",
            role="operator",
            password_hash="",
            interfaces=(),
            clinics=(),
            api_token_hash=None,
            now=T0,
        )
    listed = {u.username: (u.clinics, u.interfaces, u.has_api_token) for u in await users.all()}
    assert listed == {
        "ivanova": (frozenset({"c1", "c2"}), ("PJSIP/101", "PJSIP/102"), False),
        "petrova": (frozenset({"*"}), (), True),
        "sidorov": (frozenset(), (), False),
    }

    await users.open_session("s-1", ids["ivanova"], "csrf-1", T0, T0 + timedelta(hours=8))
    await users.open_session("s-2", ids["sidorov"], "csrf-2", T0, T0 + timedelta(minutes=5))
    found = await users.session("s-1", T0 + timedelta(hours=1))
    assert found is not None and found[0].clinics == frozenset({"c1", "c2"}) and found[1] == "csrf-1"
    assert found[0].last_login_at == T0
    assert await users.session("s-2", T0 + timedelta(minutes=5)) is None  # expired at that instant
    assert await users.live_sessions({"s-1", "s-2", "s-9"}, T0 + timedelta(minutes=1)) == {
        "s-1": T0 + timedelta(hours=8),
        "s-2": T0 + timedelta(minutes=5),
    }
    await users.set_disabled("ivanova", True)
    assert await users.session("s-1", T0 + timedelta(hours=1)) is None
    assert await users.live_sessions({"s-1"}, T0) == {}
    assert await users.live_tokens({"token-petrova", "token-x"}) == {"token-petrova"}
    await users.close_session("s-2")
    assert await users.live_sessions({"s-2"}, T0) == {}
