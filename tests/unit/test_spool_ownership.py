"""Installations sharing one PBX share its recordings spool: each takes only its own finished files."""

from __future__ import annotations

from pathlib import Path

from dialer.ami.telephony import originate_fields
from dialer.core.ports import OriginateRequest
from dialer.engine.recordings import finished_files

NAME = "inbound~{clinic}~1796336710.52~Local+admin1@agents~1796336710~1~79161234567.wav"


def _file(folder: Path, clinic: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME.format(clinic=clinic)
    path.write_bytes(b"RIFF")
    return path


def test_each_installation_takes_its_own_folder_and_the_unowned_files_of_its_clinics_only(
    tmp_path: Path,
) -> None:
    ours = _file(tmp_path / "3f9a0c1d", "c1")
    theirs = _file(tmp_path / "0b7e44a2", "c1")  # the same clinic id at the other installation: not ours
    unowned_ours = _file(tmp_path, "c2")
    _file(tmp_path, "other-clinic")
    (tmp_path / "3f9a0c1d" / "half-written.wav.tmp").write_bytes(b"")
    assert finished_files(tmp_path, "3f9a0c1d", {"c1", "c2"}) == [ours, unowned_ours]
    assert finished_files(tmp_path, "0b7e44a2", {"c1"}) == [theirs]
    assert finished_files(tmp_path / "missing", "3f9a0c1d", {"c1"}) == []


def test_every_originate_names_its_installation_for_the_dialplan() -> None:
    request = OriginateRequest(
        attempt_id="3f9a0c1d:callback:7:1",
        channel="PJSIP/79161234567@trunk",
        context="dialer-callback",
        exten="s",
        timeout_ms=30000,
        caller_id="",
        variables={"DIALER_CLINIC": "c1"},
    )
    assert "DIALER_INSTALLATION=3f9a0c1d" in originate_fields(request)["Variable"]
