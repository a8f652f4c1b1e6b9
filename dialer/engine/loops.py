"""How a long-running loop goes on after an error in one of its turns.

Every loop of the service is a turn run again and again: wait for something, then act on it. An error
inside one turn (a database that is locked for a moment, a bad row, a bug met by one call) is logged by its
type and where it was raised, never its text, which may carry a patient's number (core/privacy). The loop goes
on after a pause that grows while the turns keep failing (1 s, 2 s, 4 s … one minute), waited through the
clock. One failing loop therefore never ends the TaskGroup that holds every call.

Only two kinds of error end a loop: cancellation (the service is stopping) and `ServiceStop`, raised on
purpose where going on would do harm (the dialing lease was lost: another process dials now) or can never
help (Asterisk refuses the login).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from dialer.core.clock import Clock
from dialer.core.errors import ServiceStop
from dialer.core.privacy import describe_error

log = logging.getLogger("dialer.loops")

T = TypeVar("T")

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 60.0


def pause_after(failures: int) -> float:
    """Seconds to wait after `failures` turns in a row have failed."""
    return min(LONGEST_PAUSE, FIRST_PAUSE * 2.0 ** min(max(failures - 1, 0), 16))


def must_stop(error: BaseException) -> bool:
    """A ServiceStop, also inside the exception group of a loop's own TaskGroup."""
    if isinstance(error, BaseExceptionGroup):
        return error.subgroup(ServiceStop) is not None
    return isinstance(error, ServiceStop)


async def forever(name: str, turn: Callable[[], Awaitable[object]], clock: Clock) -> NoReturn:
    """Run `turn` for ever; an error in one turn is logged and the loop goes on after a growing pause."""
    failures = 0
    while True:
        try:
            await turn()
        except Exception as error:
            failures += 1
            await _after_failure(name, failures, error, clock)
        else:
            failures = 0


async def _after_failure(name: str, failures: int, error: Exception, clock: Clock) -> None:
    """Log the `failures`-th error in a row and wait the pause after it; a ServiceStop goes on up."""
    if must_stop(error):
        raise error
    pause = pause_after(failures)
    log.error(
        "%s: a turn failed (%d in a row): %s; going on in %.0f s",
        name,
        failures,
        describe_error(error),
        pause,
    )
    await clock.sleep(pause)


async def until_done(name: str, step: Callable[[], Awaitable[object]], clock: Clock) -> None:
    """Run `step` until it works once; an error is logged and it is run again after a growing pause."""
    failures = 0
    while True:
        try:
            await step()
            return
        except Exception as error:
            failures += 1
            await _after_failure(name, failures, error, clock)


async def consume(
    name: str,
    queue: asyncio.Queue[T],
    handle: Callable[[T], Awaitable[object]],
    clock: Clock,
    *,
    tries: int = 1,
    give_up: Callable[[T], None] | None = None,
) -> NoReturn:
    """Handle a queue's items one by one, for ever. An item whose handling fails is handled again after the
    pause, up to `tries` times in all (a database locked for a moment), then handed to `give_up` (which keeps
    it elsewhere) or dropped; it is not named in the log: items carry callers' numbers. Only a handler that
    may run twice for one item asks for more than one."""
    retrying: tuple[T, int] | None = None

    async def turn() -> None:
        nonlocal retrying
        item, tried = retrying if retrying is not None else (await queue.get(), 0)
        last = tried + 1 >= tries
        retrying = None if last else (item, tried + 1)
        try:
            await handle(item)
        except Exception as error:
            if last and give_up is not None and not must_stop(error):
                give_up(item)
            raise
        retrying = None

    await forever(name, turn, clock)
