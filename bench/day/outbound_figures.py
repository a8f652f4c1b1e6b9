"""The outbound lists' figures from the world: whom the reminder calls reached (the patient's phone on the
carrier pressing a menu key on a call from the clinic), who got an SMS (what the Twilio-compatible server took, by
number), and whether one patient's phone was rung twice at once (the carrier's channels to it). The service's
rows serve only as the directory from an attempt id to the number it dialled. Pure."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.lib.rawami import Frame
from bench.peak.occupancy import event_time
from dialer.core.ids import AttemptId

MENU_KEYS = frozenset("123")
# A list's patient rows as the run keeps them: {"row_id", "phone", "behaviour"}.
Row = dict[str, str]


@dataclass(frozen=True)
class OutboundFigures:
    reminders: int
    reached: int  # their phone pressed a menu key on a call from the clinic (the carrier)
    heard: int  # the clinic's IVR read a menu key on a call to them (the clinic's Asterisk)
    heard_not_pressed: int
    unreached: int  # never answered, or answered without a key (wrong numbers and no-consent rows aside)
    unreached_texted_once: int
    unreached_texted_twice: int
    no_consent_texted: int
    wrong_numbers: int
    wrong_numbers_texted: int
    untexted_by_behaviour: dict[str, int]  # the unreached without exactly one SMS, by what their far end does
    reminder_status: dict[str, int]  # the service's own record of the reminders
    recalls: int
    recalls_answered: int  # the carrier saw their phone picked up
    recalls_with_admin: int  # the answered call shared a bridge with a simulated administrator
    recalls_texted: int
    recall_status: dict[str, int]  # the service's own record of the round
    dialled_at_once: int  # a patient of the lists rung again while a call to them was still up

    @property
    def unreached_texted(self) -> float:
        return self.unreached_texted_once / self.unreached if self.unreached else math.nan


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def pressed(carrier_events: list[tuple[float, Frame]], numbers: set[str]) -> set[str]:
    """Numbers whose phone pressed a menu key on a call from the clinic: the carrier's far end ran SendDTMF
    with a key 1-3 on the channel that rang that number."""
    number_of: dict[str, str] = {}
    keyed = set()
    for _, frame in carrier_events:
        name, uniqueid = frame.get("Event"), frame.get("Uniqueid", "")
        if name == "Newchannel" and _digits(frame.get("Exten", "")) in numbers:
            number_of[uniqueid] = _digits(frame.get("Exten", ""))
        elif name == "Newexten" and frame.get("Application") == "SendDTMF" and uniqueid in number_of:
            keyed.update([number_of[uniqueid]] if frame.get("AppData", "")[:1] in MENU_KEYS else [])
    return keyed


def heard(events: list[tuple[float, Frame]]) -> set[str]:
    """Attempt ids whose IVR read a menu key: the clinic's Asterisk's DialerDigit user event."""
    return {
        frame.get("AttemptId", "")
        for _, frame in events
        if frame.get("Event") == "UserEvent"
        and frame.get("UserEvent") == "DialerDigit"
        and frame.get("Digit") in MENU_KEYS
    }


def with_admin(events: list[tuple[float, Frame]]) -> set[str]:
    """Attempt ids whose channel entered a bridge that a simulated administrator's channel entered too."""
    members: dict[str, set[str]] = {}
    for _, frame in events:
        if frame.get("Event") == "BridgeEnter":
            members.setdefault(frame.get("BridgeUniqueid", ""), set()).add(
                f"{frame.get('Channel', '')}|{frame.get('Uniqueid', '')}"
            )
    found = set()
    for channels in members.values():
        if any(c.startswith("Local/admin") for c in channels):
            found |= {c.split("|", 1)[1] for c in channels if AttemptId.try_parse(c.split("|", 1)[1])}
    return found


def carrier_calls(
    carrier_events: list[tuple[float, Frame]], numbers: set[str]
) -> dict[str, list[tuple[float, float]]]:
    """Number -> (start, end) of each carrier channel that rang it, in order."""
    open_at: dict[str, tuple[str, float]] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    for arrived, frame in carrier_events:
        name, channel = frame.get("Event"), frame.get("Channel", "")
        if name == "Newchannel" and channel.startswith("PJSIP/"):
            number = _digits(frame.get("Exten", ""))
            if number in numbers:
                open_at[channel] = (number, event_time(arrived, frame))
        elif name == "Hangup" and channel in open_at:
            number, start = open_at.pop(channel)
            spans.setdefault(number, []).append((start, event_time(arrived, frame)))
    return {n: sorted(v) for n, v in spans.items()}


def overlapping(calls: dict[str, list[tuple[float, float]]]) -> int:
    """Calls that began while an earlier call to the same number was still up."""
    count = 0
    for pairs in calls.values():
        latest_end = -math.inf
        for start, end in pairs:
            count += start < latest_end
            latest_end = max(latest_end, end)
    return count


def answered_numbers(carrier_events: list[tuple[float, Frame]], numbers: set[str]) -> set[str]:
    """Numbers whose carrier channel went Up: the far end picked up."""
    channel_number: dict[str, str] = {}
    answered = set()
    for _, frame in carrier_events:
        name, channel = frame.get("Event"), frame.get("Channel", "")
        if name == "Newchannel" and _digits(frame.get("Exten", "")) in numbers:
            channel_number[channel] = _digits(frame.get("Exten", ""))
        elif name == "Newstate" and frame.get("ChannelStateDesc") == "Up" and channel in channel_number:
            answered.add(channel_number[channel])
    return answered


def outbound_figures(
    events: list[tuple[float, Frame]],
    carrier_events: list[tuple[float, Frame]],
    attempts: list[dict[str, Any]],
    sms: list[dict[str, str]],
    lists: dict[str, list[Row]],
    recall_rows: list[dict[str, Any]],
    reminder_rows: list[dict[str, Any]],
) -> OutboundFigures:
    reminders, recalls = lists.get("reminders", []), lists.get("recalls", [])
    phone_of = {str(a["attempt_id"]): _digits(str(a["phone"])) for a in attempts}
    reminder_numbers = {_digits(r["phone"]) for r in reminders}
    reached = pressed(carrier_events, reminder_numbers)
    heard_from = {phone_of.get(uid, "") for uid in heard(events)} & reminder_numbers
    texts = Counter(_digits(m["to"]) for m in sms)
    consenting = [r for r in reminders if r["behaviour"] not in ("no SMS consent", "wrong number")]
    unreached = [r for r in consenting if _digits(r["phone"]) not in reached]
    wrong = [r for r in reminders if r["behaviour"] == "wrong number"]
    numbers = {_digits(r["phone"]) for r in reminders + recalls}
    recall_numbers = {_digits(r["phone"]) for r in recalls}
    admin = {phone_of.get(uid, "") for uid in with_admin(events)}
    return OutboundFigures(
        reminders=len(reminders),
        reached=len(reached),
        heard=len(heard_from),
        heard_not_pressed=len(heard_from - reached),
        unreached=len(unreached),
        unreached_texted_once=sum(texts[_digits(r["phone"])] == 1 for r in unreached),
        unreached_texted_twice=sum(texts[_digits(r["phone"])] > 1 for r in unreached),
        no_consent_texted=sum(
            texts[_digits(r["phone"])] > 0 for r in reminders if r["behaviour"] == "no SMS consent"
        ),
        wrong_numbers=len(wrong),
        wrong_numbers_texted=sum(texts[_digits(r["phone"])] > 0 for r in wrong),
        untexted_by_behaviour=dict(
            Counter(r["behaviour"] for r in unreached if texts[_digits(r["phone"])] != 1)
        ),
        reminder_status=dict(Counter(str(r.get("reminder_status", "")) for r in reminder_rows)),
        recalls=len(recalls),
        recalls_answered=len(answered_numbers(carrier_events, recall_numbers)),
        recalls_with_admin=len(admin & recall_numbers),
        recalls_texted=sum(texts[n] > 0 for n in recall_numbers),
        recall_status=dict(Counter(str(r.get("status", "")) for r in recall_rows)),
        dialled_at_once=overlapping(carrier_calls(carrier_events, numbers)),
    )


def outbound_lines(f: OutboundFigures) -> list[str]:
    rate = "n/a" if math.isnan(f.unreached_texted) else f"{f.unreached_texted:.3f}"
    return [
        f"  reminders: {f.reminders}; their phone pressed 1-3 on a call from the clinic (the carrier): {f.reached}; "
        f"the clinic's IVR read 1-3 from them: {f.heard} ({f.heard_not_pressed} not pressed)",
        f"    not reached (never answered or no key; wrong numbers and rows without SMS consent aside): "
        f"{f.unreached}",
        f"    not reached, texted exactly once: {f.unreached_texted_once} ({rate}), more than once: "
        f"{f.unreached_texted_twice} (the Twilio-compatible server's messages, by number)",
        f"    no SMS consent yet texted: {f.no_consent_texted}; wrong numbers: {f.wrong_numbers}, texted: "
        f"{f.wrong_numbers_texted}",
        f"    not reached without exactly one SMS, by far end: {f.untexted_by_behaviour}",
        f"    the service's record of the reminders: {f.reminder_status}",
        f"  КОС recalls: {f.recalls}; picked up (the carrier): {f.recalls_answered}; in a bridge with an "
        f"administrator (the clinic's Asterisk): {f.recalls_with_admin}; texted: {f.recalls_texted}",
        f"    the service's record of the round: {f.recall_status}",
        f"  a list's patient rung again while a call to them was up (the carrier): {f.dialled_at_once}",
    ]
