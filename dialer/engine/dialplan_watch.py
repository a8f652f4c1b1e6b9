"""Whether each PBX runs the dialplan this service came with: asked at every link-up, said in the log when it
does not (once per version seen), and shown in /metrics. A release may change what the service reads back from
the calls (the hangup record, the UserEvents); a PBX left on an older file keeps working but loses those."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from dialer.core.ports import LinkHook
from dialer.core.privacy import describe_error

log = logging.getLogger("dialer.dialplan")


class DialplanWatch:
    def __init__(self, shipped: str) -> None:
        self.shipped = shipped
        self.loaded: dict[str, str] = {}  # each PBX's version as last asked; "" for none shown

    def hook(self, pbx: str, ask: Callable[[], Awaitable[str | None]]) -> LinkHook:
        """The link-up hook of one PBX's link: `ask` gives its loaded version, None when it could not say."""

        async def link_up() -> None:
            try:
                version = await ask()
            except Exception as exc:  # the check must never stop the link's other hooks
                log.warning("PBX %s: could not ask which dialplan it runs: %s", pbx, describe_error(exc))
                return
            if version is None:
                return
            before = self.loaded.get(pbx)
            self.loaded[pbx] = version
            if version not in (self.shipped, before):
                log.warning(
                    "PBX %s runs extensions_dialer.conf version %s, this service's is %s: copy the service's "
                    "config/asterisk/extensions_dialer.conf to the PBX and run «dialplan reload»",
                    pbx,
                    version or "(none shown)",
                    self.shipped,
                )

        return link_up

    def current(self) -> dict[str, int]:
        """1 for each PBX whose loaded dialplan is this service's, 0 for one whose is not."""
        return {pbx: int(version == self.shipped) for pbx, version in self.loaded.items()}
