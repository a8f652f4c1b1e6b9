"""Several Asterisks: `[ami]` is the one named "main", each `[pbx.<name>]` one more, with the same keys.

Each may name its own `queue_log` (that Asterisk's file where the service can read it), read after its link was
down as `[inbound] queue_log` is for main. A clinic names its Asterisk with `pbx = "<name>"`. A name no table
describes is an error; two names for one host:port would open two links to the same Asterisk and dial through
both, so that is an error too. An Asterisk no clinic uses is only a warning: it may be set up before its
clinics move to it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace

from dialer.core.errors import ConfigError
from dialer.settings.model import DEFAULT_PBX, AmiSettings, Settings
from dialer.settings.reader import Table

log = logging.getLogger("dialer.settings")

# The name heads call ids and labels metrics: letters, digits, dash and underscore only.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def parse_pbxes(
    t: Table, main: AmiSettings, parse_one: Callable[[Table, str], AmiSettings]
) -> dict[str, AmiSettings]:
    """`[pbx.<name>]` tables, each read like `[ami]`."""
    pbxes: dict[str, AmiSettings] = {}
    for name in t.names():
        where = f"pbx.{name}"
        if name == DEFAULT_PBX:
            raise ConfigError(f"[{where}]: имя {DEFAULT_PBX!r} занято АТС из [ami]; выберите другое")
        if not _NAME.match(name):
            raise ConfigError(f"[{where}]: имя АТС — латинские буквы, цифры, «-» и «_», до 32 знаков")
        table = t.table(name)
        queue_log = table.text("queue_log", "")  # [ami] has none: main's is [inbound] queue_log
        pbx = replace(parse_one(table, where), queue_log=queue_log)
        if not pbx.host:
            raise ConfigError(f"{where}.host: не задан (песочница бывает только у [ami])")
        pbxes[name] = pbx
    _refuse_same_address({DEFAULT_PBX: main, **pbxes})
    return pbxes


def _refuse_same_address(pbxes: dict[str, AmiSettings]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for name, pbx in pbxes.items():
        if not pbx.host:
            continue
        address = (pbx.host, pbx.port)
        if address in seen:
            raise ConfigError(
                f"[pbx.{name}]: {pbx.host}:{pbx.port} уже описан как АТС {seen[address]!r}; "
                "две связи с одной АТС набрали бы пациента дважды"
            )
        seen[address] = name


def refuse_unknown_pbx(settings: Settings) -> None:
    """Every clinic's `pbx` names a described Asterisk; an Asterisk no clinic uses is logged."""
    known = settings.pbxes
    for index, clinic in enumerate(settings.clinics.values()):
        if clinic.pbx not in known:
            raise ConfigError(f"clinics[{index}].pbx: нет АТС {clinic.pbx!r} (есть: {sorted(known)})")
    for name in unused_pbxes(settings):
        log.warning("АТС %s не указана ни у одной клиники: её звонки никто не ведёт", name)


def unused_pbxes(settings: Settings) -> list[str]:
    """The `[pbx.<name>]` Asterisks no clinic names (the main one may stand alone, with no clinics yet)."""
    used = {clinic.pbx for clinic in settings.clinics.values()}
    return [name for name in settings.pbx if name not in used]
