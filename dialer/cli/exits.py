"""Exit codes, and the one table that turns an error into the line a user reads and the code the process ends with."""

from __future__ import annotations

from dialer.core.errors import ConfigError, DialerError
from dialer.core.privacy import describe_error

EXIT_OK, EXIT_ROWS_FAILED, EXIT_ERROR = 0, 1, 2

# The line and the exit code for each kind of error a user can act on, looked up along the error's classes: every
# kind in dialer.core.errors but a settings error reads the same. An OSError (a file that cannot be read, a port
# taken) is the world's, not ours, but a user can act on it as well.
ERROR_EXITS: dict[type[BaseException], tuple[str, int]] = {
    ConfigError: ("Ошибка в настройках: {error}", EXIT_ERROR),
    DialerError: ("dialer: {error}", EXIT_ERROR),
    OSError: ("dialer: {error}", EXIT_ERROR),
}
# Not a traceback: a database error's text carries the values it was given (names, phones).
INTERNAL_ERROR = ("dialer: внутренняя ошибка: {error}", EXIT_ERROR)


def first_known_error(exc: BaseException) -> BaseException | None:
    """Dig the error a user can act on out of a TaskGroup's exception group."""
    if isinstance(exc, tuple(ERROR_EXITS)):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_known_error(inner)
            if found is not None:
                return found
    return None


def explain(exc: BaseException) -> tuple[str, int]:
    """The line for the terminal and the exit code, for any error that ended a command."""
    known = first_known_error(exc)
    if known is None:
        line, code = INTERNAL_ERROR
        return line.format(error=describe_error(exc)), code
    line, code = next(ERROR_EXITS[kind] for kind in type(known).__mro__ if kind in ERROR_EXITS)
    return line.format(error=known), code
