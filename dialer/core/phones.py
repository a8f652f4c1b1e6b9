"""Phone numbers as people type them, stored as E.164."""

from __future__ import annotations

import phonenumbers

from dialer.core.errors import FieldError

DEFAULT_REGION = "RU"


def _with_country_code(text: str) -> str:
    """Russians write trunk prefix 8 or bare ten digits; phonenumbers needs a hint for the latter."""
    if text.startswith("+"):
        return text
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10:
        return "+7" + digits
    return text


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the number in E.164 (+79161234567) or raise FieldError saying why not.

    Accepts the forms administrators type: ``8 (916) 123-45-67``, ``+7 916 123 45 67``, ``9161234567``.
    A +7 7xx number is Kazakhstan, not Russia: it is refused for a Russian clinic.
    """
    text = raw.strip()
    if not text:
        raise FieldError("phone", "пустой номер телефона")
    if any(c.isalpha() for c in text):
        # phonenumbers reads letters as a keypad spelling: a typo would become a stranger's number.
        raise FieldError("phone", f"в номере есть буквы: {text!r}")
    candidate = _with_country_code(text) if region == "RU" else text
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise FieldError("phone", f"не номер телефона: {exc}") from None
    if not phonenumbers.is_valid_number_for_region(parsed, region):
        raise FieldError("phone", f"номер не является действительным номером региона {region}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def dial_forms(e164: str) -> dict[str, str]:
    """The forms a trunk's dial template may use: {e164}, {number} (digits only), {national} (8XXXXXXXXXX)."""
    digits = e164.lstrip("+")
    national = "8" + digits[1:] if digits.startswith("7") and len(digits) == 11 else digits
    return {"e164": e164, "number": digits, "national": national}


def display_phone(e164: str) -> str:
    """How a clinic's number is written for patients: +7 (495) 123-45-67."""
    try:
        parsed = phonenumbers.parse(e164, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
