"""A batch of follow-ups is written in runs of one kind, as few as each target's own order allows: on
PostgreSQL each run is a round trip. Each target's writes keep their order, but for its admin tasks and freed
slots, whose rows nothing else touches; other targets' writes may pass. A key its target's finish follows is
written with the finish, leaving the visit as the two would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from dialer.core.followups import (
    FinishTarget,
    FollowUpWrite,
    FreeSlot,
    OpenAdminTask,
    ScheduleDue,
    SetVisitStatus,
    in_kind_runs,
    keys_into_finishes,
)
from dialer.core.records import DueTask, ReminderStatus, TaskKind

AT = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def key(target: int, digit: str = "1") -> SetVisitStatus:
    return SetVisitStatus(target, "c1", f"B{target}", ReminderStatus.CONFIRMED, digit, AT)


def admin_task(target: int) -> OpenAdminTask:
    return OpenAdminTask(target, "c1", f"B{target}", f"P{target}", "reschedule", f"src{target}", "", AT)


def freed(target: int) -> FreeSlot:
    return FreeSlot(target, "c1", f"B{target}", AT)


def due(target: int) -> ScheduleDue:
    return ScheduleDue(DueTask(f"reminders:{target}:2", "c1", TaskKind.DIAL, "reminders", target, AT))


def finish(target: int) -> FinishTarget:
    return FinishTarget(target, "c1", f"B{target}", ReminderStatus.CONFIRMED, "settled", AT)


def target_of(write: FollowUpWrite) -> int:
    return write.task.target_id if isinstance(write, ScheduleDue) else write.target_id


def flat(runs: Sequence[Sequence[FollowUpWrite]]) -> list[FollowUpWrite]:
    return [w for run in runs for w in run]


def test_a_burst_of_keys_and_hangups_is_a_few_runs_not_one_per_call() -> None:
    writes: list[FollowUpWrite] = []
    for target in range(1, 101):
        if target % 3 == 0:
            writes += [key(target, "2"), admin_task(target), freed(target), finish(target)]
        elif target % 3 == 1:
            writes += [key(target), finish(target)]
        else:
            writes.append(due(target))
    runs = in_kind_runs(writes)
    assert [type(run[0]) for run in runs] == [
        SetVisitStatus,
        OpenAdminTask,
        FreeSlot,
        ScheduleDue,
        FinishTarget,
    ]
    assert sorted(map(id, flat(runs))) == sorted(map(id, writes))


def test_a_targets_final_status_follows_its_key_even_where_others_finish_first() -> None:
    writes: list[FollowUpWrite] = [finish(1), key(2), finish(2)]
    assert flat(in_kind_runs(writes)) == [key(2), finish(1), finish(2)]


KINDS: tuple[Callable[[int], FollowUpWrite], ...] = (key, admin_task, freed, due, finish)


@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(min_value=1, max_value=6)), max_size=40))
def test_every_write_is_kept_and_each_targets_own_order_too(
    made: list[tuple[Callable[[int], FollowUpWrite], int]],
) -> None:
    writes = [make(target) for make, target in made]
    runs = in_kind_runs(writes)
    assert all(run and all(type(w) is type(run[0]) for w in run) for run in runs)
    assert all(type(a[0]) is not type(b[0]) for a, b in pairwise(runs))
    out = flat(runs)
    assert sorted(map(id, out)) == sorted(map(id, writes))
    for target in {target_of(w) for w in writes}:
        # Admin tasks and freed slots touch rows no other write does: only the rest keeps its order.
        ordered = [
            w
            for w in writes
            if target_of(w) == target and type(w) in (SetVisitStatus, ScheduleDue, FinishTarget)
        ]
        assert [w for w in out if w in ordered] == ordered


def no_key(target: int) -> SetVisitStatus:
    return SetVisitStatus(target, "c1", f"B{target}", ReminderStatus.CALLING, None, AT)


def test_a_key_its_finish_follows_is_written_with_the_finish() -> None:
    writes: list[FollowUpWrite] = [key(1, "2"), admin_task(1), freed(1), key(2), finish(2), finish(1)]
    assert keys_into_finishes(writes) == [
        admin_task(1),
        freed(1),
        FinishTarget(2, "c1", "B2", ReminderStatus.CONFIRMED, "settled", AT, digit="1"),
        FinishTarget(1, "c1", "B1", ReminderStatus.CONFIRMED, "settled", AT, digit="2"),
    ]


def test_of_two_keys_before_a_finish_the_last_is_written_with_it() -> None:
    two_keys: list[FollowUpWrite] = [key(1, "1"), key(1, "3"), finish(1)]
    assert keys_into_finishes(two_keys) == [
        key(1, "1"),
        FinishTarget(1, "c1", "B1", ReminderStatus.CONFIRMED, "settled", AT, digit="3"),
    ]
    assert keys_into_finishes([no_key(1), finish(1)]) == [finish(1)]


Visits = dict[str, tuple[str | None, str | None]]  # appointment -> (reminder status, key)


def visits_after(writes: Sequence[FollowUpWrite]) -> Visits:
    """What the statements leave on the appointments, each write in the order given."""
    visits: Visits = {}
    for w in writes:
        if isinstance(w, SetVisitStatus):
            status, digit = visits.get(w.appointment_id, (None, None))
            visits[w.appointment_id] = (w.status.value if w.status else status, w.digit or digit)
        elif isinstance(w, FinishTarget):
            _, digit = visits.get(w.appointment_id, (None, None))
            visits[w.appointment_id] = (w.status.value, w.digit or digit)
    return visits


KEYS: tuple[Callable[[int], FollowUpWrite], ...] = (
    *KINDS,
    no_key,
    lambda target: key(target, "3"),
)


@given(st.lists(st.tuples(st.sampled_from(KEYS), st.integers(min_value=1, max_value=4)), max_size=30))
def test_folding_keys_into_finishes_leaves_every_visit_as_the_writes_one_by_one(
    made: list[tuple[Callable[[int], FollowUpWrite], int]],
) -> None:
    writes = [make(target) for make, target in made]
    folded = keys_into_finishes(writes)
    assert visits_after(flat(in_kind_runs(folded))) == visits_after(writes)
    assert [w for w in folded if not isinstance(w, (SetVisitStatus, FinishTarget))] == [
        w for w in writes if not isinstance(w, (SetVisitStatus, FinishTarget))
    ]
    assert sum(isinstance(w, FinishTarget) for w in folded) == sum(
        isinstance(w, FinishTarget) for w in writes
    )
