"""The KOS benchmark's report: progressive against the preview baseline of the same run; saving and loading a run."""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.kos.measure import (
    Figures,
    figures,
    observe,
)
from bench.kos.world import (
    ADMINS,
    BEHAVIOURS,
    ModeRun,
    Patient,
    Scale,
)
from bench.lib.rawami import Frame
from bench.lib.report import column_rows, print_table

Row = tuple[str, Callable[["Figures"], str]]


def table(columns: list[Figures], rows: list[Row]) -> None:
    print_table([f.mode for f in columns], column_rows(columns, rows))


def progressive_only(show: Callable[[Figures], str]) -> Callable[[Figures], str]:
    return lambda f: show(f) if f.mode == "progressive" else "n/a"


def report(
    runs: dict[str, ModeRun], figs: dict[str, Figures], scale: Scale, args: argparse.Namespace
) -> None:
    first = next(iter(runs.values()))
    mix = Counter(BEHAVIOURS.get(p.behaviour, p.behaviour) for p in first.patients)
    talks = [p.talk for p in first.patients]
    print(
        f"\n{' vs '.join(figs)}: {len(first.patients)} patients each "
        f"({', '.join(f'{k} {v}' for k, v in mix.items())}), {len(ADMINS)} administrators "
        f"({ADMINS[0]}..{ADMINS[-1]}), compressed x{scale.factor:g}"
    )
    print(
        f"  talk {min(talks):.1f}-{max(talks):.1f} s (mean {statistics.mean(talks):.1f} s = "
        f"{statistics.mean(talks) * scale.factor:.0f} s real), card {scale.wall(scale.card_real):.1f} s, "
        f"ring timeout {scale.ring_timeout_wall:.1f} s; progressive: wait_for_admin "
        f"{args.wait_for_admin} s, pacing {args.pacing} (lookahead "
        f"{args.lookahead:g} s, ratio {args.ratio:g}), drop_cap {args.drop_cap:g} %, "
        f"trunk max_channels {args.max_channels}, queue {args.queue}"
    )
    table(
        list(figs.values()),
        [
            ("calls placed", lambda f: str(f.calls)),
            ("  answered", lambda f: str(f.answered)),
            ("  busy or no answer", lambda f: str(f.busy_or_no_answer)),
            ("put through to an administrator", lambda f: str(f.reached)),
            ("  a patient (reached)", lambda f: str(f.reached_people)),
            ("  a voicemail or an assistant", lambda f: str(f.machines_put_through)),
            ("dropped (answered, never reached one)", lambda f: str(f.drops)),
            ("  of which UserEvent DialerCallback DROPPED", lambda f: str(f.dropped_events)),
            ("drop rate (target <= 3 %)", lambda f: f"{f.drop_rate:.1f} %"),
            ("logged-in window (wall s, each admin)", lambda f: f"{f.window:.1f}"),
            ("talk, all administrators (wall s)", lambda f: f"{sum(f.talk.values()):.1f}"),
            ("occupancy = talk / logged-in", lambda f: f"{f.occupancy:.3f}"),
            ("reached patients per administrator-hour (real)", lambda f: f"{f.reached_per_admin_hour:.1f}"),
            ("median idle gap between talks (wall s)", lambda f: f"{f.idle_gap_median:.2f}"),
            ("most patient calls up at once", lambda f: str(f.most_in_air)),
            ("most patients waiting for an admin", lambda f: str(f.most_waiting)),
            ("dials with waiting > available x ratio", progressive_only(lambda f: str(f.over_dials))),
            (
                "time with the drop rate > drop_cap (slowed)",
                progressive_only(lambda f: f"{100 * f.halved:.0f} %"),
            ),
            (
                "mode wall time (set-up to end, s)",
                lambda f: f"{runs[f.mode].ended - runs[f.mode].started:.1f}",
            ),
        ],
    )
    print(f"  per administrator, occupancy ({' / '.join(figs)}):")
    for a in ADMINS:
        print(f"    {a}: " + " / ".join(f"{f.talk[a] / f.window:.3f}" for f in figs.values()))
    notes(runs, figs)


def notes(runs: dict[str, ModeRun], figs: dict[str, Figures]) -> None:
    pro, pre = figs.get("progressive"), figs.get("preview")
    if pro is not None and pro.agent_talk:
        print(
            f"  cross-check, progressive: AgentComplete TalkTime sum {sum(pro.agent_talk.values())} s "
            f"vs bridge time {sum(pro.talk.values()):.1f} s"
        )
    if pro is not None and pre is not None:
        ratio = pro.occupancy / pre.occupancy if pre.occupancy else 0.0
        reached = (
            pro.reached_per_admin_hour / pre.reached_per_admin_hour if pre.reached_per_admin_hour else 0.0
        )
        print(
            f"\n  reached patients per administrator-hour, progressive / preview: {pro.reached_per_admin_hour:.1f}"
            f" / {pre.reached_per_admin_hour:.1f} = {reached:.2f} (target >= 1.5: "
            f"{'met' if reached >= 1.5 else 'MISSED'}); progressive drop rate {pro.drop_rate:.1f} % "
            f"(target <= 3 %: {'met' if pro.drop_rate <= 3.0 else 'MISSED'})"
        )
        print(f"  occupancy ratio progressive / preview: {ratio:.2f}")
        print(
            f"  the most any dialler could reach against this baseline: {1 / pre.occupancy:.2f}x (occupancy 1)"
        )
    if "progressive" in runs:
        run = runs["progressive"]
        if "posted" in run.notes:
            print(
                f"  progressive: POST /api/kos sent -> first dial "
                f"{run.work_start - run.notes['posted']:.2f} s (not counted in the window)"
            )
        print(
            f"  service log: {run.notes.get('log_drops', 0)} 'dropped' warnings, "
            f"{run.notes.get('log_hung_up_waiting', 0)} 'hung up while waiting'; "
            f"errors: {run.notes.get('log_errors') or 'none'}"
        )
    if "preview" in runs and runs["preview"].notes.get("problems"):
        print(f"  preview anomalies: {runs['preview'].notes['problems'][:10]}")


def analyse(
    runs: dict[str, ModeRun], events: list[tuple[float, Frame]], scale: Scale, args: argparse.Namespace
) -> dict[str, Figures]:
    return {
        mode: figures(
            run,
            observe(events, run.patients, args.ratio, args.queue, run.notes.get("channel_ids", {})),
            scale.factor,
            args.drop_cap,
        )
        for mode, run in runs.items()
    }


def save(
    path: Path, args: argparse.Namespace, scale: Scale, runs: dict[str, ModeRun], events: list[Any]
) -> None:
    data = {
        "args": {
            "mix": args.mix,
            "seed": args.seed,
            "ratio": args.ratio,
            "pacing": args.pacing,
            "lookahead": args.lookahead,
            "wait_for_admin": args.wait_for_admin,
            "max_channels": args.max_channels,
            "drop_cap": args.drop_cap,
            "queue": args.queue,
        },
        "scale": asdict(scale),
        "runs": {mode: asdict(run) for mode, run in runs.items()},
        "events": events,
    }
    path.write_bytes(gzip.compress(json.dumps(data, ensure_ascii=False).encode("utf-8")))


def load(path: Path, args: argparse.Namespace) -> tuple[Scale, dict[str, ModeRun], list[tuple[float, Frame]]]:
    data = json.loads(gzip.decompress(path.read_bytes()))
    for key, value in data["args"].items():
        setattr(args, key, value)
    s = data["scale"]
    scale = Scale(**{**s, "talk_real": tuple(s["talk_real"])})
    runs = {}
    for mode, r in data["runs"].items():
        patients = [Patient(**p) for p in r.pop("patients")]
        runs[mode] = ModeRun(patients=patients, **r)
    return scale, runs, [(t, f) for t, f in data["events"]]
