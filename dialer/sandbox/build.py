"""Building the chroot: Debian sid, minimal, with Asterisk 22 and its English and Russian sounds.

Debian stable has no Asterisk package; sid does. The whole build takes about a minute and is done once per
machine. A root that lacks the marker or whose Asterisk binary does not run is thrown away and rebuilt.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TextIO

from dialer.sandbox.layout import SandboxError, SandboxLayout
from dialer.sandbox.mirror import find_debian_mirror
from dialer.sandbox.procs import CHROOT_ENV, probe, run

PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-ru-gsm",
    "asterisk-core-sounds-en-gsm",
    "tzdata",
)
RU_SOUNDS_DIR = "ru_RU_f_IvrvoiceRU"
# Asterisk runs as root inside the chroot; these must not belong to the packaged `asterisk` user, whose uid
# means nothing on the host (the astdb open fails with EACCES otherwise).
ASTERISK_DIRS = (
    "/var/lib/asterisk",
    "/var/spool/asterisk",
    "/var/log/asterisk",
    "/var/run/asterisk",
    "/etc/asterisk",
)
BUILD_TIMEOUT = 1200.0


def host_problem() -> str | None:
    """Why this host cannot build or run the sandbox, as one sentence saying what to do; None when it can."""
    if os.geteuid() != 0:
        return "The Asterisk sandbox needs root (it uses chroot); run it as root, e.g. with sudo."
    if shutil.which("chroot") is None:
        return "The chroot command is missing; install coreutils."
    return None


def _asterisk_v(layout: SandboxLayout) -> tuple[int, str]:
    """`asterisk -V` in the chroot: its exit code and output."""
    return probe(["chroot", layout.root, "/usr/sbin/asterisk", "-V"], timeout=20)


def root_problem(layout: SandboxLayout) -> str | None:
    """Why the existing chroot cannot be reused, or None when it is sound."""
    if not layout.root.is_dir():
        return "not built yet"
    if not layout.marker.is_file():
        return "the last build did not finish"
    code, output = _asterisk_v(layout)
    if code != 0 or not output.startswith("Asterisk "):
        return f"its Asterisk binary does not run ({output.strip()[:120] or f'exit {code}'})"
    return None


def asterisk_version(layout: SandboxLayout) -> str:
    code, output = _asterisk_v(layout)
    return output.strip() if code == 0 else "unknown"


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found: list[str] = []
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                point = line.split()[1].replace("\\040", " ")
                if point.startswith(prefix):
                    found.append(point)
    except OSError:
        return []
    return sorted(found, key=len, reverse=True)


def remove_root(path: Path) -> None:
    """Delete a chroot, first unmounting anything a failed debootstrap left mounted inside it (proc, sys)."""
    if not path.exists():
        return
    for point in _mounts_under(path):
        probe(["umount", "-l", point], timeout=30)
    if _mounts_under(path):
        raise SandboxError(f"Something is still mounted in {path}; unmount it, then run `dialer sandbox up`.")
    shutil.rmtree(path)


def _debootstrap(target: Path, log: TextIO) -> None:
    mirror = find_debian_mirror()
    run(
        ["debootstrap", "--variant=minbase", "sid", target, mirror],
        timeout=BUILD_TIMEOUT,
        what=f"debootstrap of Debian sid from {mirror}",
        fix=f"check that {mirror} is reachable, see {log.name} for details.",
        log=log,
    )


def _in_chroot(target: Path, script: str, *, what: str, log: TextIO, timeout: float = BUILD_TIMEOUT) -> str:
    return run(
        ["chroot", target, "/bin/sh", "-c", script],
        timeout=timeout,
        what=what,
        fix=f"see {log.name}, then run `dialer sandbox rebuild`.",
        env=CHROOT_ENV,
        log=log,
    )


def _install_asterisk(target: Path, log: TextIO) -> None:
    # Keep package scripts from starting an Asterisk daemon inside the chroot while installing.
    policy = target / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
    policy.chmod(0o755)
    resolv = Path("/etc/resolv.conf")
    if resolv.is_file():
        (target / "etc").mkdir(exist_ok=True)
        (target / "etc/resolv.conf").unlink(missing_ok=True)
        shutil.copyfile(resolv, target / "etc/resolv.conf")
    # The mirror's sid Release file can be past its Valid-Until date; apt refuses it without this option.
    update = "apt-get -o Acquire::Check-Valid-Until=false update"
    _in_chroot(target, update, what="apt-get update in the chroot", log=log)
    _in_chroot(
        target,
        "apt-get install -y --no-install-recommends " + " ".join(PACKAGES) + " && apt-get clean",
        what="installing Asterisk in the chroot",
        log=log,
    )


def _finish_root(target: Path, log: TextIO) -> None:
    sounds = target / "usr/share/asterisk/sounds"
    if not (sounds / RU_SOUNDS_DIR).is_dir():
        raise SandboxError(f"The Russian sounds are missing from {sounds}; run `dialer sandbox rebuild`.")
    link = sounds / "ru"
    if link.is_symlink() or link.is_file():
        link.unlink()
    if not link.exists():
        # Relative, so it resolves the same from the host and inside the chroot.
        link.symlink_to(RU_SOUNDS_DIR)
    zoneinfo = target / "usr/share/zoneinfo"
    if not (zoneinfo / "Europe/Moscow").exists() and Path("/usr/share/zoneinfo/Europe/Moscow").exists():
        # SayUnixTime reads the clinic's zone inside the chroot.
        shutil.copytree("/usr/share/zoneinfo", zoneinfo, symlinks=True, dirs_exist_ok=True)
    # Through the chroot's own shell: /var/run there is a symlink to /run that must not resolve on the host.
    dirs = " ".join(ASTERISK_DIRS)
    _in_chroot(
        target,
        f"mkdir -p {dirs} && chown -R root:root {dirs}",
        what="fixing Asterisk folder owners",
        log=log,
        timeout=120,
    )


def build_root(layout: SandboxLayout, out: TextIO) -> None:
    """Build a fresh chroot beside the old one, then swap it in; the marker is written only on success."""
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed; run `apt-get install debootstrap` and try again.")
    layout.base.mkdir(parents=True, exist_ok=True)
    staging = layout.base / "root.building"
    remove_root(staging)
    started = time.monotonic()
    out.write(f"Building the Asterisk sandbox in {layout.root} (about a minute; log: {layout.build_log})\n")
    out.flush()
    with layout.build_log.open("w", encoding="utf-8") as log:
        _debootstrap(staging, log)
        out.write(f"  Debian sid base ready after {time.monotonic() - started:.0f} s; installing Asterisk\n")
        out.flush()
        _install_asterisk(staging, log)
        _finish_root(staging, log)
    code, output = probe(["chroot", staging, "/usr/sbin/asterisk", "-V"], timeout=20)
    if code != 0:
        raise SandboxError(f"The new Asterisk does not run ({output.strip()[:120]}); see {layout.build_log}.")
    (staging / layout.marker.name).write_text(f"{output.strip()}\nbuilt {time.ctime()}\n", encoding="utf-8")
    remove_root(layout.root)
    staging.rename(layout.root)
    out.write(f"  Built {output.strip()} in {time.monotonic() - started:.0f} s\n")
    out.flush()
