"""Record the real AMI byte stream of a reminder campaign on Asterisk 22, for `bench.ami_intake`.

    .venv/bin/python -m bench.record_stream                 # ~150 calls, own sandbox with a read=all user
    .venv/bin/python -m bench.record_stream --shared        # the shared sandbox, product user only

What it does: a campaign of simulated patients (`…1` confirm, `…5` cancel, `…2` busy, `…7` silent) goes
through the real `dialer campaign run reminders --until-done`, with a Cyrillic CallerID on every Originate
(`"Смирнова Анна" <74951234567>`, the trunk's caller_id), while raw AMI connections save every byte Asterisk
sends them:

* `ami_read_all.bin.gz`: a manager user with `read = all` (Newexten, VarSet, DTMF, TestEvent… included),
  less the simulated patient's own menu-waiting loop (see `drop_simulator_loop`);
* `ami_dialer_user.bin.gz`: the product's own least-privilege user (`read = call,user,agent,system`, see
  config/asterisk/manager_dialer.conf), i.e. exactly what the service receives in production.

The shared sandbox has only the `dialer` user, so by default this script brings up a second sandbox of its
own (DIALER_SANDBOX_DIR-style layout under ~/.cache/dialer/bench-sandbox, AMI port 5139) whose manager config
is the shipped one plus a `[bench]` user with `read = all`. The shared sandbox is not touched. The bench
sandbox is stopped afterwards; its chroot is kept in the cache for the next recording.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.campaign import Ami, import_list, mix_summary, parse_mix, run_reminders, write_home
from bench.lib.paths import DATA, REPO
from bench.lib.rawami import RawAmi
from dialer.core.ids import AttemptId
from dialer.sandbox import Sandbox, SandboxLayout
from dialer.sandbox.layout import default_sandbox_dir

READ_ALL_STREAM = DATA / "ami_read_all.bin.gz"
DIALER_USER_STREAM = DATA / "ami_dialer_user.bin.gz"
META = DATA / "streams.json"
BENCH_PORT = 5139
BENCH_USER = "bench"
DEFAULT_MIX = "1:105,5:20,2:15,7:10"

BENCH_USER_CONF = f"""

; Added by bench/record_stream.py for its own sandbox only: the same Asterisk, every event class.
[{BENCH_USER}]
secret = replaced-by-the-sandbox
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = originate,call,reporting
writetimeout = 5000
"""


def bench_sandbox(port: int) -> Sandbox:
    """A sandbox of its own: the project's Asterisk config plus a read=all manager user."""
    cache = default_sandbox_dir().parent
    overlay = cache / "bench-sandbox-config"
    shipped = REPO / "config" / "asterisk"
    (overlay / "config" / "asterisk").mkdir(parents=True, exist_ok=True)
    (overlay / "tests" / "asterisk").mkdir(parents=True, exist_ok=True)
    for path in shipped.glob("*.conf*"):  # the trunk's .sample too, which the sandbox fills in
        text = path.read_text(encoding="utf-8")
        if path.name == "manager_dialer.conf":
            text += BENCH_USER_CONF
        (overlay / "config" / "asterisk" / path.name).write_text(text, encoding="utf-8")
    for path in (REPO / "tests" / "asterisk").glob("*.conf*"):
        shutil.copy(path, overlay / "tests" / "asterisk" / path.name)
    return Sandbox(SandboxLayout(base=cache / "bench-sandbox", config_dir=overlay / "config", ami_port=port))


# The simulated patient (tests/asterisk/patients.conf, context patient-answer) polls the IVR's stage every
# 0.1 s until the menu plays: ~300 Newexten/VarSet frames per answered call that no real patient on a SIP
# trunk produces (a phone runs no dialplan). Those frames, and only those, are left out of the read=all file.
SIMULATOR_LOOP = (b"Event: Newexten", b"Event: VarSet")
SIMULATOR_CONTEXT = b"\r\nContext: patient-answer\r\n"


def drop_simulator_loop(stream: bytes) -> tuple[bytes, int]:
    """The stream without the simulated patient's wait-loop frames; the banner and every other byte kept."""
    line_end = stream.find(b"\r\n") + 2
    banner, body = stream[:line_end], stream[line_end:]
    frames = body.split(b"\r\n\r\n")
    kept = [f for f in frames if not (f.startswith(SIMULATOR_LOOP) and SIMULATOR_CONTEXT in f + b"\r\n")]
    return banner + b"\r\n\r\n".join(kept), len(frames) - len(kept)


def attempt_ids(stream: bytes) -> set[str]:
    ids = set()
    for line in stream.split(b"\r\n"):
        if line.startswith(b"Uniqueid: "):
            value = line[len(b"Uniqueid: ") :].decode("utf-8", "replace")
            if AttemptId.try_parse(value) is not None:
                ids.add(value)
    return ids


def describe(stream: bytes) -> dict[str, object]:
    events = Counter(
        line[len(b"Event: ") :].decode() for line in stream.split(b"\r\n") if line.startswith(b"Event: ")
    )
    return {
        "bytes": len(stream),
        "frames": stream.count(b"\r\n\r\n"),
        "events": sum(events.values()),
        "non_ascii_bytes": sum(1 for b in stream if b >= 0x80),
        "calls": len(attempt_ids(stream)),
        "event_types": dict(events.most_common()),
    }


async def record(args: argparse.Namespace) -> None:
    sandbox = Sandbox() if args.shared else bench_sandbox(args.port)
    creds = sandbox.up(sys.stderr)
    mix = parse_mix(args.mix)
    observers: dict[str, RawAmi] = {}
    if not args.shared:
        observers["read_all"] = await RawAmi.logged_in(creds.host, creds.port, BENCH_USER, creds.secret)
    observers["dialer_user"] = await RawAmi.logged_in(creds.host, creds.port, creds.username, creds.secret)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
            home = write_home(
                Path(tmp),
                Ami(creds.host, creds.port, creds.username, creds.secret, sandbox.layout.base),
                mix,
                max_channels=args.channels,
                calls_per_second=args.cps,
            )
            await import_list(home)
            sys.stderr.write(
                f"recording a campaign of {sum(mix.values())} patients ({mix_summary(mix)}), "
                f"{args.channels} channels, {args.cps} calls/s\n"
            )
            run = await run_reminders(home, timeout=args.timeout, log_level="WARNING")
            await asyncio.sleep(1.0)  # the last Hangup/UserEvent frames after the CLI's exit
    finally:
        for observer in observers.values():
            await observer.close()
        if not args.shared:
            sandbox.down(sys.stderr)
    DATA.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "how": "python -m bench.record_stream" + (" --shared" if args.shared else ""),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "campaign": {
            "patients": sum(mix.values()),
            "mix": mix,
            "max_channels": args.channels,
            "calls_per_second": args.cps,
            "cli_wall_seconds": round(run.wall, 1),
            "caller_id": '"Смирнова Анна" <74951234567>',
        },
        "streams": {},
    }
    targets = {"read_all": READ_ALL_STREAM, "dialer_user": DIALER_USER_STREAM}
    streams: dict[str, object] = {}
    for name, observer in observers.items():
        stream = observer.stream
        if name == "read_all":
            stream, dropped = drop_simulator_loop(stream)
            meta["simulator_loop_frames_dropped"] = dropped
        targets[name].write_bytes(gzip.compress(stream, compresslevel=9, mtime=0))
        streams[targets[name].name] = describe(stream)
        sys.stderr.write(f"{targets[name]}: {len(stream)} bytes, {stream.count(b'Event: ')} events\n")
    meta["streams"] = streams
    META.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mix", default=DEFAULT_MIX, help=f"patients per behaviour (default {DEFAULT_MIX})")
    p.add_argument("--channels", type=int, default=20, help="trunk max_channels (default 20)")
    p.add_argument("--cps", type=float, default=10.0, help="trunk calls_per_second (default 10)")
    p.add_argument(
        "--port", type=int, default=BENCH_PORT, help=f"AMI port of the bench sandbox ({BENCH_PORT})"
    )
    p.add_argument(
        "--shared", action="store_true", help="use the shared sandbox (records the dialer user only)"
    )
    p.add_argument("--timeout", type=float, default=900.0)
    args = p.parse_args()
    started = time.monotonic()
    asyncio.run(record(args))
    sys.stderr.write(f"done in {time.monotonic() - started:.0f} s\n")


if __name__ == "__main__":
    main()
