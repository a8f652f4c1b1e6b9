"""Carrier patients' numbers: valid Russian mobiles that the carrier's dialplan reads back as the far end meant."""

from __future__ import annotations

import re

import phonenumbers
import pytest

from bench.lib.carrier_numbers import CarrierPatient, FarEnd
from dialer.sandbox.carrier_dialplan import EXTENSIONS_CONF, VARIANTS


def _pattern(asterisk: str) -> re.Pattern[str]:
    """An Asterisk extension pattern of X and digits, as a regular expression."""
    return re.compile("".join("[0-9]" if c == "X" else re.escape(c) for c in asterisk.lstrip("_")) + "$")


@pytest.mark.parametrize(
    "patient",
    [
        CarrierPatient(FarEnd.PERSON, key="1", voice=2),
        CarrierPatient(FarEnd.EARLY_PRESSER, key="2", press_at=3),
        CarrierPatient(FarEnd.EARLY_PRESSER, key="2", press_at=9, gone_at_once=True),
        CarrierPatient(FarEnd.EARLY_PRESSER, key="4", then="5"),
        CarrierPatient(FarEnd.BUSY),
    ],
)
@pytest.mark.parametrize("serial", [0, 471, 999])
def test_numbers_are_russian_mobiles_that_end_in_the_carriers_digits(
    patient: CarrierPatient, serial: int
) -> None:
    number = patient.number(serial)
    assert phonenumbers.is_valid_number_for_region(phonenumbers.parse(number, "RU"), "RU"), number
    assert number[-4:] == f"{patient.press_at}{patient.voice}{patient.key}{patient.far_end.value}"


def test_each_variant_takes_its_own_patients_only() -> None:
    gone, gone_silent, pair = (_pattern(v) for v in VARIANTS)
    assert all(f"exten => {variant},1," in EXTENSIONS_CONF for variant in VARIANTS)
    assert gone.match(CarrierPatient(FarEnd.EARLY_PRESSER, gone_at_once=True).number(42).lstrip("+"))
    assert gone_silent.match(CarrierPatient(FarEnd.SILENT, gone_at_once=True).number(42).lstrip("+"))
    two = CarrierPatient(FarEnd.EARLY_PRESSER, key="4", then="5").number(42).lstrip("+")
    assert pair.match(two) and two[-5] == "5" and not gone.match(two)
    # Every other patient keeps the outcome of its last digit: none of them falls into a variant.
    for far_end in FarEnd:
        for serial in (0, 42, 9999):
            number = CarrierPatient(far_end, key="1", press_at=3).number(serial).lstrip("+")
            assert not any(p.match(number) for p in (gone, gone_silent, pair)), number


def test_the_variant_hangs_up_right_after_the_key_and_the_plain_presser_still_waits() -> None:
    early = EXTENSIONS_CONF[EXTENSIONS_CONF.index("exten => outcome-6,") :]
    early = early[: early.index("\n\n")]
    lines = early.splitlines()
    press = next(i for i, line in enumerate(lines) if "SendDTMF" in line)
    assert "GONE_AT_ONCE" in lines[press + 1] and "?gone" in lines[press + 1]
    assert lines[press + 2].strip() == "same => n,Wait(6)"
    assert lines[press + 3].strip() == "same => n(gone),Hangup(16)"
    # A second key only where a variant sets one: for every other number KEY2 is empty.
    assert "${KEY2}" in lines[press] and EXTENSIONS_CONF.count("Set(KEY2=") == 1


def test_bad_patients_are_refused() -> None:
    with pytest.raises(ValueError, match="hangs up early"):
        CarrierPatient(FarEnd.PERSON, gone_at_once=True).number(1)
    with pytest.raises(ValueError, match="serial"):
        CarrierPatient(FarEnd.PERSON).number(10000)
