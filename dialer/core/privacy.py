"""What may appear in logs. Phone numbers are masked; names are never passed here at all."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """Keep the country prefix and the last two digits: +7916*****67.

    Enough for an administrator to tell two log lines apart, not enough to call anyone.
    """
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 6:
        return "*" * len(digits)
    head = "".join(digits[:4])
    tail = "".join(digits[-2:])
    prefix = "+" if phone.strip().startswith("+") else ""
    return f"{prefix}{head}{'*' * (len(digits) - 6)}{tail}"
