"""The version of the dialer's dialplan an Asterisk has loaded: what its `dialer-dialplan-version` context says
(AMI ShowDialPlan, which the dialer's AMI user may send with its "reporting" right)."""

from __future__ import annotations

from dialer.ami.connection import AmiActionError, AmiConnection, AmiLinkLost
from dialer.core.dialplan_version import VERSION_CONTEXT


async def loaded_dialplan_version(connection: AmiConnection) -> str | None:
    """The version the PBX's extensions_dialer.conf states; "" when Asterisk shows no such context (a file older
    than the version context, none at all, or an AMI user without the right); None when it could not be asked."""
    try:
        reply = await connection.action(
            {"Action": "ShowDialPlan", "Context": VERSION_CONTEXT}, as_list=True, timeout=10.0
        )
    except AmiActionError:
        return ""
    except (AmiLinkLost, TimeoutError):
        return None
    for item in reply:
        if item.get("Application") == "NoOp":
            return str(item.get("AppData", ""))
    return ""
