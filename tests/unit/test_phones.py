"""Phone numbers as administrators type them, the forms a trunk dials, and masking for logs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.errors import FieldError
from dialer.core.phones import dial_forms, display_phone, normalize_phone
from dialer.core.privacy import mask_phone, scrub_phones


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("8 (916) 123-45-67", "+79161234567"),
        ("+7 916 123 45 67", "+79161234567"),
        ("9161234567", "+79161234567"),
        ("79161234567", "+79161234567"),
        ("89161234567", "+79161234567"),
        ("+79161234567", "+79161234567"),
        ("  +7 (916) 123-45-67  ", "+79161234567"),
        ("+7 495 123-45-67", "+74951234567"),
        ("8 (495) 123-45-67", "+74951234567"),
        ("4951234567", "+74951234567"),
        ("+7 812 123 45 67", "+78121234567"),
        ("8-800-555-35-35", "+78005553535"),
    ],
)
def test_russian_numbers_become_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    "raw",
    [
        "+7 701 123 45 67",  # Kcell, Kazakhstan
        "8 701 123 45 67",
        "77011234567",
        "7011234567",
        "+7 727 123 45 67",  # Almaty landline
    ],
)
def test_kazakhstan_shares_plus_seven_and_is_refused(raw: str) -> None:
    with pytest.raises(FieldError) as err:
        normalize_phone(raw)
    assert err.value.field == "phone"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "нет телефона",
        "12345",
        "916123",
        "+7 916 123 45 6",
        "+7 916 123 45 678",
        "+44 20 7946 0958",
        "+7 916 123 45 67, +7 916 765 43 21",
        "-",
    ],
)
def test_garbage_empty_and_short_numbers_are_refused_naming_the_phone_field(raw: str) -> None:
    with pytest.raises(FieldError) as err:
        normalize_phone(raw)
    assert err.value.field == "phone"
    assert err.value.message
    assert str(err.value).startswith("phone: ")


@pytest.mark.parametrize("raw", ["+7 916 123 ABCD", "8 916 ABC DEFG", "916 ABC DEFG"])
def test_letters_are_garbage_not_a_keypad_spelling(raw: str) -> None:
    # phonenumbers reads Latin letters as a phone keypad ("ABCD" -> 2223), so a typo or a stray word in
    # the phone column becomes a real stranger's number that we would call and text.
    with pytest.raises(FieldError) as err:
        normalize_phone(raw)
    assert err.value.field == "phone"


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_e164_or_a_phone_field_error(raw: str) -> None:
    try:
        e164 = normalize_phone(raw)
    except FieldError as err:
        assert err.field == "phone"
    else:
        assert e164.startswith("+7") and len(e164) == 12 and e164[1:].isdigit()


@given(st.from_regex(r"9[0-9]{9}", fullmatch=True), st.sampled_from(["8", "+7", "7", ""]))
@settings(max_examples=100, deadline=None)
def test_prefixes_do_not_change_a_valid_mobile(national: str, prefix: str) -> None:
    try:
        e164 = normalize_phone(f"+7{national}")
    except FieldError:
        return  # not every 9xx block is allocated
    assert normalize_phone(prefix + national) == e164
    spaced = f"{prefix} ({national[:3]}) {national[3:6]}-{national[6:8]}-{national[8:]}"
    assert normalize_phone(spaced) == e164


def test_dial_forms() -> None:
    assert dial_forms("+79161234567") == {
        "e164": "+79161234567",
        "number": "79161234567",
        "national": "89161234567",
    }
    assert "PJSIP/{national}@trunk".format(**dial_forms("+74951234567")) == "PJSIP/84951234567@trunk"


def test_display_phone() -> None:
    assert display_phone("+74951234567") == "+7 495 123-45-67"
    assert display_phone("+79161234567") == "+7 916 123-45-67"
    assert display_phone("not a number") == "not a number"


# Masking for logs ----------------------------------------------------------------------------------------


def test_mask_phone_keeps_the_prefix_and_the_last_two_digits() -> None:
    assert mask_phone("+79161234567") == "+7916*****67"
    assert mask_phone("89161234567") == "8916*****67"
    assert mask_phone("12345") == "*****"
    assert mask_phone("") == ""


@given(st.text(alphabet=st.sampled_from(list("0123456789+-() абв")), max_size=25))
@settings(max_examples=300, deadline=None)
def test_mask_phone_never_reveals_more_than_four_plus_two_digits(phone: str) -> None:
    masked = mask_phone(phone)
    digits = [c for c in phone if c.isdigit()]
    shown = [c for c in masked if c.isdigit()]
    assert len(shown) <= 6
    if len(digits) >= 6:
        assert shown == digits[:4] + digits[-2:]
    else:
        assert shown == []
    assert len(masked) == len(digits) + masked.startswith("+")


@given(st.text(max_size=25))
@settings(max_examples=200, deadline=None)
def test_mask_phone_never_reveals_more_than_six_digits_of_any_text(phone: str) -> None:
    masked = mask_phone(phone)
    assert sum(c.isdigit() for c in masked) <= 6


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("звонок на +7 916 123-45-67 не прошёл", "звонок на +7916*****67 не прошёл"),
        ("PJSIP/79161234567@trunk", "PJSIP/7916*****67@trunk"),
        ("tel:89161234567, 84951234567", "tel:8916*****67, 8495*****67"),
        ("номер79161234567г", "номер7916*****67г"),
        # A hash or a version holds long digit runs: they are no phone, and must stay whole to be compared.
        ("у сервиса 2072140210e5, на АТС 3d7012a7ef98", "у сервиса 2072140210e5, на АТС 3d7012a7ef98"),
        ("PJSIP/trunk-0000001a", "PJSIP/trunk-0000001a"),
        # Glued to a word that is not hexadecimal, digits are still a phone.
        ("phone79161234567 busy", "phone7916*****67 busy"),
        ("caller=abc79161234567x", "caller=abc7916*****67x"),
        # A whole Russian number is a phone even glued to a word of hexadecimal letters.
        ("caller abc79161234567", "caller abc7916*****67"),
        ("from 89161234567ab", "from 8916*****67ab"),
        ("id 7916123456789abc", "id 7916123456789abc"),
    ],
)
def test_scrubbing_masks_phones_in_text_but_not_hex_words(text: str, scrubbed: str) -> None:
    assert scrub_phones(text) == scrubbed
