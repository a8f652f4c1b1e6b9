"""The figures: each answer's verdict from the service's detector (replayed on the call's TALK_DETECT events) and
from app_amd, against what the answer truly was."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.amd.answers import Truth
from bench.amd.calls import LISTEN_S, ProbeCall
from dialer.core.amd import AmdSettings, Verdict, decide_all


@dataclass(frozen=True)
class Scored:
    truth: Truth
    label: str
    ours: Verdict | None
    ours_s: float | None
    amd_status: str
    amd_s: float | None


def score(calls: list[ProbeCall], settings: AmdSettings) -> tuple[list[Scored], int]:
    """The answered calls' verdicts, and how many calls were never answered (left out)."""
    scored: list[Scored] = []
    unanswered = 0
    for call in calls:
        answered = call.answered_at
        if answered is None:
            unanswered += 1
            continue
        decision = decide_all(answered, call.talk_events(), settings, until=answered + LISTEN_S)
        amd = call.app_amd()
        scored.append(
            Scored(
                call.answer.truth,
                call.answer.label,
                decision.verdict if decision else None,
                decision.after_answer_s(answered) if decision else None,
                amd[0] if amd else "",
                amd[2] - answered if amd else None,
            )
        )
    return scored, unanswered


@dataclass(frozen=True)
class Figures:
    machines_found: float
    people_as_machine: float
    median_decision_s: float
    amd_machines_found: float
    amd_people_as_machine: float
    amd_median_s: float


def figures(rows: list[Scored]) -> Figures:
    machines = [r for r in rows if r.truth.is_machine]
    people = [r for r in rows if r.truth is Truth.PERSON]

    def ours(rs: list[Scored]) -> float:
        return sum(1 for r in rs if r.ours is Verdict.MACHINE) / len(rs) if rs else 0.0

    def amd(rs: list[Scored]) -> float:
        return sum(1 for r in rs if r.amd_status == "MACHINE") / len(rs) if rs else 0.0

    decided = [r.ours_s for r in rows if r.ours_s is not None]
    amd_decided = [r.amd_s for r in rows if r.amd_s is not None]
    return Figures(
        ours(machines),
        ours(people),
        statistics.median(decided) if decided else float("nan"),
        amd(machines),
        amd(people),
        statistics.median(amd_decided) if amd_decided else float("nan"),
    )


def by_truth(rows: list[Scored]) -> list[list[str]]:
    """One table row per kind of answer: how many, taken for machines by each, decision times."""
    table: list[list[str]] = []
    for truth in Truth:
        rs = [r for r in rows if r.truth is truth]
        if not rs:
            continue
        ours_m = sum(1 for r in rs if r.ours is Verdict.MACHINE)
        amd_m = sum(1 for r in rs if r.amd_status == "MACHINE")
        times = [r.ours_s for r in rs if r.ours_s is not None]
        amd_times = [r.amd_s for r in rs if r.amd_s is not None]
        table.append(
            [
                truth.value,
                str(len(rs)),
                f"{ours_m} ({ours_m / len(rs):.2f})",
                f"{statistics.median(times):.1f}" if times else "-",
                f"{amd_m} ({amd_m / len(rs):.2f})",
                f"{statistics.median(amd_times):.1f}" if amd_times else "-",
            ]
        )
    return table


def misses(rows: list[Scored]) -> list[str]:
    """The answers our detector got wrong, by label (what it said, when)."""
    wrong = [r for r in rows if (r.ours is Verdict.MACHINE) != r.truth.is_machine]
    return [f"{r.label}: {r.ours} at {r.ours_s if r.ours_s is None else round(r.ours_s, 1)} s" for r in wrong]
