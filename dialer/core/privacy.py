"""What may appear in logs. Phone numbers are masked; names are never passed here at all."""

from __future__ import annotations

import re
import traceback
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


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


_PHONE_LIKE = re.compile(r"\+?\d[\d\s()-]{5,}\d")
_HEX_WORD = re.compile(r"[0-9a-fA-F]+")
_RUSSIAN_NUMBER = re.compile(r"[78]\d{10}")  # 7 or 8, then the ten digits of a number in Russia
_URL_SECRET_PARAMS = frozenset({"password", "passwd", "pwd"})
_MAX_CHAIN = 3
_MAX_TEXT = 200


def scrub_phones(text: str) -> str:
    """`text` with every phone-like run of digits masked, but for a run inside a hexadecimal word."""
    return _PHONE_LIKE.sub(_masked, text)


def _masked(found: re.Match[str]) -> str:
    # A hash or a version (the dialplan's 2072140210e5) holds long digit runs too, and masking part of it leaves
    # nothing to compare; a phone glued to a word that is not hexadecimal (phone79161234567) is still masked, and
    # so is a whole Russian number glued to one that is (abc79161234567): a leaked phone costs more than a hash
    # shown in part.
    text, start, end = found.string, found.start(), found.end()
    while start > 0 and _is_word_char(text[start - 1]):
        start -= 1
    while end < len(text) and _is_word_char(text[end]):
        end += 1
    word = text[start:end]
    if word != found.group() and _HEX_WORD.fullmatch(word) and not _RUSSIAN_NUMBER.fullmatch(found.group()):
        return found.group()
    return mask_phone(found.group())


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


def mask_url_password(url: str) -> str:
    """A database or service URL fit to show: the password (in the user part or the query) as ****."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "****"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if password is None and not any(k.lower() in _URL_SECRET_PARAMS for k, _ in pairs):
        return url
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:****@{host}"
    query = [(k, "****" if k.lower() in _URL_SECRET_PARAMS else v) for k, v in pairs]
    masked = urlencode(query, safe="*") if query else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=masked))


def describe_error(exc: BaseException) -> str:
    """What a log line may say about an exception: its type, where our code raised it, and its text only when
    our own code wrote that text (with phones masked).

    The text of anything else is left out: a database error carries the values it was given (SQLAlchemy's
    `[parameters: ...]`, PostgreSQL's `DETAIL: Key (phone)=(+7...)`), which may be a patient's name or phone.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < _MAX_CHAIN:
        seen.add(id(current))
        parts.append(_one_error(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    where = _raised_at(exc)
    return " <- ".join(parts) + (f" at {where}" if where else "")


def _one_error(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return f"{name}[{describe_error(exc.exceptions[0])}]"
    text = ""
    if type(exc).__module__.startswith("dialer."):
        text = scrub_phones(str(exc))
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror  # "Connection refused": never the file name or address that came with it
    text = " ".join(text.split())[:_MAX_TEXT]
    return f"{name}: {text}" if text else name


def _raised_at(exc: BaseException) -> str:
    """The innermost frame of this package the exception passed through: file:line in function."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        path = frame.filename.replace("\\", "/")
        index = path.rfind("/dialer/")
        if index >= 0:
            return f"{path[index + 1 :]}:{frame.lineno} in {frame.name}"
    return ""
