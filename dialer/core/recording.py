"""Conversation recordings as Asterisk leaves them: what a finished file's name says about the call, where the
service keeps it compressed, and the per-call switches the dialplan reads.

The dialplan (config/asterisk/extensions_dialer.conf, `dialer-record`) names each file
`<kind>~<clinic>~<call ref>~<member>~<epoch>~<announced>~<phone>.wav`, so that a finished file carries everything
its row needs: the service can pick it up after a lost AMI link or a restart with nothing else to go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Protocol

from dialer.core.errors import FieldError
from dialer.core.privacy import mask_phone

SEPARATOR = "~"
RAW_SUFFIX = ".wav"
COMPRESSED_SUFFIX = ".ogg"  # Ogg Vorbis: browsers play it, and sox writes it without extra packages
FIELDS = ("kind", "clinic", "call_ref", "member", "epoch", "announced", "phone")
# Files whose name cannot be read, or that hold no conversation, go aside rather than being retried forever.
SHORTEST_SECONDS = 0.5


@dataclass(frozen=True)
class RawRecording:
    """One finished MixMonitor file, as its name describes the call."""

    kind: str
    clinic_id: str
    call_ref: str  # the call's Linkedid
    member: str  # the administrator's queue interface or phone, e.g. Local/admin1@agents or PJSIP/101
    started_at: datetime
    announced: bool
    phone: str  # the patient's number, digits only

    def stored_name(self, local_started: datetime) -> PurePosixPath:
        """Where the compressed file goes, relative to the recordings folder: by clinic and month, named by
        the call (its local start, the kind and the call's reference) so that a person can find it too."""
        stamp = local_started.strftime("%Y%m%d-%H%M%S")
        ref = "".join(c if c.isalnum() or c in ".-" else "-" for c in self.call_ref)
        return PurePosixPath(
            self.clinic_id, local_started.strftime("%Y-%m"), f"{stamp}_{self.kind}_{ref}{COMPRESSED_SUFFIX}"
        )


def shown_name(name: str) -> str:
    """A file's name fit for a log line or an error: the patient's number in it masked."""
    head, sep, last = name.rpartition(SEPARATOR)
    if not sep:
        return name
    digits = last.removesuffix(RAW_SUFFIX)
    return (
        f"{head}{sep}{mask_phone(digits) if digits else ''}{RAW_SUFFIX if last.endswith(RAW_SUFFIX) else ''}"
    )


def parse_raw_name(name: str) -> RawRecording:
    """The call a finished file's name describes; FieldError naming the file (its number masked) when it is not
    one of ours."""
    shown = shown_name(name)
    if not name.endswith(RAW_SUFFIX):
        raise FieldError(shown, f"не {RAW_SUFFIX}")
    parts = name[: -len(RAW_SUFFIX)].split(SEPARATOR)
    if len(parts) != len(FIELDS):
        raise FieldError(shown, f"ожидалось {len(FIELDS)} полей через {SEPARATOR!r}, а не {len(parts)}")
    kind, clinic, call_ref, member, epoch, announced, phone = parts
    if not (kind and clinic and call_ref) or not epoch.isdigit():
        raise FieldError(shown, "нет вида звонка, клиники, звонка или времени начала")
    return RawRecording(
        kind=kind,
        clinic_id=clinic,
        call_ref=call_ref,
        member=member.replace("+", "/"),  # the dialplan writes a member's '/' as '+'
        started_at=datetime.fromtimestamp(int(epoch), UTC),
        announced=announced == "1",
        phone="".join(c for c in phone if c.isdigit()),
    )


# A campaign's calls as the recordings name them.
KIND_OF_CAMPAIGN = {"reminders": "reminder", "callback": "callback", "autocb": "callback"}


def recording_kind(campaign: str) -> str:
    return KIND_OF_CAMPAIGN.get(campaign, campaign)


def recording_variables(
    clinic_id: str, campaign: str, phone: str, *, record: bool, announce: bool
) -> dict[str, str]:
    """The Originate variables that tell the dialplan whether to record this call, to say so first, and how to
    name the file."""
    return {
        "DIALER_CLINIC": clinic_id,
        "DIALER_RECORD": "1" if record else "0",
        "DIALER_ANNOUNCE": "1" if record and announce else "0",
        "DIALER_REC_KIND": recording_kind(campaign),
        "DIALER_PHONE": "".join(c for c in phone if c.isdigit()),
    }


def inbound_switch(clinic_id: str, record: bool, announce: bool) -> str:
    """What the inbound dialplan reads for one DID (the global DIALER_RECORDING_<DID>): clinic:record:announce."""
    on = record and announce
    return f"{clinic_id}:{'1' if record else '0'}:{'1' if on else '0'}"


@dataclass(frozen=True)
class KeptFile:
    """A recording's compressed file as kept: its name relative to the recordings folder, length and size."""

    file_name: str
    seconds: float
    size: int


@dataclass(frozen=True)
class StoredRecording:
    """A recording's row: the compressed file, relative to the recordings folder, and what it holds."""

    recording_id: int
    clinic_id: str
    call_ref: str
    kind: str
    user_id: int | None
    member: str
    phone: str
    file_name: str
    seconds: float | None
    bytes: int | None
    announced: bool
    started_at: datetime
    ended_at: datetime | None


class RecordingStore(Protocol):
    async def keep(self, raw: RawRecording, user_id: int | None, file: KeptFile) -> int:
        """The recording's row with its file, written together: no page ever lists a recording without one.
        The same call, member and start give the same row."""
        ...

    async def get(self, recording_id: int) -> StoredRecording | None: ...

    async def for_day(self, clinic_id: str, start: datetime, end: datetime) -> list[StoredRecording]:
        """The clinic's recordings that started in [start, end), oldest first."""
        ...

    async def older_than(self, cut: datetime, limit: int) -> list[StoredRecording]: ...

    async def delete(self, recording_ids: list[int]) -> int: ...
