"""The engine's Telephony port on an AMI connection: Originate exactly once, and what Asterisk knows now."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from dialer.ami.connection import AmiActionError, AmiConnection, AmiLinkLost
from dialer.core.ids import AttemptId
from dialer.core.outcomes import to_int
from dialer.core.ports import (
    LiveChannel,
    OriginateRejected,
    OriginateRequest,
    RecordedOutcome,
    TelephonyUnavailable,
)
from dialer.core.privacy import scrub_phones

log = logging.getLogger("dialer.ami")

OUTCOME_FAMILY = "dialer"
FIRST_REFUSAL = 300  # SIP responses below are provisional or success
INSTALLATION_VARIABLE = "DIALER_INSTALLATION"


def escape_commas(value: str) -> str:
    """Originate splits Variable values on commas; a backslash keeps one literal."""
    return value.replace(",", "\\,")


def originate_fields(request: OriginateRequest, sender: str = "") -> dict[str, Any]:
    """The Originate action. `sender` (this process's own token) makes its ActionID unique on the PBX, so
    that its OriginateResponse is told from the answer to any other Originate of the same attempt id."""
    handler = escape_commas(f"dialer-hangup,s,1({request.attempt_id})")
    variables = [f"{name}={escape_commas(value)}" for name, value in request.variables.items()]
    variables.append(f"CHANNEL(hangup_handler_push)={handler}")
    attempt = AttemptId.try_parse(request.attempt_id)
    if attempt is not None and attempt.installation:
        # The dialplan names its recordings' folder by it: each installation sharing the PBX takes its own.
        variables.append(f"{INSTALLATION_VARIABLE}={attempt.installation}")
    fields: dict[str, Any] = {
        "Action": "Originate",
        "ActionID": f"originate/{request.attempt_id}/{sender}"
        if sender
        else f"originate/{request.attempt_id}",
        "Channel": request.channel,
        "Context": request.context,
        "Exten": request.exten,
        "Priority": "1",
        "Timeout": str(request.timeout_ms),
        "Async": "true",  # a synchronous Originate blocks the whole AMI session until the call ends
        "ChannelId": request.attempt_id,
        "Variable": variables,
    }
    if request.caller_id:
        fields["CallerID"] = request.caller_id
    return fields


class AmiTelephony:
    def __init__(self, connection: AmiConnection) -> None:
        self.connection = connection
        self.sender = secrets.token_hex(4)  # this process's, in every Originate's ActionID

    async def originate(self, request: OriginateRequest) -> None:
        if not self.connection.connected:
            raise TelephonyUnavailable("no AMI link")
        try:
            await self.connection.action(originate_fields(request, self.sender), as_list=False, timeout=15.0)
        except AmiActionError as err:
            raise OriginateRejected(scrub_phones(str(err))) from None
        except (AmiLinkLost, TimeoutError):
            # Sent, but the answer is lost. Never resend: the engine reconciles with Asterisk.
            log.warning(
                "originate %s: link lost before Asterisk answered; will reconcile", request.attempt_id
            )

    async def live_channels(self) -> dict[str, LiveChannel]:
        try:
            reply = await self.connection.action({"Action": "CoreShowChannels"}, as_list=True, timeout=15.0)
        except (AmiLinkLost, AmiActionError) as err:
            raise TelephonyUnavailable(str(err)) from None
        channels: dict[str, LiveChannel] = {}
        for item in reply:
            if item.get("Event") == "CoreShowChannel":
                uniqueid = str(item.get("Uniqueid", ""))
                channels[uniqueid] = LiveChannel(
                    uniqueid, str(item.get("Channel", "")), str(item.get("ChannelStateDesc", ""))
                )
        return channels

    async def recorded_outcome(self, attempt_id: str) -> RecordedOutcome | None:
        try:
            reply = await self.connection.action(
                {"Action": "DBGet", "Family": OUTCOME_FAMILY, "Key": attempt_id}, timeout=10.0
            )
        except AmiActionError:
            return None  # "Database entry not found": the dialplan never ran for this attempt
        except AmiLinkLost as err:
            raise TelephonyUnavailable(str(err)) from None
        for item in reply if isinstance(reply, list) else [reply]:
            if item.get("Event") == "DBGetResponse":
                return parse_outcome(str(item.get("Val", "")))
        return None

    async def queue_status(self) -> list[dict[str, str]]:
        try:
            reply = await self.connection.action({"Action": "QueueStatus"}, as_list=True, timeout=15.0)
        except (AmiLinkLost, AmiActionError) as err:
            raise TelephonyUnavailable(str(err)) from None
        return [{str(k): str(v) for k, v in item.items()} for item in reply if item.get("Event")]

    async def forget_outcome(self, attempt_id: str) -> None:
        # DBDel needs the "system" privilege, which with "originate" would allow a shell; DB_DELETE via
        # Setvar needs only "call".
        # Not waited for: a record left behind is harmless (only open attempts' records are ever read).
        try:
            self.connection.tell(
                {"Action": "Setvar", "Variable": f"DB_DELETE({OUTCOME_FAMILY}/{attempt_id})", "Value": "1"}
            )
        except AmiLinkLost as err:
            log.debug("DBDel %s: %s", attempt_id, err)

    async def set_global(self, name: str, value: str) -> None:
        try:
            await self.connection.action({"Action": "Setvar", "Variable": name, "Value": value})
        except (AmiActionError, AmiLinkLost, TimeoutError) as err:
            log.warning("global %s not set: %s", name, err)

    async def redirect(self, channel: str, context: str) -> None:
        if not self.connection.connected:
            raise TelephonyUnavailable("no AMI link")
        fields = {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": "s", "Priority": "1"}
        try:
            await self.connection.action(fields, timeout=5.0)
        except (AmiActionError, AmiLinkLost, TimeoutError) as err:
            # The channel may have hung up meanwhile: the call ends as what it was.
            raise TelephonyUnavailable(str(err)) from None


def parse_outcome(value: str) -> RecordedOutcome:
    """Parse ``cause=19;stage=;digit=;leg_cause=;sip=480`` as written by the dialplan's dialer-hangup handler (a
    record of an older dialplan has no leg_cause or sip)."""
    fields = dict(part.partition("=")[::2] for part in value.split(";") if "=" in part)
    sip = to_int(fields.get("sip"))
    return RecordedOutcome(
        cause=to_int(fields.get("cause")),
        stage=fields.get("stage", ""),
        digit=fields.get("digit", ""),
        leg_cause=to_int(fields.get("leg_cause")),
        # The channel keeps the last response it had: a 180 when the clinic stopped ringing, a 200 once answered.
        sip=sip if sip is not None and sip >= FIRST_REFUSAL else None,
    )
