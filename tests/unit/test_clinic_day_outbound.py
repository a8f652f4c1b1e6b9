"""The simulated day's outbound figures (bench/day/outbound_figures.py) from the two Asterisks' events as they
send them, the SMS server's messages and the lists: whom the reminders reached, who was texted how often, the
КОС patients who picked up and talked to an administrator, and a phone rung twice at once."""

from __future__ import annotations

from bench.day.outbound_figures import outbound_figures, outbound_lines
from bench.lib.rawami import Frame

CONFIRMS, SILENT, NO_CONSENT, WRONG, TEXTED_TWICE = (
    "79200000111",
    "79200000227",
    "79200000331",
    "79200000440",
    "79200000553",
)
RECALL_TALKS, RECALL_AWAY = "79200000611", "79200000773"
ATTEMPT = "ab12cd34:reminders:{}:1"


def reminder(phone: str, behaviour: str) -> dict[str, str]:
    return {"row_id": phone[-3:], "phone": f"+{phone}", "behaviour": behaviour}


def ring(channel: str, number: str, start: float, end: float) -> list[tuple[float, Frame]]:
    """The carrier's channel to `number`, up from `start` to `end` (Asterisk's stamps)."""
    return [
        (start, {"Event": "Newchannel", "Channel": channel, "Uniqueid": channel, "Exten": number,
                 "Timestamp": f"{start:.6f}"}),
        (end, {"Event": "Hangup", "Channel": channel, "Uniqueid": channel, "Timestamp": f"{end:.6f}"}),
    ]  # fmt: skip


def picked_up(channel: str, at: float) -> tuple[float, Frame]:
    return (at, {"Event": "Newstate", "Channel": channel, "ChannelStateDesc": "Up", "Uniqueid": channel})


def keyed(channel: str, key: str, at: float) -> tuple[float, Frame]:
    return (at, {"Event": "Newexten", "Channel": channel, "Uniqueid": channel, "Application": "SendDTMF",
                 "AppData": key})  # fmt: skip


Events = list[tuple[float, Frame]]


def world() -> tuple[Events, Events, list[dict[str, str]], list[dict[str, str]]]:
    """The carrier's events, the clinic's, the service's attempts (id -> number) and the SMS server's messages."""
    carrier = [
        *ring("PJSIP/clinic-1", CONFIRMS, 10, 30),
        picked_up("PJSIP/clinic-1", 12),
        keyed("PJSIP/clinic-1", "1", 15),
        *ring("PJSIP/clinic-2", SILENT, 20, 60),  # answers and says nothing
        picked_up("PJSIP/clinic-2", 22),
        *ring("PJSIP/clinic-3", TEXTED_TWICE, 40, 50),
        *ring("PJSIP/clinic-4", TEXTED_TWICE, 45, 55),  # rung again while the first call was up
        *ring("PJSIP/clinic-5", RECALL_TALKS, 70, 120),
        picked_up("PJSIP/clinic-5", 72),
        *ring("PJSIP/clinic-6", RECALL_AWAY, 80, 110),
        keyed("PJSIP/clinic-6", "9", 90),  # not a menu key
    ]
    recall_attempt = "ab12cd34:kos:7:1"
    clinic = [
        (15.1, {"Event": "UserEvent", "UserEvent": "DialerDigit", "Digit": "1", "AttemptId": ATTEMPT.format(1)}),
        (25.0, {"Event": "UserEvent", "UserEvent": "DialerDigit", "Digit": "2", "AttemptId": ATTEMPT.format(2)}),
        (75.0, {"Event": "BridgeEnter", "BridgeUniqueid": "b1", "Channel": "Local/kos;1", "Uniqueid": recall_attempt}),
        (75.1, {"Event": "BridgeEnter", "BridgeUniqueid": "b1", "Channel": "Local/admin1@sandbox-agents;1",
                "Uniqueid": "1764800000.5"}),
        (85.0, {"Event": "BridgeEnter", "BridgeUniqueid": "b2", "Channel": "Local/x;1",
                "Uniqueid": "ab12cd34:kos:8:1"}),  # a bridge with no administrator in it
    ]  # fmt: skip
    attempts = [
        {"attempt_id": ATTEMPT.format(1), "phone": f"+{CONFIRMS}"},
        {"attempt_id": ATTEMPT.format(2), "phone": f"+{SILENT}"},  # the IVR heard a key the phone never sent
        {"attempt_id": recall_attempt, "phone": f"+{RECALL_TALKS}"},
        {"attempt_id": "ab12cd34:kos:8:1", "phone": f"+{RECALL_AWAY}"},
    ]
    sms = [{"to": f"+{n}"} for n in (SILENT, TEXTED_TWICE, TEXTED_TWICE, NO_CONSENT, RECALL_AWAY)]
    return carrier, clinic, attempts, sms


def test_reached_texted_and_rung_twice_are_counted_from_the_world() -> None:
    carrier, clinic, attempts, sms = world()
    lists = {
        "reminders": [
            reminder(CONFIRMS, "confirms"),
            reminder(SILENT, "silent"),
            reminder(NO_CONSENT, "no SMS consent"),
            reminder(WRONG, "wrong number"),
            reminder(TEXTED_TWICE, "rings out"),
        ],
        "recalls": [reminder(RECALL_TALKS, "talks"), reminder(RECALL_AWAY, "away")],
    }
    f = outbound_figures(
        clinic,
        carrier,
        attempts,
        sms,
        lists,
        [{"status": "call"}, {"status": "done"}],
        [{"reminder_status": "confirmed"}, {"reminder_status": "no_answer"}],
    )
    assert (f.reminders, f.reached, f.heard, f.heard_not_pressed) == (5, 1, 2, 1)
    # Consenting and not reached: the silent one (texted once) and the one rung twice (texted twice).
    assert (f.unreached, f.unreached_texted_once, f.unreached_texted_twice) == (2, 1, 1)
    assert f.unreached_texted == 0.5
    assert f.untexted_by_behaviour == {"rings out": 1}
    assert (f.no_consent_texted, f.wrong_numbers, f.wrong_numbers_texted) == (1, 1, 0)
    assert (f.recalls, f.recalls_answered, f.recalls_with_admin, f.recalls_texted) == (2, 1, 1, 1)
    assert f.dialled_at_once == 1
    assert f.reminder_status == {"confirmed": 1, "no_answer": 1} and f.recall_status == {"call": 1, "done": 1}
    assert any("texted exactly once: 1 (0.500)" in line for line in outbound_lines(f))
