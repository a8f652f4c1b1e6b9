"""What the reminder flow writes after its calls: the patients' answers and each target's next step, as data.

The flow decides a whole batch of finished calls in memory and hands the writes to the store in the order it
decided them; the store applies them in one transaction, so that a batch is written whole or not at all. Every
write is safe to repeat (statuses and finishes set values, admin tasks, freed slots and due tasks are keyed): a batch
replayed after a crash changes nothing twice, and a due task already run stays done, so nobody is dialled or
texted twice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import groupby
from typing import Protocol

from dialer.core.records import AttemptRow, DueTask, ReminderStatus, ReminderTarget


@dataclass(frozen=True)
class SetVisitStatus:
    """The appointment's reminder status (None: unchanged) and the key the patient pressed (None: unchanged)."""

    target_id: int
    clinic_id: str
    appointment_id: str
    status: ReminderStatus | None
    digit: str | None
    at: datetime


@dataclass(frozen=True)
class OpenAdminTask:
    """A task for the administrators about the target's appointment, once per (kind, source)."""

    target_id: int
    clinic_id: str
    appointment_id: str
    patient_id: str
    kind: str
    source: str
    comment: str
    at: datetime


@dataclass(frozen=True)
class ScheduleDue:
    """The target's next dial or SMS, as a due task under its deterministic id."""

    task: DueTask


@dataclass(frozen=True)
class FinishTarget:
    """The final reminder status, and no more calls about the target; with the key pressed on the call that led
    to it when the two are written as one (keys_into_finishes; None: the visit's key stays as it is)."""

    target_id: int
    clinic_id: str
    appointment_id: str
    status: ReminderStatus
    reason: str
    at: datetime
    digit: str | None = None


@dataclass(frozen=True)
class FreeSlot:
    """A cancelled visit whose slot is to be offered to the waiting list, kept until it has been."""

    target_id: int
    clinic_id: str
    appointment_id: str
    at: datetime


FollowUpWrite = SetVisitStatus | OpenAdminTask | ScheduleDue | FinishTarget | FreeSlot

# The order kinds go in among writes that may move past each other.
_KIND_ORDER: dict[type, int] = {
    SetVisitStatus: 0,
    OpenAdminTask: 1,
    FreeSlot: 2,
    ScheduleDue: 3,
    FinishTarget: 4,
}
# Kinds whose rows no other kind of write touches (each its own table, each row keyed): they need no place in
# their target's order.
_ANY_PLACE: frozenset[type] = frozenset({OpenAdminTask, FreeSlot})


def in_kind_runs(writes: Sequence[FollowUpWrite]) -> list[list[FollowUpWrite]]:
    """The writes in runs of one kind, as few runs as each target's own order allows; each run is written as
    one statement, which on PostgreSQL is one round trip.

    A target's writes keep their order: its final status after the key that led to it. Writes of different
    targets touch different rows (each target has its own appointment, its own due tasks and its own admin
    tasks), so they may pass each other: the n-th writes of all targets go before the (n+1)-th, kind by kind.
    An admin task or a freed slot goes with the first writes whatever its place.
    """
    nth: dict[int, int] = {}
    ranked: list[tuple[int, int, int, FollowUpWrite]] = []
    for i, write in enumerate(writes):
        kind = type(write)
        if kind in _ANY_PLACE:
            rank = 0
        else:
            target_id = write.task.target_id if isinstance(write, ScheduleDue) else write.target_id
            rank = nth.get(target_id, 0)
            nth[target_id] = rank + 1
        ranked.append((rank, _KIND_ORDER[kind], i, write))
    ranked.sort(key=lambda r: (r[0], r[1], r[2]))
    return [list(run) for _, run in groupby((r[3] for r in ranked), key=type)]


def keys_into_finishes(writes: Sequence[FollowUpWrite]) -> list[FollowUpWrite]:
    """The writes with each visit's key folded into the finish that follows it: the visit's row is updated once,
    not twice, and left as the two writes in order leave it (the final status overwrites the key's status, the
    key stays). A burst of finished calls (a backlog read at once) brings most keys beside their call's finish.

    Of two keys before one finish, the last is folded: the first stays, and the finish's key builds on it. Only
    keys and finishes touch the visit's row, so the writes between them do not matter.
    """
    out: list[FollowUpWrite | None] = list(writes)
    # (clinic, appointment) -> the visit's last key not yet folded, and its place
    keys: dict[tuple[str, str], tuple[int, SetVisitStatus]] = {}
    for i, write in enumerate(writes):
        if isinstance(write, SetVisitStatus):
            keys[(write.clinic_id, write.appointment_id)] = (i, write)
        elif (
            isinstance(write, FinishTarget)
            and (found := keys.pop((write.clinic_id, write.appointment_id), None)) is not None
        ):
            k, key = found
            digit = write.digit if write.digit is not None else key.digit
            out[k], out[i] = None, replace(write, digit=digit)
    return [w for w in out if w is not None]


@dataclass(frozen=True)
class TargetView:
    """A target as the flow decides on it: the reminder and its attempts so far, in attempt order."""

    target: ReminderTarget
    history: list[AttemptRow]


class FollowUpStore(Protocol):
    async def follow_up_view(self, target_ids: Collection[int]) -> Mapping[int, TargetView]:
        """The targets that exist among `target_ids`, each with its attempts, read together."""
        ...

    async def write_follow_ups(self, writes: Sequence[FollowUpWrite]) -> None:
        """Every write in one transaction; each target's writes in the order given (in_kind_runs)."""
        ...
