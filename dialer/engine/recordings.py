"""Conversation recordings, from Asterisk's spool to the clinic's folder: compressed, measured and registered.

MixMonitor writes each conversation into the dialplan's DIALER_RECORDING_DIR and, once the call is over, moves it
into its `done` folder (config/asterisk/README.md). The service sweeps that folder: a file there is complete, and
its name says whose call it was (dialer/core/recording.py). Nothing depends on the AMI link: after a lost link or
a restart the next sweep takes whatever finished meanwhile. Each file is compressed (Ogg Vorbis, which browsers
play) into `recordings_dir/<clinic>/<yyyy-mm>/`, its row written with the length sox reads from the stored file,
and the raw file deleted. A file that cannot be read is set aside (`.bad`) and logged without the number.

On each link-up the inbound switches go to dialplan globals (DIALER_RECORDING_<DID> =
clinic:record:announce:installation), where the inbound dialplan reads them. A global, not AstDB: the DB()
function is not writable over AMI (it is "dangerous" to Asterisk), and a restarted Asterisk, which forgets
globals, is also a new AMI login that sets them again. The service's own calls carry their switches as
Originate variables instead.

Several installations may share one PBX, and so one spool. The dialplan moves each finished file into the
folder of the installation whose call it was (`done/<installation id>`, from the Originate's DIALER_INSTALLATION
or the DID's switch), and each service sweeps only its own folder. A DID belongs to one installation: the switch
is per DID, so two installations serving different clinics never touch each other's. A file left in `done/`
itself comes from a dialplan or a switch of before installation ids; it is taken only by an installation that
serves its clinic.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from dialer.core.clock import Clock
from dialer.core.errors import FieldError, PeerFailed
from dialer.core.privacy import mask_phone
from dialer.core.recording import (
    RAW_SUFFIX,
    SEPARATOR,
    SHORTEST_SECONDS,
    KeptFile,
    RawRecording,
    RecordingStore,
    inbound_switch,
    parse_raw_name,
)
from dialer.core.staff import UserRow
from dialer.engine.loops import forever
from dialer.settings import Settings

log = logging.getLogger(__name__)

SWEEP_SECONDS = 2.0
SWITCH_PREFIX = "DIALER_RECORDING_"
SOX_TIMEOUT = 120.0
# Vorbis at quality 2 on 8 kHz mono speech: about a tenth of the raw file, clear enough to score a call.
VORBIS_QUALITY = "2"


@runtime_checkable
class PbxGlobals(Protocol):
    async def set_global(self, name: str, value: str) -> None:
        """A dialplan global on the PBX; raises nothing when the link is down (the next link-up sets it)."""
        ...


class Directory(Protocol):
    async def all(self) -> list[UserRow]: ...


class SoxFailed(PeerFailed):
    """sox could not read or write a recording."""


async def _run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), SOX_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SoxFailed(f"{argv[0]}: no answer in {SOX_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        raise SoxFailed(f"{argv[0]}: {err.decode(errors='replace').strip()[:200]}")
    return out.decode().strip()


async def seconds_of(path: Path) -> float:
    """The length of an audio file as sox reads it."""
    return float(await _run("soxi", "-D", str(path)))


async def compress(raw: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".part.ogg")
    await _run("sox", str(raw), "-t", "ogg", "-C", VORBIS_QUALITY, str(partial))
    partial.replace(out)


def switch_name(did: str) -> str:
    """The global the inbound dialplan reads for calls to `did` (its EXTEN)."""
    return SWITCH_PREFIX + "".join(c if c.isalnum() else "_" for c in did)


def _set_aside(path: Path) -> None:
    path.replace(path.with_name(path.name + ".bad"))


def _raw_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(RAW_SUFFIX) and p.is_file())


def _clinic_in_name(path: Path) -> str:
    """The clinic a raw file's name gives (its second field), or "" when the name has none."""
    parts = path.name.split(SEPARATOR)
    return parts[1] if len(parts) > 1 else ""


def finished_files(spool: Path, installation: str, clinics: Collection[str]) -> list[Path]:
    """The finished recordings this installation takes: its own folder's, and those left in the spool itself
    (named by no installation) for a clinic it serves."""
    own = _raw_files(spool / installation) if installation else []
    unowned = [p for p in _raw_files(spool) if not installation or _clinic_in_name(p) in clinics]
    return own + unowned


def user_of(member: str, clinic_id: str, users: Sequence[UserRow]) -> int | None:
    """The administrator whose phone took the call, when exactly one of the clinic's users has it."""
    found = [
        u.user_id
        for u in users
        if member in u.interfaces and (u.all_clinics or clinic_id in u.clinics) and not u.disabled
    ]
    return found[0] if len(found) == 1 else None


class RecordingCollector:
    def __init__(
        self,
        *,
        settings: Settings,
        store: RecordingStore,
        users: Directory,
        clock: Clock,
        pbx: PbxGlobals | None,
        installation: str = "",
    ) -> None:
        self.settings = settings
        self.installation = (
            installation  # names this installation's folder in the spool and its DIDs' switches
        )
        self.store = store
        self.users = users
        self.clock = clock
        self.pbx = pbx
        spool = settings.service.recordings_spool
        self.spool = Path(spool) if spool else None
        self.folder = settings.service.recordings_dir

    async def link_up(self) -> None:
        """Tell the inbound dialplan, DID by DID, whose calls it takes and whether to record and say so."""
        if self.pbx is None:
            return
        for clinic in self.settings.clinics.values():
            value = inbound_switch(clinic.id, clinic.quality.record, clinic.quality.announce)
            value = f"{value}:{self.installation}" if self.installation else value
            for did in clinic.dids:
                await self.pbx.set_global(switch_name(did), value)

    async def link_down(self) -> None:
        return None

    async def run(self) -> None:
        if self.spool is None:
            log.info("recordings: no [service] recordings_spool; finished recordings are not collected")
            return

        async def turn() -> None:
            await self.sweep()
            await self.clock.sleep(SWEEP_SECONDS)

        await forever("recordings", turn, self.clock)

    async def sweep(self) -> int:
        """Take every finished recording in the spool; return how many were registered."""
        if self.spool is None:
            return 0
        files = await asyncio.to_thread(
            finished_files, self.spool, self.installation, frozenset(self.settings.clinics)
        )
        if not files:
            return 0
        users = await self.users.all()
        done = 0
        for path in files:
            if await self._take(path, users):
                done += 1
        return done

    async def _take(self, path: Path, users: Sequence[UserRow]) -> bool:
        try:
            raw = parse_raw_name(path.name)
        except FieldError as err:
            log.warning("recordings: %s is not a recording of ours (%s); set aside", err.field, err.message)
            await asyncio.to_thread(_set_aside, path)
            return False
        try:
            return await self._store(path, raw, users)
        except (SoxFailed, OSError) as err:
            log.error(
                "recordings: call %s (%s, %s) could not be stored: %s; set aside",
                raw.call_ref,
                raw.kind,
                mask_phone(raw.phone),
                err,
            )
            await asyncio.to_thread(_set_aside, path)
            return False

    async def _store(self, path: Path, raw: RawRecording, users: Sequence[UserRow]) -> bool:
        if await seconds_of(path) < SHORTEST_SECONDS:
            # MixMonitor's `b`: a call that never reached the conversation leaves a header and no audio.
            await asyncio.to_thread(path.unlink)
            return False
        local = raw.started_at.astimezone(self._zone(raw.clinic_id))
        relative = raw.stored_name(local)
        target = self.folder / relative
        await compress(path, target)
        seconds = await seconds_of(target)
        size = (await asyncio.to_thread(target.stat)).st_size
        kept = KeptFile(file_name=str(relative), seconds=seconds, size=size)
        await self.store.keep(raw, user_of(raw.member, raw.clinic_id, users), kept)
        await asyncio.to_thread(path.unlink)
        log.info("recordings: call %s (%s) stored, %.1f s, %d bytes", raw.call_ref, raw.kind, seconds, size)
        return True

    def _zone(self, clinic_id: str) -> ZoneInfo:
        clinic = self.settings.clinics.get(clinic_id)
        return clinic.timezone if clinic is not None else ZoneInfo("UTC")
