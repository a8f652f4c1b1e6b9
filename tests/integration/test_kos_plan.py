"""The KOS plan over weeks, under a fake clock, on a real SQLite file: the planner, the recall store and the
diary, without Asterisk (the calls' results are written as the call desk writes them).

The customer's rule (Журнал КОС): «Звоним три раза. Меняем дату три раза через неделю», then Отказ with the
reason «не дозвонились».
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from bench.lib.carrier_numbers import TRUNK_DIAL
from dialer.core.clock import FakeClock
from dialer.core.ids import AttemptId
from dialer.core.outcomes import CallResult
from dialer.core.recalls import RecallRecord, RecallStatus
from dialer.core.records import AttemptBatch, AttemptEnd, AttemptRow, AttemptState, TaskKind
from dialer.core.wrapup import WrapupForm
from dialer.engine.kos import KosSource
from dialer.engine.progressive import ProgressiveFlow
from dialer.engine.runner import FlowBasics
from dialer.engine.worklists import DiarySource
from dialer.settings import parse_settings
from dialer.storage.repository import Storage

CONFIG: dict[str, Any] = {
    # What a clinic's trunk dials (nothing is dialled here: the plan only names the trunk on each attempt).
    "trunks": {"carrier": {"dial": TRUNK_DIAL}},
    "clinics": [{"id": "c1", "name": "Клиника", "timezone": "Europe/Moscow", "trunk": "carrier"}],
    "campaigns": {
        "kos": {
            "calls": 3,
            "moves": 3,
            "gap": "7d",
            "window": {"start": "10:00", "end": "19:00", "min_gap": "2h"},
        }
    },
}
# A Monday, 08:00 in Moscow: before the calling window opens.
MONDAY = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
PHONE = "+79161234567"


def flow(storage: Storage, clock: FakeClock) -> tuple[ProgressiveFlow, KosSource, DiarySource]:
    settings = parse_settings(CONFIG)
    kos = KosSource(settings=settings, recalls=storage.recalls, clock=clock)
    diary = DiarySource(settings=settings, store=storage.worklists, clock=clock)
    # Planning only: nothing is dialled here.
    desk: Any = SimpleNamespace(
        pacers={}, attempt_id=lambda campaign, target, n: AttemptId(campaign, target, n, "plan")
    )
    progressive = ProgressiveFlow(
        basics=FlowBasics(
            settings=settings,
            attempts=storage.attempts,
            due=storage.due,
            desk=desk,
            clock=clock,
            wake=lambda: None,  # no due-task worker in this test
        ),
        sources=[kos, diary],
        dispatcher=SimpleNamespace(waiting=0),  # type: ignore[arg-type]
    )
    return progressive, kos, diary


def move_to(clock: FakeClock, at: datetime) -> None:
    if at > clock.now():
        clock.advance(at - clock.now())


async def due_dials(storage: Storage, campaign: str) -> list[tuple[str, datetime]]:
    far = datetime(2100, 1, 1, tzinfo=UTC)
    tasks = await storage.due.claim_due(far, {(TaskKind.DIAL, campaign): 100}, "test")
    for task in tasks:
        await storage.due.finish(task.task_id, cancelled=True)
    return [(t.task_id, t.due_at) for t in tasks]


async def call_not_answered(storage: Storage, task_id: str, at: datetime) -> None:
    """What the call desk writes for a call the patient did not pick up."""
    attempt = AttemptId.of_due_task(task_id)
    row = AttemptRow(
        str(attempt), "c1", attempt.target, attempt.n, PHONE, "carrier", AttemptState.DIALING, at
    )
    await storage.attempts.create(row)
    end = AttemptEnd(
        str(attempt), at + timedelta(seconds=30), 3, 19, CallResult.NO_ANSWER, False, str(attempt)
    )
    await storage.attempts.apply(AttemptBatch(ends=[end]))


async def recall(storage: Storage) -> Any:
    (row,) = await storage.recalls.export()
    return row


async def work_a_day(storage: Storage, progressive: ProgressiveFlow, clock: FakeClock) -> list[datetime]:
    """Plan the day's KOS; let every call ring out unanswered, at the time the planner set; return those times."""
    await progressive.prepare_day()
    times = []
    for _ in range(10):
        dials = await due_dials(storage, "kos")
        if not dials:
            break
        ((task_id, at),) = dials
        move_to(clock, at)
        await call_not_answered(storage, task_id, at)
        times.append(at)
        await progressive.plan("kos", AttemptId.of_due_task(task_id).target)
    return times


async def test_a_patient_never_reached_moves_a_week_three_times_then_is_refused(storage: Storage) -> None:
    clock = FakeClock(MONDAY)
    progressive, _, _ = flow(storage, clock)
    await storage.recalls.upsert(
        [
            RecallRecord(
                "c1",
                "K-1",
                "P-1",
                "Иванов Иван",
                PHONE,
                "Петрова А. А.",
                "Контроль пломбы",
                MONDAY.date(),
                RecallStatus.CALL,
                planned=True,
            )
        ],
        MONDAY,
    )
    days = []
    for week in range(4):
        monday = MONDAY + timedelta(days=7 * week)
        move_to(clock, monday)
        times = await work_a_day(storage, progressive, clock)
        # Three calls a round, inside 10:00-19:00 Moscow time, at least two hours apart.
        assert len(times) == 3, (week, times)
        local = [t.astimezone(parse_settings(CONFIG).clinic("c1").timezone) for t in times]
        assert all(10 <= t.hour < 19 for t in local)
        assert all(b - a >= timedelta(hours=2) for a, b in itertools.pairwise(times))
        days.append(local[0].date())
        row = await recall(storage)
        if week < 3:
            assert (row.status, row.moves, row.reason) == (RecallStatus.CALL, week + 1, "не берёт трубку")
            assert row.target_day == MONDAY.date() + timedelta(days=7 * (week + 1))
            # Nothing is dialled before the new date.
            move_to(clock, monday + timedelta(days=3))
            await progressive.prepare_day()
            assert await due_dials(storage, "kos") == []
    assert days == [MONDAY.date() + timedelta(days=7 * w) for w in range(4)]
    row = await recall(storage)
    assert (row.status, row.reason, row.moves) == (RecallStatus.REFUSED, "не дозвонились", 3)
    # Every change went to the outbox for the clinic's system: three moves and the refusal.
    events = await storage.outbox.due(clock.now() + timedelta(days=1), limit=50)
    assert [e.kind for e in events] == ["kos.status"] * 4
    assert '"status": "refused"' in events[-1].payload


async def test_the_plan_calls_only_the_senior_administrators_number_a_day(storage: Storage) -> None:
    clock = FakeClock(MONDAY)
    settings = {**CONFIG, "clinics": [{**CONFIG["clinics"][0], "kos_per_day": 2}]}
    kos = KosSource(settings=parse_settings(settings), recalls=storage.recalls, clock=clock)
    records = [
        RecallRecord(
            "c1", f"K-{i}", f"P-{i}", "Пациент", f"+7916123450{i}", "Врач", "", MONDAY.date() - timedelta(days=i),
            RecallStatus.CALL, planned=i != 4,
        )
        for i in range(5)
    ]  # fmt: skip
    await storage.recalls.upsert(records, MONDAY)
    first = await kos.day_targets("c1", MONDAY)
    assert len(first) == 2
    # Asking again the same day gives the same two, not two more.
    clock.advance(timedelta(hours=3))
    assert sorted(await kos.day_targets("c1", clock.now())) == sorted(first)
    # The oldest dates come first; the unplanned patient (K-4) is never called.
    rounds = {(await storage.recalls.by_target(t))[0].external_id for t in first}  # type: ignore[index]
    assert rounds == {"K-3", "K-2"}
    # A round not worked today carries over to tomorrow, inside the same number a day.
    clock.advance(timedelta(days=1))
    assert sorted(await kos.day_targets("c1", clock.now())) == sorted(first)
    for target in first:
        await storage.recalls.close_round(target, "contacted", clock.now())
    clock.advance(timedelta(days=1))
    after = await kos.day_targets("c1", clock.now())
    assert len(after) == 2 and not set(after) & set(first)


async def test_remind_later_in_the_diary_comes_back_on_its_date(storage: Storage) -> None:
    clock = FakeClock(MONDAY)
    progressive, _, diary = flow(storage, clock)
    thursday = MONDAY.date() + timedelta(days=3)
    await storage.worklists.add_diary("c1", PHONE, None, thursday, "перезвонить после отпуска", MONDAY)
    for day in range(3):
        move_to(clock, MONDAY + timedelta(days=day))
        await progressive.prepare_day()
        assert await due_dials(storage, "diary") == []
    move_to(clock, MONDAY + timedelta(days=3))
    await progressive.prepare_day()
    ((task_id, at),) = await due_dials(storage, "diary")
    target = AttemptId.of_due_task(task_id).target
    entry = await storage.worklists.diary_entry(target)
    assert entry is not None and entry.comment == "перезвонить после отпуска"
    assert at.astimezone(parse_settings(CONFIG).clinic("c1").timezone).date() == thursday
    # The administrator's wrap-up closes the entry.
    await diary.wrapped_up(target, WrapupForm("booked", "", "", visit_day=date(2026, 12, 10)), "anna")
    done = await storage.worklists.diary_entry(target)
    assert done is not None and done.state == "done"
