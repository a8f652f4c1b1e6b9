"""Every error dialer raises on purpose is of one documented kind, and the command line and the web answer each kind."""

from __future__ import annotations

import importlib
import pkgutil

import dialer
from dialer.ami.connection import AmiAuthError, AmiLinkLost
from dialer.cli.exits import EXIT_ERROR, explain
from dialer.core.csvfile import CsvError
from dialer.core.errors import (
    BadInput,
    ConfigError,
    Conflict,
    DialerError,
    NotFound,
    PeerFailed,
    Refused,
    ServiceStop,
)
from dialer.core.ports import SmsCallbackRejected, TelephonyUnavailable
from dialer.engine.wrapup import WrapupGone, WrapupNotFound
from dialer.web.errors import http_status

KINDS = (ConfigError, BadInput, NotFound, Conflict, PeerFailed, Refused, ServiceStop)


def product_exceptions() -> set[type[BaseException]]:
    for module in pkgutil.walk_packages(dialer.__path__, "dialer."):
        if ".migrations" not in module.name:  # Alembic's scripts run only inside Alembic
            importlib.import_module(module.name)
    found: set[type[BaseException]] = set()
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("dialer."):
            found.add(cls)
    return found


def test_every_product_exception_is_of_one_documented_kind() -> None:
    found = product_exceptions()
    assert len(found) >= 20
    strays = [c.__qualname__ for c in found if not issubclass(c, KINDS)]
    assert strays == ["DialerError"]


def test_the_command_line_says_what_to_fix_and_exits_with_its_code() -> None:
    assert explain(ConfigError("ami.secret: пример")) == (
        "Ошибка в настройках: ami.secret: пример",
        EXIT_ERROR,
    )
    refused = AmiAuthError("Asterisk refused the login")
    group = BaseExceptionGroup("service", [RuntimeError("other"), ExceptionGroup("ami", [refused])])
    assert explain(group) == ("dialer: Asterisk refused the login", EXIT_ERROR)
    assert explain(FileNotFoundError(2, "No such file")) == ("dialer: [Errno 2] No such file", EXIT_ERROR)


def test_an_unknown_error_is_named_by_its_type_without_its_text() -> None:
    line, code = explain(RuntimeError("INSERT … ('+79161234567', 'Смирнова Анна')"))
    assert code == EXIT_ERROR and line.startswith("dialer: внутренняя ошибка: RuntimeError")
    assert "79161234567" not in line and "Смирнова" not in line


def test_the_web_answers_each_kind_with_its_status() -> None:
    assert http_status(CsvError("файл пуст")) == 400
    assert http_status(SmsCallbackRejected("wrong signature")) == 403
    assert http_status(WrapupNotFound("нет такого звонка")) == 404
    assert http_status(WrapupGone("этот звонок уже оформлен")) == 409
    assert http_status(TelephonyUnavailable("no AMI link")) == 503
    assert http_status(AmiLinkLost("link lost")) == 503
    assert http_status(DialerError("?")) == 500
