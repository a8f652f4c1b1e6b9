"""What a finished recording's name says about the call, and the switches the dialplan gets."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dialer.core.errors import FieldError
from dialer.core.recording import inbound_switch, parse_raw_name, recording_variables

NAME = "inbound~c1~1796326483.8~Local+admin1@sandbox-agents~1796326492~1~79161234567.wav"


def test_a_finished_files_name_gives_the_call() -> None:
    raw = parse_raw_name(NAME)
    assert (raw.kind, raw.clinic_id, raw.call_ref, raw.member) == (
        "inbound",
        "c1",
        "1796326483.8",
        "Local/admin1@sandbox-agents",
    )
    assert raw.started_at == datetime.fromtimestamp(1796326492, UTC)
    assert raw.announced and raw.phone == "79161234567"


def test_the_stored_name_is_by_clinic_and_local_month_and_names_the_call() -> None:
    raw = parse_raw_name("kos~c2~3f9a0c1d:kos:17:2~PJSIP+101~1796326492~0~.wav")
    local = raw.started_at.astimezone(ZoneInfo("Asia/Omsk"))
    assert str(raw.stored_name(local)) == "c2/2026-12/20261204-013452_kos_3f9a0c1d-kos-17-2.ogg"
    assert raw.member == "PJSIP/101" and not raw.announced and raw.phone == ""


@pytest.mark.parametrize(
    "name",
    [
        "inbound~c1~1.2~m~123~1.mp3",  # not a wav
        "inbound~c1~1.2~m~123~1.wav",  # a field short
        "inbound~~1.2~m~123~1~7916.wav",  # no clinic
        "inbound~c1~1.2~m~soon~1~7916.wav",  # no start
    ],
)
def test_a_name_that_is_not_ours_is_refused_with_the_file_named(name: str) -> None:
    with pytest.raises(FieldError) as err:
        parse_raw_name(name)
    assert name.split("~")[1] in str(err.value)


def test_the_refusal_masks_the_patients_number() -> None:
    name = "inbound~c1~1.2~m~soon~1~79161234567.wav"
    with pytest.raises(FieldError) as err:
        parse_raw_name(name)
    assert "79161234567" not in str(err.value) and "inbound~c1~1.2~m~soon~1~" in str(err.value)


def test_switches_never_announce_what_is_not_recorded() -> None:
    assert inbound_switch("c1", record=False, announce=True) == "c1:0:0"
    assert inbound_switch("c1", record=True, announce=True) == "c1:1:1"
    off = recording_variables("c1", "reminders", "+7 916 123-45-67", record=False, announce=True)
    assert (off["DIALER_RECORD"], off["DIALER_ANNOUNCE"], off["DIALER_REC_KIND"]) == ("0", "0", "reminder")
    on = recording_variables("c1", "autocb", "+7 916 123-45-67", record=True, announce=False)
    assert (on["DIALER_RECORD"], on["DIALER_ANNOUNCE"], on["DIALER_REC_KIND"]) == ("1", "0", "callback")
    assert on["DIALER_PHONE"] == "79161234567"
