"""KOS progressive dialling vs preview dialling on the real Asterisk, over the sandbox's carrier, time-compressed.

    .venv/bin/python -m bench.progressive                        # 200 patients each, 5 admins, x10, seed 1
    .venv/bin/python -m bench.progressive --save run.json.gz     # keep the raw events; --analyze reprints
    .venv/bin/python -m bench.progressive --max-channels 5       # what-if: trunk lines = administrators
    .venv/bin/python -m bench.progressive --queue bench-kos-rr   # what-if: rrmemory instead of ringall
    .venv/bin/python -m bench.progressive --local                # the `Local/` patients of patients.conf

Five simulated administrators (`Local/admin10@sandbox-agents` … `admin14`, tests/asterisk/sandbox_extra.conf:
rings 1 s, answers, talks SIM_TALK_adminN seconds, hangs up) work two lists of 200 recall patients with the same
far ends in the same order and the same talk time each, but fresh numbers. The patients are the sandbox's
carrier (dialer/sandbox/carrier_dialplan.py, bench/lib/carrier_numbers.py), rung over the PJSIP trunk as a
clinic's calls go (`PJSIP/{number}@trunk`), in a real recall list's mix: 45 % a person (rings 2 s, «Алло?», «Да,
слушаю», then listens), 20 % ringing until the clinic gives up, 10 % busy (486), 15 % machines (8 % voicemail,
7 % a voice assistant), 5 % switched off (an announcement as early media, then 480), 5 % wrong numbers (404).
`--local` rings tests/asterisk/patients.conf's `Local/` patients instead (60 % answer, 25 % no answer, 15 % busy).

* **progressive**: the real `dialer run` service (own home folder and SQLite), its clinic answering from the
  queue `bench-kos` (tests/asterisk/queues_test.conf: the reception queue's settings, no wrap-up time) whose
  members are the five administrators; the 200 recalls go in by `POST /api/kos`, one call per patient
  (`[campaigns.kos] calls = 1`), ratio 1.0. The service dials a patient only while an administrator is free and
  hands the answered one to the queue.
* **preview** (the baseline): each administrator takes the next patient of the same shared list, reads the card
  (10 s real), then starts the call by hand: the bench originates the patient and, once they answer, dials that
  administrator (`Originate PJSIP/<number>@trunk` with `Dial(Local/adminN@sandbox-agents)`), waits for the
  call to end, and takes the next card.

A machine that answers is put through to an administrator in both modes (the KOS flow has no machine
detection), who hangs up after 8 s real; it is not a reached patient.

Both modes stop after the same 200 patients (not after the same wall time). What is compressed, by the factor
(default 10): the administrators' talk (60-140 s real -> 6-14 s), reading the card (10 s -> 1 s), the machine
put through (8 s -> 0.8 s) and the clinic's ring timeout (30 s real -> 3 s, but never under 5 s). What is not:
everything the carrier does is in real seconds, as on a real network: a person rings 2 s and takes about 2 s to
say «Да, слушаю», a voicemail rings 3 s, the switched-off announcement lasts 3.5-4.6 s, and SIP's own setup;
nor the administrators' 1 s ring, nor the queue's wait for an administrator before a call counts as dropped
(`wait_for_admin`, the product's 4 s default: it must cover the administrator's 1 s ring). Those real seconds
weigh ten times more against the compressed talk than they would in a clinic's day, in both modes alike: the
administrator's idle time in preview (ringing, announcements) and the lines held while ringing in progressive.
The ring timeout's floor lets every far end that answers do so (the carrier's answer after at most 3 s of
ringing); at x10 a real 30 s timeout would be 3 s and turn voicemails into "no answer".

Measured from Asterisk's own events on an independent AMI connection (bench/lib/rawami.py). A trunk's channel
names no number: the bench knows its own preview calls by ChannelId, and the service's by the attempt ids in
the service's database (kos/world.py Registry).

  talk         per administrator: their channel's time in the bridge with a patient (BridgeEnter -> Leave)
  logged in    the same window for every administrator of a mode: start of work (progressive: the first dial;
               preview: the first card opened) -> the last hangup of the mode
  occupancy    talk / logged-in time, summed over the administrators
  drop rate    answered calls (machines too) that never reached an administrator (the product's UserEvent
               DialerCallback DROPPED, or hung up in the queue) / answered calls
  reached      patients (a person, not a machine) bridged to an administrator, per administrator-hour of real
               (uncompressed) logged-in time; the target: progressive >= 1.5x preview with drops <= 3 %
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.campaign import parse_mix
from bench.kos.preview_mode import run_preview
from bench.kos.progressive_mode import (
    run_progressive,
)
from bench.kos.report import analyse, load, report, save
from bench.kos.world import (
    ADMINS,
    DEFAULT_MIX,
    LOCAL_MIX,
    QUEUES,
    ModeRun,
    Registry,
    Scale,
    Talks,
    patient_lists,
)
from bench.lib.carrier_numbers import TRUNK_DIAL
from bench.lib.rawami import RawAmi
from dialer.sandbox import Sandbox


async def admins_in_queue(ami: RawAmi, sandbox: Sandbox, queue: str) -> None:
    for admin in ADMINS:
        sandbox.rx(f"queue remove member Local/{admin}@sandbox-agents from {queue}")
        await ami.setvar(f"SIM_MODE_{admin}", "answer")
        await ami.setvar(f"SIM_TALK_{admin}", "10")
        sandbox.rx(f"queue add member Local/{admin}@sandbox-agents to {queue}")


async def admins_out(ami: RawAmi, sandbox: Sandbox, queue: str) -> None:
    for admin in ADMINS:
        sandbox.rx(f"queue remove member Local/{admin}@sandbox-agents from {queue}")
        await ami.setvar(f"SIM_TALK_{admin}", "")
        await ami.setvar(f"SIM_MODE_{admin}", "")


def admins_elsewhere(sandbox: Sandbox, ours: str) -> list[str]:
    """Our administrators as members of another queue: someone else is using them (their device state, and so
    the product's pacing, would be shared with that work)."""
    found, queue = [], ""
    for line in sandbox.rx("queue show").splitlines():
        if line and not line.startswith(" "):
            queue = line.split(" ", 1)[0]
        elif queue != ours and any(f"Local/{a}@sandbox-agents" in line for a in ADMINS):
            found.append(f"{queue}: {line.strip()}")
    return found


def others_running() -> list[str]:
    """Other heavy work on this 2-core machine at the start (figures taken meanwhile are noisier)."""
    listed = subprocess.run(
        ["pgrep", "-af", r"pytest|bench\.|dialer .*run"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return [
        line for line in listed if line.split(" ", 1)[0] != str(os.getpid()) and "progressive" not in line
    ]


async def main_async(args: argparse.Namespace) -> None:
    t0 = time.time()
    scale = Scale(factor=args.factor)
    lists = patient_lists(parse_mix(args.mix), scale, args.seed, local=args.local)
    others = others_running()
    if others:
        sys.stderr.write("note: other work is running:\n  " + "\n  ".join(others) + "\n")
    sandbox = Sandbox()
    creds = sandbox.up(sys.stderr)  # reloads tests/asterisk/queues_test.conf: the bench-kos queue
    if args.queue not in sandbox.rx(f"queue show {args.queue}"):
        raise RuntimeError(f"the sandbox has no queue {args.queue}: tests/asterisk/queues_test.conf")
    elsewhere = admins_elsewhere(sandbox, args.queue)
    if elsewhere and not args.force:
        raise SystemExit(
            "our administrators are in use elsewhere (--force to run anyway):\n  " + "\n  ".join(elsewhere)
        )
    ami = await RawAmi.logged_in(creds.host, creds.port, creds.username, creds.secret)
    registry = Registry(lists["progressive"])
    talks = Talks(ami, lists["progressive"], args.queue, registry)
    ami.listeners.append(talks.on_event)
    runs: dict[str, ModeRun] = {}
    try:
        await admins_in_queue(ami, sandbox, args.queue)
        if args.only in (None, "progressive"):
            runs["progressive"] = await run_progressive(
                ami, creds, scale, lists["progressive"], args, registry
            )
            await asyncio.sleep(2.0)  # the last administrator leg is gone; start the baseline from quiet
        if args.only in (None, "preview"):
            runs["preview"] = await run_preview(ami, scale, lists["preview"], args.dial)
    finally:
        with contextlib.suppress(Exception):
            await admins_out(ami, sandbox, args.queue)
        await ami.close()
    figs = analyse(runs, ami.events, scale, args)
    report(runs, figs, scale, args)
    print(
        f"  talk times set on AgentCalled: {talks.set} (unknown: {talks.unknown}); whole bench {time.time() - t0:.0f} s"
    )
    if others:
        print(f"  other work running at the start: {len(others)} processes (see stderr)")
    if args.save:
        save(Path(args.save), args, scale, runs, ami.events)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--mix", help=f"patients per behaviour digit (default {DEFAULT_MIX}; with --local {LOCAL_MIX})"
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="ring tests/asterisk/patients.conf's Local/ patients instead of the carrier over the trunk",
    )
    p.add_argument("--factor", type=float, default=10.0, help="time compression factor (default 10)")
    p.add_argument(
        "--pacing",
        choices=("predictive", "progressive"),
        default="progressive",
        help="[campaigns.kos] pacing (default progressive, the product's)",
    )
    p.add_argument(
        "--lookahead", type=float, default=3.0, help="[campaigns.kos] lookahead, s (predictive; default 3)"
    )
    p.add_argument(
        "--ratio", type=float, default=1.0, help="[campaigns.kos] ratio (progressive; default 1.0)"
    )
    p.add_argument(
        "--wait-for-admin", type=int, default=4, help="[campaigns.kos] wait_for_admin, s (default 4)"
    )
    p.add_argument(
        "--max-channels",
        type=int,
        default=10,
        help="the trunk's max_channels in the progressive mode (default 10)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed for the order of behaviours and the talk times")
    p.add_argument("--timeout", type=float, default=900.0, help="give up on the progressive mode after this")
    p.add_argument("--drop-cap", type=float, default=3.0, help="[campaigns.kos] drop_cap, %% (default 3)")
    p.add_argument("--only", choices=("progressive", "preview"), help="run one mode only (what-ifs)")
    p.add_argument(
        "--queue", choices=QUEUES, default=QUEUES[0], help="the clinic's queue (default bench-kos)"
    )
    p.add_argument(
        "--force", action="store_true", help="run even when our administrators are members of other queues"
    )
    p.add_argument("--save", help="keep the run (events, patients) in this .json.gz for --analyze")
    p.add_argument("--analyze", help="report on a run kept with --save instead of running one")
    args = p.parse_args(argv)
    args.mix = args.mix or (LOCAL_MIX if args.local else DEFAULT_MIX)
    args.dial = "Local/{number}@patients" if args.local else TRUNK_DIAL
    if args.analyze:
        scale, runs, events = load(Path(args.analyze), args)
        report(runs, analyse(runs, events, scale, args), scale, args)
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
