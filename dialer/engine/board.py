"""The senior administrator's live board for one clinic: built in one go, pushed to their screens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from dialer.core.alerts import NEWS_KINDS, AlertRow
from dialer.core.board_reads import BoardReads
from dialer.core.board_view import (
    AdminState,
    AheadView,
    BoardMessage,
    Funnel,
    OpenCallback,
    PbxDown,
    Tiles,
    pbx_down_text,
)
from dialer.core.callback_priority import AheadLog, AheadOfQueue
from dialer.core.clock import Clock
from dialer.core.inbound import MissReason
from dialer.core.privacy import mask_phone
from dialer.core.queues import QueueState
from dialer.core.records import ReminderStatus
from dialer.core.sla import ANSWER_TARGET_SECONDS, Figures
from dialer.core.sla_sums import hour_starts, summed_day
from dialer.engine.funnel_watch import FunnelWatch
from dialer.engine.pbx_gates import PbxGates
from dialer.settings import ClinicSettings, Settings

MISSED_TARGET = (5.0, 8.0)  # the checklist's goal for missed calls, per cent
RISK_AMBER = timedelta(minutes=5)


def risk(seconds_left: float) -> str:
    if seconds_left < 0:
        return "breach"
    return "amber" if seconds_left < RISK_AMBER.total_seconds() else "green"


@dataclass
class Board:
    settings: Settings
    queues: QueueState
    reads: BoardReads  # the database's rows behind one board, read together
    clock: Clock
    ahead: AheadLog | None = None  # callbacks served ahead of the queue close to their deadline
    gates: PbxGates | None = None  # with several Asterisks: which one is down, and since when
    funnels: FunnelWatch = field(init=False)

    def __post_init__(self) -> None:
        self.funnels = FunnelWatch(self.reads.funnel, self.clock)

    async def snapshot(self, clinic: ClinicSettings) -> BoardMessage:
        now = self.clock.now()
        today = now.astimezone(clinic.timezone).date()
        tomorrow = today + timedelta(days=1)
        end = datetime.combine(tomorrow, time(0), clinic.timezone)
        hours = hour_starts(today, clinic.timezone)
        read = await self.reads.board_rows(clinic.id, hours, end, ANSWER_TARGET_SECONDS)
        summary = await self.funnels.summary(clinic.id, tomorrow)
        whole_day, by_hour = summed_day(read.sums, read.tasks, clinic.timezone, now)
        queues = clinic.live_queues
        admins: list[AdminState] = [
            {"interface": i, "name": read.names.get(i, i), "state": s.value, "label": s.label}
            for i, s in sorted(self.queues.admins(queues, now).items())
        ]
        open_tasks: list[OpenCallback] = []
        for task in read.open_tasks:
            left = (task.deadline_at - now).total_seconds()
            open_tasks.append(
                {
                    "task_id": task.task_id,
                    "phone": mask_phone(task.phone),
                    "missed_count": task.missed_count,
                    "reason": MissReason(task.reason).label
                    if task.reason in MissReason._value2member_map_
                    else task.reason,
                    "deadline_at": task.deadline_at.isoformat(),
                    "seconds_left": int(left),
                    "risk": risk(left),
                    "attempted": task.first_attempt_at is not None,
                }
            )
        message: BoardMessage = {
            "type": "board",
            "clinic": clinic.id,
            "at": now.isoformat(),
            "tz": clinic.timezone.key,
            "tiles": _tiles(
                whole_day,
                self.queues.waiting_count(queues),
                self.queues.longest_wait(queues, now),
                len(open_tasks),
            ),
            "callbacks": open_tasks,
            "admins": admins,
            "campaign": _funnel(summary.statuses, summary.attempts, summary.sms, summary.total),
            "hours": {h: f.as_dict() for h, f in by_hour.items()},
            "alerts": [
                {
                    "kind": a.kind.value,
                    "label": a.kind.label,
                    "detail": a.detail,
                    "raised_at": a.raised_at.isoformat(),
                }
                for a in read.alerts
                if _current(a, now)
            ],
        }
        if self.ahead is not None:
            start_of_day = datetime.combine(today, time(0), clinic.timezone)
            message["ahead_of_queue"] = _ahead(self.ahead.since(clinic.id, start_of_day))
        if self.gates is not None:
            message["pbx_down"] = self._pbx_down(self.gates, clinic)
        return message

    def _pbx_down(self, gates: PbxGates, clinic: ClinicSettings) -> list[PbxDown]:
        """The clinic's own Asterisk, while it is down, with every clinic that waits for it."""
        name = gates.pbx_of(clinic.id)
        since = gates.down_since.get(name)
        if since is None:
            return []
        at = since.astimezone(clinic.timezone).strftime("%H:%M")
        names = [f"«{self.settings.clinic(c).name}»" for c in gates.clinics_of(name)]
        return [{"pbx": name, "since": since.isoformat(), "text": pbx_down_text(name, at, names)}]


def _ahead(entries: list[AheadOfQueue]) -> AheadView:
    return {"count": len(entries), "last_at": entries[-1].at.isoformat() if entries else None}


# A low survey rating or a class A complaint is news, not a condition that clears: the board shows it for a day.
NEWS_FOR = timedelta(days=1)


def _current(alert: AlertRow, now: datetime) -> bool:
    return alert.kind not in NEWS_KINDS or now - alert.raised_at < NEWS_FOR


def _tiles(day: Figures, waiting: int, longest: float, open_callbacks: int) -> Tiles:
    return {
        "waiting": waiting,
        "longest_wait": round(longest),
        "answered_in_target_pct": day.answered_in_target_pct,
        "missed_pct": day.missed_pct,
        "missed_target": MISSED_TARGET,
        "missed_ok": day.missed_pct <= MISSED_TARGET[1],
        "calls": day.calls,
        "missed": day.missed,
        "open_callbacks": open_callbacks,
        "breaches": day.breaches,
        "callbacks_in_deadline_pct": day.first_attempt_in_deadline_pct,
    }


def _funnel(statuses: dict[str, int], attempts: dict[str, int], sms: dict[str, int], total: int) -> Funnel:
    reached = sum(
        statuses.get(s.value, 0)
        for s in (
            ReminderStatus.CONFIRMED,
            ReminderStatus.CANCELLED,
            ReminderStatus.TO_ADMIN,
            ReminderStatus.REACHED,
        )
    )
    return {
        "due": total,
        "dialled": attempts.get("ended", 0),
        "reached": reached,
        "confirmed": statuses.get(ReminderStatus.CONFIRMED.value, 0),
        "cancelled": statuses.get(ReminderStatus.CANCELLED.value, 0),
        "sms_sent": sum(sms.get(k, 0) for k in ("queued", "sending", "sent", "delivered", "undelivered")),
        "sms_delivered": sms.get("delivered", 0),
    }
