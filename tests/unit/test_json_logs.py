"""JSON log lines: one object a line, a phone masked in the message and in the exception's traceback alike,
chosen by `--log-format json` or `[service] log_format = "json"`."""

from __future__ import annotations

import io
import json
import logging
import tomllib

import pytest

from dialer.__main__ import parser
from dialer.core.errors import ConfigError
from dialer.logjson import JsonFormatter, formatter
from dialer.settings import parse_settings

PHONE = "+79161234567"


def logged(record_it: object) -> list[dict[str, str]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("dialer.test-json")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        assert callable(record_it)
        record_it(log)
    finally:
        log.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_message_and_an_exception_with_a_phone_are_masked_in_one_json_line() -> None:
    def write(log: logging.Logger) -> None:
        log.warning("calling %s for attempt %s", PHONE, "inst:reminders:7:1")
        try:
            raise ValueError(f"the gateway refused 8 (916) 123-45-67 and {PHONE}")
        except ValueError:
            log.exception("sms to %s failed", PHONE)

    first, second = logged(write)
    assert set(first) == {"ts", "level", "logger", "message"}
    assert first["level"] == "WARNING" and first["logger"] == "dialer.test-json"
    assert first["message"] == "calling +7916*****67 for attempt inst:reminders:7:1"
    assert first["ts"].endswith("+00:00")
    assert second["message"] == "sms to +7916*****67 failed"
    assert "ValueError: the gateway refused" in second["exception"]
    assert "123-45-67" not in second["exception"] and PHONE not in second["exception"]
    assert "+7916*****67" in second["exception"]


def test_cyrillic_stays_readable_and_the_line_is_one_line() -> None:
    (entry,) = logged(lambda log: log.info("клиника «Улыбка»:\nдве строки"))
    assert entry["message"] == "клиника «Улыбка»:\nдве строки"


def test_the_format_is_chosen_by_flag_or_setting_and_a_wrong_one_is_refused() -> None:
    assert parser().parse_args(["--log-format", "json", "run"]).log_format == "json"
    with pytest.raises(SystemExit):
        parser().parse_args(["--log-format", "xml", "run"])
    assert isinstance(formatter("json"), JsonFormatter)
    assert not isinstance(formatter("text"), JsonFormatter)
    assert parse_settings(tomllib.loads('[service]\nlog_format = "json"\n')).service.log_format == "json"
    assert parse_settings({}).service.log_format == "text"
    with pytest.raises(ConfigError, match=r"service\.log_format"):
        parse_settings(tomllib.loads('[service]\nlog_format = "xml"\n'))
