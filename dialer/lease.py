"""Only one process dials for a database at a time: the leader among the service's nodes, or a foreground
`campaign run`.

The lease names its holder (host, pid) and carries a generation, raised at every takeover: the fencing token
under which the leader writes the attempts it dials (dialer/storage/leases.py `check_fence`). A holder that
died on this host is taken over at once, any other holder when its lease expires (`[service] takeover`). The
holder renews it every third of its life: a renewal that fails for a moment (a locked database) is tried
again, but a holder that cannot renew within two thirds of the lease's life stops, before the lease can expire
under it and another node starts dialing the same patients.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from dialer.core.clock import Clock
from dialer.core.errors import ServiceStop
from dialer.core.fencing import Fence, Tenure
from dialer.core.privacy import describe_error
from dialer.sandbox.procs import pid_exists
from dialer.storage.leases import SqlLeaseStore

log = logging.getLogger("dialer")
loops_log = logging.getLogger("dialer.loops")  # where every loop's failed turns are told

LEASE = "dialing"
RELEASE_TIMEOUT_SECONDS = 2.0


class AlreadyDialing(ServiceStop):
    """Another dialer process holds the dialing lease for this database (or may hold it: ours expired)."""


async def try_lease(leases: SqlLeaseStore, holder: str, now: datetime, ttl: float) -> Fence | str:
    """Take the dialing lease, taking it over from a dead process on this host. Returns the fence, or the name
    of the live holder."""
    taken = await leases.take(LEASE, holder, now, ttl)
    if isinstance(taken, str):
        host, _, rest = taken.partition(":")
        pid = int(rest.split(":")[0]) if rest.split(":")[0].isdigit() else -1
        if host == socket.gethostname() and not pid_exists(pid):
            log.warning("taking over the dialing lease from %s, which is no longer running", taken)
            taken = await leases.take(LEASE, holder, now, ttl, steal_from=taken)
    return taken


async def hold_lease(leases: SqlLeaseStore, holder: str, now: datetime, ttl: float) -> Fence:
    """Take the dialing lease now, or stop: for a process that only dials (`campaign run`)."""
    taken = await try_lease(leases, holder, now, ttl)
    if isinstance(taken, str):
        raise AlreadyDialing(
            f"another dialer process ({taken}) is dialing for this database; stop it first, "
            "or let it run this campaign"
        )
    return taken


def tenure_of_new_lease(clock: Clock, ttl: float) -> Tenure:
    """The tenure of a lease just taken or renewed: good for two thirds of its life `ttl`, so the holder
    stops acting on it while the other nodes still see it held."""
    return Tenure(clock.monotonic(), ttl * 2 / 3)


async def renew_lease(leases: SqlLeaseStore, fence: Fence, clock: Clock, ttl: float, tenure: Tenure) -> None:
    """Renew every third of the lease's life until it is lost (AlreadyDialing). A failed renewal is tried
    again every tenth of it, and each waits no longer than what is left of `tenure`: the holder stops when it
    runs out at the latest, however the database fails (an error at once, or no answer at all). `tenure` is
    the one made when the lease was taken (`tenure_of_new_lease`), and is told each renewal."""
    give_up_after = tenure.good_for
    renewed = tenure.renewed
    failures = 0
    while True:
        left = renewed + give_up_after - clock.monotonic()
        try:
            held = await _within(leases.renew(fence, clock.now(), ttl), left)
        except Exception as err:
            failures += 1
            left = renewed + give_up_after - clock.monotonic()
            if left <= 0:
                raise AlreadyDialing(
                    f"could not renew the dialing lease for {give_up_after:.0f} s ({type(err).__name__}); "
                    "stopping before it expires, so no one dials twice"
                ) from err
            pause = min(ttl / 10, left)
            loops_log.error(
                "%s: a turn failed (%d in a row): %s; going on in %.0f s",
                "lease",
                failures,
                describe_error(err),
                pause,
            )
            await clock.sleep(pause)
            continue
        if not held:
            raise AlreadyDialing("lost the dialing lease to another process; stopping so no one dials twice")
        renewed, failures = clock.monotonic(), 0
        tenure.renewed = renewed
        await clock.sleep(ttl / 3)


async def _within(renewal: Coroutine[Any, Any, bool], seconds: float) -> bool:
    """The renewal's answer, or TimeoutError when the database has none within `seconds`: a socket's wait,
    in real seconds (on a test's fake clock, time jumps while a real database answers)."""
    try:
        return await asyncio.wait_for(renewal, max(seconds, 0.1))
    except TimeoutError:
        raise TimeoutError("no answer from the database") from None


async def release_lease(leases: SqlLeaseStore, holder: str) -> None:
    """Let a standby take over at once; bounded, as the database may be the reason for stopping."""
    try:
        await asyncio.wait_for(leases.release(LEASE, holder), RELEASE_TIMEOUT_SECONDS)
    except Exception as err:  # the lease then expires by itself; the text may quote the database's values
        log.warning("could not release the dialing lease (%s); it expires by itself", type(err).__name__)
