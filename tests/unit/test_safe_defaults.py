"""Safe by default: what `dialer run` refuses at start, secrets kept out of reprs, password hashing cost, error
texts fit for a log, and CSV cells a spreadsheet never runs."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from dialer.core.csvfile import formula_safe, formula_safe_row
from dialer.core.errors import ConfigError, FieldError
from dialer.core.passwords import hash_password, needs_rehash, verify_password
from dialer.core.privacy import describe_error, mask_url_password
from dialer.settings import RetentionSettings, load_settings, parse_settings
from dialer.settings.safety import check_listening, check_secrets, check_start

REPO = Path(__file__).resolve().parents[2]
GOOD_SECRET = "Zq3vJ8pX1mWc5Rt7YhKs"  # 20 characters


def with_ami(secret: str, host: str = "10.0.0.5") -> dict[str, object]:
    return {"ami": {"host": host, "secret": secret}}


# What `dialer run` refuses ---------------------------------------------------------------------------------


def test_the_shipped_example_config_does_not_start_as_it_is() -> None:
    settings = load_settings(REPO / "config" / "dialer.example.toml", env={})
    with pytest.raises(ConfigError, match=r"ami\.secret"):
        check_start(settings, listening=True)
    assert settings.service.listen_host == "127.0.0.1"  # the example listens on loopback only


@pytest.mark.parametrize(
    "secret",
    [
        "change-me",
        "CHANGE_ME_TO_A_LONG_RANDOM_SECRET",
        "Change_Me_Please_0123456789",
        "password",
        "xxxxxxxxxxxxxxxxxx",
    ],
)
def test_example_secrets_are_refused_with_a_russian_message(secret: str) -> None:
    with pytest.raises(ConfigError, match="пример") as refused:
        check_secrets(parse_settings(with_ami(secret)))
    assert secret not in str(refused.value)


def test_a_short_ami_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="короче 16 символов"):
        check_secrets(parse_settings(with_ami("Zq3vJ8pX1mWc5Rt")))  # 15
    check_secrets(parse_settings(with_ami(GOOD_SECRET)))


def test_the_sandbox_and_its_generated_secret_pass() -> None:
    check_secrets(parse_settings({}))  # no [ami] host: the sandbox, whose secret is made for it
    generated = secrets.token_urlsafe(18)  # as dialer/sandbox/asterisk_conf.py makes it
    check_secrets(parse_settings(with_ami(generated, host="127.0.0.1")))


def test_other_example_values_are_refused_where_they_are_used() -> None:
    raw = with_ami(GOOD_SECRET) | {
        "sms": {"provider": "twilio", "twilio": {"account_sid": "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}
    }
    with pytest.raises(ConfigError, match=r"sms\.twilio\.account_sid"):
        check_secrets(parse_settings(raw))
    raw = with_ami(GOOD_SECRET) | {"webhook": {"url": "https://crm.example/hook", "secret": "change-me"}}
    with pytest.raises(ConfigError, match=r"webhook\.secret"):
        check_secrets(parse_settings(raw))


@pytest.mark.parametrize(
    ("host", "public_url"),
    [
        ("0.0.0.0", ""),
        ("0.0.0.0", "http://dialer.clinic.local"),
        ("192.168.1.10", ""),
        ("", ""),
        ("dialer", ""),
    ],
)
def test_listening_on_the_network_without_https_is_refused(host: str, public_url: str) -> None:
    settings = parse_settings({"service": {"listen_host": host, "public_url": public_url}})
    with pytest.raises(ConfigError, match="без шифрования"):
        check_listening(settings)


@pytest.mark.parametrize(
    ("host", "public_url"),
    [("127.0.0.1", ""), ("::1", ""), ("localhost", "http://x"), ("0.0.0.0", "https://dialer.clinic.ru")],
)
def test_loopback_or_https_starts_quietly(host: str, public_url: str) -> None:
    settings = parse_settings({"service": {"listen_host": host, "public_url": public_url}})
    assert check_listening(settings) is False


def test_cleartext_on_purpose_starts_with_a_loud_warning(caplog: pytest.LogCaptureFixture) -> None:
    from dialer.cli.service import _check_start

    settings = parse_settings(
        with_ami(GOOD_SECRET) | {"service": {"listen_host": "0.0.0.0", "insecure_http": True}}
    )
    with caplog.at_level(logging.WARNING):
        _check_start(settings, listening=True)
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "без шифрования" in record.getMessage()


# Secrets out of reprs and messages -------------------------------------------------------------------------


def test_the_database_password_is_masked_in_the_settings_repr() -> None:
    url = "postgresql+asyncpg://dialer:S3cr3t-pass@db:5432/dialer"
    settings = load_settings(env={"DIALER_DATABASE_URL": url})
    assert "S3cr3t-pass" not in repr(settings)
    assert "postgresql+asyncpg://dialer:****@db:5432/dialer" in repr(settings)
    assert "S3cr3t-pass" not in settings.service.db_url_shown
    assert settings.service.db_url == url  # the real one still reaches the engine
    assert mask_url_password("postgresql://u:p@h/db?password=q&sslmode=require") == (
        "postgresql://u:****@h/db?password=****&sslmode=require"
    )
    assert mask_url_password("sqlite+aiosqlite:///var/dialer.db") == "sqlite+aiosqlite:///var/dialer.db"


def test_a_database_errors_text_stays_out_of_the_description() -> None:
    detail = (
        'duplicate key value violates unique constraint "pk_patients"\n'
        "DETAIL:  Key (phone)=(+79161234567) already exists. Смирнова Анна"
    )
    try:
        try:
            raise ValueError(detail)
        except ValueError as orig:
            raise IntegrityError("INSERT INTO patients ...", {"name": "Смирнова Анна"}, orig) from orig
    except IntegrityError as exc:
        text = describe_error(exc)
    assert text == "IntegrityError <- ValueError"  # its kind, and where in dialer/ when raised there
    assert "9161234567" not in text and "Смирнова" not in text


def test_our_own_errors_keep_their_text_with_phones_masked() -> None:
    try:
        raise FieldError("phone", "номер +79161234567 не российский")
    except FieldError as exc:
        assert describe_error(exc) == "FieldError: phone: номер +7916*****67 не российский"
    try:
        open("/nonexistent/Смирнова.csv")  # noqa: SIM115
    except OSError as exc:
        assert describe_error(exc) == "FileNotFoundError: No such file or directory"


# Password hashing ------------------------------------------------------------------------------------------


def old_hash(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_new_hashes_cost_n_2_17_and_old_ones_still_verify() -> None:
    fresh = hash_password("long enough password")
    assert fresh.startswith("scrypt$131072$8$1$")
    assert verify_password("long enough password", fresh) and not needs_rehash(fresh)
    old = old_hash("long enough password")
    assert verify_password("long enough password", old) and needs_rehash(old)
    assert not verify_password("wrong password", old)


def test_a_tampered_hash_asking_for_huge_memory_is_refused_at_once() -> None:
    tampered = old_hash("x" * 12).replace("scrypt$16384$", f"scrypt${2**30}$")
    started = time.perf_counter()
    assert not verify_password("x" * 12, tampered)
    assert time.perf_counter() - started < 0.5


# Retention settings ----------------------------------------------------------------------------------------


def test_retention_defaults_and_overrides() -> None:
    assert parse_settings({}).retention == RetentionSettings()
    d = RetentionSettings()
    assert (d.attempts.days, d.sms.days, d.missed_calls.days, d.appointments.days) == (90, 90, 365, 365)
    assert (d.recalls.days, d.contacts.days, d.comments.days) == (365, 365, 180)
    custom = parse_settings({"retention": {"sms": "30d", "enabled": False, "purge_time": "02:15"}}).retention
    assert custom.sms.days == 30 and not custom.enabled and custom.purge_time.hour == 2
    with pytest.raises(ConfigError, match="неизвестные ключи"):
        parse_settings({"retention": {"sms_text": "30d"}})


# CSV cells -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+7 916 123-45-67 просил перезвонить", "'+7 916 123-45-67 просил перезвонить"),
        ("+79161234567", "'+79161234567"),  # shown as +79161234567 in Excel, not as 7,92E+10
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Иванова М. П.", "Иванова М. П."),
        ("", ""),
        (3, 3),
        (-1, -1),
        (None, None),
    ],
)
def test_formula_cells_are_neutralised(cell: object, written: object) -> None:
    assert formula_safe(cell) == written
    assert formula_safe_row([cell, "ok"]) == [written, "ok"]
