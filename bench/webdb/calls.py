"""The generated chain's calls: inbound calls answered and missed, their wrap-ups, the callbacks they make."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bench.webdb.base import SPILL_EVERY, RowsBase
from bench.webdb.hours import local_day
from bench.webdb.volume import (
    QUEUE,
    day_text,
    did_of,
    operator_interface,
    ts,
)


@dataclass
class CallbackOutcome:
    """Where one callback task stands: its first attempt's instant, how many attempts, how it closed."""

    first: float
    attempts: int
    contacted: bool
    state: str = "contacted"
    close: str | None = "callback_answered"
    first_at: float | None = None
    contacted_at: float | None = None
    closed_at: float | None = None


class CallRows(RowsBase):
    """The inbound calls of the window, and the contacts, callback tasks, attempts and SMS that follow from them."""

    def make_inbound(self) -> None:
        v, rng = self.v, self.rng
        total = round(v.missed / v.miss_share)
        starts = self.hours.instants(total)
        missed = set(rng.sample(range(total), v.missed))
        for i, started in enumerate(starts):
            if i % SPILL_EVERY == 0:
                self.spill()
            clinic = self.clinic()
            r = rng.random()
            if r < 0.05:
                caller = ""
            elif r < 0.75:
                caller = rng.choice(self.by_clinic[clinic]).phone
            else:
                caller = self.mobile()
            call_id = f"{int(started)}.{i}"
            if i in missed:
                self.missed_call(call_id, clinic, caller, started)
            else:
                self.answered_call(call_id, clinic, caller, started)

    def answered_call(self, call_id: str, clinic: str, caller: str, started: float) -> None:
        rng = self.rng
        waited = min(rng.expovariate(1 / 12.0), 300.0)
        answered = started + waited
        ended = min(answered + 20 + rng.expovariate(1 / 150.0), self.t_now - 0.5)
        agent = rng.randrange(self.v.operators)
        self.tables["inbound_calls"].append(
            (
                call_id,
                clinic,
                did_of(clinic),
                QUEUE,
                caller,
                call_id,
                int(not caller),
                ts(started),
                ts(answered),
                ts(ended),
                round(waited, 2),
                operator_interface(agent),
                None,
                None,
                "live",
            )
        )
        if rng.random() < 0.8 and caller:
            self.contact(clinic, caller, "in", "", agent + 1, call_id, ended - answered, ended)

    def contact(
        self,
        clinic: str,
        phone: str,
        direction: str,
        flags: str,
        user_id: int,
        call_ref: str,
        talk: float,
        ended: float,
    ) -> None:
        rng = self.rng
        wrap = rng.uniform(10, 90)
        created = min(ended + wrap, self.t_now - 0.1)
        result = rng.choices(("booked", "call_again", "refused", "no_result"), (45, 15, 10, 30))[0]
        reason = {"call_again": "просил перезвонить", "refused": "дорого"}.get(result, "")
        follow = (
            day_text(local_day(created) + timedelta(days=rng.randint(1, 20))) if result == "booked" else None
        )
        self.tables["contacts"].append(
            (
                clinic,
                phone,
                None,
                direction,
                flags,
                user_id,
                call_ref,
                result,
                reason,
                "" if rng.random() < 0.7 else "перезвонить после 18:00",
                follow,
                round(talk, 1),
                round(wrap, 1),
                ts(created),
            )
        )

    def missed_call(self, call_id: str, clinic: str, caller: str, started: float) -> None:
        rng = self.rng
        waited = rng.uniform(5, 120)
        ended = min(started + waited, self.t_now - 0.5)
        reason = rng.choices(
            ("abandoned", "queue_timeout", "ivr_hangup", "not_answered", "after_hours"), (60, 20, 10, 5, 5)
        )[0]
        task_id = None
        if caller:
            self.task_seq += 1
            task_id = self.task_seq
            self.callback(task_id, clinic, caller, call_id, ended, reason == "after_hours")
        self.tables["inbound_calls"].append(
            (
                call_id,
                clinic,
                did_of(clinic),
                QUEUE,
                caller,
                call_id,
                int(not caller),
                ts(started),
                None,
                ts(ended),
                round(waited, 2),
                "",
                reason,
                task_id,
                "live",
            )
        )

    def callback_outcome(self, missed_at: float) -> CallbackOutcome:
        """How a missed call's callback went, as of now: open and counting down, contacted, or not reached."""
        rng = self.rng
        first = missed_at + min(rng.lognormvariate(5.5, 0.6), 3 * 3600)  # median ~4 min, ~92 % within 15
        o = CallbackOutcome(first, attempts=1 if rng.random() < 0.6 else 2, contacted=rng.random() < 0.7)
        if first > self.t_now:  # not tried yet: open, counting down
            o.state, o.close, o.attempts = "open", None, 0
            return o
        o.first_at = first
        last = first + (o.attempts - 1) * 180
        if last > self.t_now:
            o.attempts, last = 1, first
        if o.contacted:
            o.contacted_at = o.closed_at = last + 60
        else:
            o.state, o.close = "not_reached", "not_reached"
            o.closed_at = last + 60
        if o.closed_at is not None and o.closed_at > self.t_now:
            o.state, o.close, o.contacted_at, o.closed_at = "open", None, None, None
        return o

    def callback_rows(
        self, task_id: int, clinic: str, phone: str, call_id: str, missed_at: float, after: bool
    ) -> tuple[int, CallbackOutcome]:
        """The callback task of a missed call and its target; the target's id and how the task went."""
        o = self.callback_outcome(missed_at)
        self.target_seq += 1
        target = self.target_seq
        stamps = [ts(at) if at else None for at in (o.first_at, o.contacted_at, o.closed_at)]
        self.tables["callback_tasks"].append(
            (task_id, clinic, phone, o.state, "after_hours" if after else "abandoned", 1, call_id, ts(missed_at),
             ts(missed_at), ts(missed_at), ts(missed_at + 900), int(after), target, *stamps, o.close)
        )  # fmt: skip
        self.tables["targets"].append(
            (target, clinic, "callback", str(task_id), "", phone, "done" if o.state != "open" else "active",
             o.close, ts(missed_at), ts(o.closed_at or missed_at))
        )  # fmt: skip
        return target, o

    def callback(
        self, task_id: int, clinic: str, phone: str, call_id: str, missed_at: float, after: bool
    ) -> None:
        rng = self.rng
        target, o = self.callback_rows(task_id, clinic, phone, call_id, missed_at, after)
        state, attempts, contacted = o.state, o.attempts, o.contacted
        first, first_at, contacted_at, closed_at = o.first, o.first_at, o.contacted_at, o.closed_at
        for n in range(1, attempts + 1):
            at = (first_at or 0) + (n - 1) * 180
            answered = contacted and n == attempts
            self.attempt(
                f"callback:{target}:{n}",
                clinic,
                target,
                n,
                phone,
                at,
                answered,
                digit=None,
                leg="ANSWER" if answered else rng.choice(("NOANSWER", "BUSY")),
            )
        if state == "not_reached":
            self.sms(f"callback:{target}:sms", clinic, target, phone, closed_at or first)
        if contacted_at:
            self.contact(
                clinic,
                phone,
                "out",
                "Мы звоним",
                rng.randrange(self.v.operators) + 1,
                f"callback:{target}:{attempts}",
                rng.uniform(30, 300),
                contacted_at,
            )
