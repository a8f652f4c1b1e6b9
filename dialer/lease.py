"""Only one process dials for a database at a time: the service, or a foreground `campaign run`.

The lease names its holder (host, pid); a holder that died on this host is taken over at once, any other
holder expires when it stops renewing. The holder renews it every third of its life: a renewal that fails for
a moment (a locked database) is tried again, but a holder that cannot renew within two thirds of the lease's
life stops, before the lease can expire under it and another process starts dialing the same patients.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime

from dialer.core.clock import Clock
from dialer.core.errors import ServiceStop
from dialer.engine.loops import forever
from dialer.sandbox.procs import pid_exists
from dialer.storage.leases import SqlLeaseStore

log = logging.getLogger("dialer")

LEASE = "dialing"
LEASE_TTL = 30.0


class AlreadyDialing(ServiceStop):
    """Another dialer process holds the dialing lease for this database (or may hold it: ours expired)."""


async def hold_lease(leases: SqlLeaseStore, holder: str, now: datetime) -> None:
    """Take the dialing lease, taking it over from a dead process on this host."""
    current = await leases.acquire(LEASE, holder, now, LEASE_TTL)
    if current is not None:
        host, _, rest = current.partition(":")
        pid = int(rest.split(":")[0]) if rest.split(":")[0].isdigit() else -1
        if host == socket.gethostname() and not pid_exists(pid):
            log.warning("taking over the dialing lease from %s, which is no longer running", current)
            current = await leases.acquire(LEASE, holder, now, LEASE_TTL, steal_from=current)
        if current is not None:
            raise AlreadyDialing(
                f"another dialer process ({current}) is dialing for this database; stop it first, "
                "or let it run this campaign"
            )


async def renew_lease(leases: SqlLeaseStore, holder: str, clock: Clock) -> None:
    renewed = clock.monotonic()

    async def renew() -> None:
        nonlocal renewed
        try:
            current = await leases.acquire(LEASE, holder, clock.now(), LEASE_TTL)
        except Exception as err:
            if clock.monotonic() - renewed >= LEASE_TTL * 2 / 3:
                raise AlreadyDialing(
                    f"could not renew the dialing lease for {LEASE_TTL * 2 / 3:.0f} s ({err!r}); "
                    "stopping before it expires, so no one dials twice"
                ) from err
            raise  # the loop logs it and tries again after a short pause
        if current is not None:
            raise AlreadyDialing("lost the dialing lease to another process; stopping so no one dials twice")
        renewed = clock.monotonic()
        await clock.sleep(LEASE_TTL / 3)

    await forever("lease", renew, clock)


async def release_lease(leases: SqlLeaseStore, holder: str) -> None:
    await leases.release(LEASE, holder)
