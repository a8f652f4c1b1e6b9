"""Machines (voicemails, voice assistants) told from people, on the real Asterisk over the sandbox's carrier.

    .venv/bin/python -m bench.amd                       # 345 answers, 10 calls at a time (about 5 min)
    .venv/bin/python -m bench.amd --save amd.json.gz    # keep every call's events; --analyze reprints from it
    .venv/bin/python -m bench.amd --analyze amd.json.gz --sweep   # the thresholds around the shipped ones
    .venv/bin/python -m bench.amd --app-amd 2500,3000,800,5000,100,50,5,256,5000   # app_amd tuned, what-if

Each answer of the labelled set (bench/amd/answers.py: people saying «Алло?», «Да», «Алло, слушаю», «Да,
здравствуйте» or «Алло, здравствуйте, слушаю вас»; voicemail greetings; voice assistants; silent lines; three
voices, speeds and line noises, 0-0.9 s before the first word) is a number on the carrier's 7997 prefix. The clinic
originates it over the PJSIP trunk into tests/asterisk/amd_probe.conf, where the same channel carries TALK_DETECT
(as the shipped IVRs set it) and app_amd with amd.conf's compiled-in defaults (the baseline). The service's
detector (dialer/core/amd.py) is replayed on each call's ChannelTalkingStart/Stop as it would meet them live, on
Asterisk's own timestamps; app_amd's verdict and time come from the probe's UserEvent.

  machines_found      voicemails and assistants taken for machines / all of them
  people_as_machine   people taken for machines / all people (silent lines are neither; shown in the table)
  median_decision_s   answer -> the detector's verdict, over every answered call
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from bench.amd.answers import Answer, Truth, labelled_set
from bench.amd.calls import ProbeCall, place_all
from bench.amd.score import Scored, by_truth, figures, misses, score
from bench.lib.rawami import RawAmi
from bench.lib.report import print_table
from dialer.core.amd import AmdSettings
from dialer.sandbox import Sandbox


async def measure(concurrency: int, settings: AmdSettings, app_amd_args: str) -> list[ProbeCall]:
    sandbox = Sandbox()
    creds = sandbox.up(sys.stderr)
    ami = await RawAmi.logged_in(creds.host, creds.port, creds.username, creds.secret)
    try:
        return await place_all(
            ami, labelled_set(), concurrency, settings.talk_detect_silence_ms, app_amd_args
        )
    finally:
        await ami.close()


def save(path: Path, calls: list[ProbeCall]) -> None:
    rows = [{"answer": asdict(c.answer), "uniqueid": c.uniqueid, "frames": c.frames} for c in calls]
    with gzip.open(path, "wt", encoding="utf-8") as out:
        json.dump(rows, out, ensure_ascii=False)


def load(path: Path) -> list[ProbeCall]:
    with gzip.open(path, "rt", encoding="utf-8") as src:
        rows = json.load(src)
    out: list[ProbeCall] = []
    for row in rows:
        a = row["answer"]
        answer = Answer(Truth(a["truth"]), a["text"], a["voice"], a["pause_tenths"], a["serial"])
        out.append(ProbeCall(answer, row["uniqueid"], row["frames"]))
    return out


def sweep(calls: list[ProbeCall], settings: AmdSettings) -> None:
    rows: list[tuple[str, list[str]]] = []
    for talk in (1.6, 1.8, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0):
        for pause in (0.5, 0.6, 0.7, 0.8, 1.0):
            f = figures(score(calls, replace(settings, machine_talk_s=talk, pause_s=pause))[0])
            cells = [f"{f.machines_found:.2f}", f"{f.people_as_machine:.2f}", f"{f.median_decision_s:.1f}"]
            rows.append((f"machine_talk_s {talk:.1f}, pause_s {pause:.1f}", cells))
    print_table(["machines_found", "people_as_mach", "median_s"], rows, label_width=34, width=16)


def report(
    rows: list[Scored], unanswered: int, calls: int, took_s: float | None, app_amd_args: str = ""
) -> None:
    print(f"{calls} calls, {len(rows)} answered, {unanswered} left out (not answered)")
    if took_s is not None:
        print(f"whole run {took_s:.0f} s")
    print_table(
        ["calls", "ours: machine", "ours: median s", "app_amd: machine", "app_amd: med s"],
        [(row[0], row[1:]) for row in by_truth(rows)],
        label_width=10,
        width=17,
    )
    wrong = misses(rows)
    if wrong:
        print("our detector's mistakes:\n  " + "\n  ".join(wrong))
    f = figures(rows)
    baseline = f"app_amd_tuned({app_amd_args})" if app_amd_args else "app_amd_default"
    print(f"{baseline}: median decision {f.amd_median_s:.1f} s after answer")
    print(
        f"amd: machines_found={f.machines_found:.2f} people_as_machine={f.people_as_machine:.2f} "
        f"median_decision_s={f.median_decision_s:.1f} | {baseline}: "
        f"machines_found={f.amd_machines_found:.2f} people_as_machine={f.amd_people_as_machine:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=int, default=10, help="calls at a time (default 10)")
    p.add_argument("--save", type=Path, help="write every call's events here (.json.gz)")
    p.add_argument("--analyze", type=Path, help="score a saved run instead of calling")
    p.add_argument("--sweep", action="store_true", help="also print the figures for thresholds around ours")
    p.add_argument(
        "--app-amd",
        default="",
        metavar="ARGS",
        help="app_amd's arguments instead of its defaults (a what-if: the last line then names them)",
    )
    args = p.parse_args(argv)
    settings = AmdSettings()
    took: float | None = None
    if args.analyze:
        calls = load(args.analyze)
    else:
        started = time.monotonic()
        calls = asyncio.run(measure(args.concurrency, settings, args.app_amd))
        took = time.monotonic() - started
        if args.save:
            save(args.save, calls)
    if args.sweep:
        sweep(calls, settings)
    rows, unanswered = score(calls, settings)
    report(rows, unanswered, len(calls), took, args.app_amd)


if __name__ == "__main__":
    main()
