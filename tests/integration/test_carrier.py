"""The sandbox's carrier against the real thing: calls from the clinic's Asterisk over the PJSIP trunk, one to
each of the carrier's number patterns, and what the clinic's side sees of them over AMI.

All the calls are placed at once (they take about 25 s together) and each test reads its own call's events.
The clinic's end of an answered call is tests/asterisk/carrier_probe.conf: it reports the far end's speech
(TALK_DETECT's ChannelTalkingStart/Stop) and the first key pressed.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from bench.lib.rawami import Frame, RawAmi
from dialer.sandbox.carrier import CARRIER_USERNAME
from tests.asterisk_plugin import SandboxHandle

pytestmark = pytest.mark.asterisk

LISTEN_S = 20  # how long the clinic's end waits for a key (the Read timeout)
RING_TIMEOUT_MS = 8000  # the clinic gives up on the ringing number after this
ANSWER_TIMEOUT_MS = 30000
# The last digit picks the outcome, the one before it the key a person presses, the third from the end the
# voice (dialer/sandbox/carrier_dialplan.py).
NUMBERS = {
    "unallocated": "79990000000",
    "person": "79990000011",
    "busy": "79990000002",
    "ringing": "79990000003",
    "congestion": "79990000004",
    "unavailable": "79990000005",
    "early": "79990000026",
    "early-3s": "79990003036",
    "silent-0": "79990000007",
    "silent-2": "79990000207",
    "voicemail-0": "79990000008",
    "voicemail-1": "79990000108",
    "voicemail-2": "79990000208",
    "assistant": "79990000009",
    # +7 94… variants: the early presser hangs up right after the key, the silent answer after 4 s.
    "early-gone": "79400000026",
    "silent-gone": "79400000107",
}


@dataclass
class TrunkCall:
    """One call's AMI events as the clinic's side saw them, each with its arrival time (wall clock)."""

    number: str
    uniqueid: str
    events: list[tuple[float, Frame]] = field(default_factory=list)

    def first(self, event: str, **fields: str) -> tuple[float, Frame] | None:
        for at, frame in self.events:
            if frame.get("Event") == event and all(frame.get(k) == v for k, v in fields.items()):
                return at, frame
        return None

    def all(self, event: str) -> list[tuple[float, Frame]]:
        return [(at, frame) for at, frame in self.events if frame.get("Event") == event]

    @property
    def hangup(self) -> Frame:
        found = self.first("Hangup")
        assert found is not None, f"{self.number}: no Hangup seen"
        return found[1]

    @property
    def answered_at(self) -> float | None:
        found = self.first("Newstate", ChannelStateDesc="Up")
        return found[0] if found else None

    @property
    def dial_states(self) -> list[str]:
        return [frame.get("DialStatus", "") for _, frame in self.all("DialState")]

    @property
    def digit(self) -> str | None:
        """The key the clinic's end read; None when the call never got to say."""
        found = self.first("UserEvent", UserEvent="CarrierProbe")
        return found[1].get("Digit", "") if found else None

    def digit_after_answer_s(self) -> float:
        answered, found = self.answered_at, self.first("UserEvent", UserEvent="CarrierProbe")
        assert answered is not None and found is not None, f"{self.number}: not answered or no key report"
        return found[0] - answered

    def talk_ms(self) -> list[int]:
        """The far end's stretches of sound, by TALK_DETECT's own measure (without the silence that ends one)."""
        return [int(frame.get("Duration", "0") or 0) for _, frame in self.all("ChannelTalkingStop")]

    def sound_span_s(self) -> float:
        """From the first sound the far end made to the end of its last one, by Asterisk's timestamps."""
        starts = [float(frame["Timestamp"]) for _, frame in self.all("ChannelTalkingStart")]
        stops = self.all("ChannelTalkingStop")
        assert starts and len(stops) == len(starts), f"{self.number}: talking {starts}, stops {stops}"
        last_start, (_, last_stop) = starts[-1], stops[-1]
        return last_start + int(last_stop["Duration"]) / 1000 - starts[0]


async def _place_all(sandbox: SandboxHandle) -> dict[str, TrunkCall]:
    ami = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
    tag = f"carrier{int(time.time() * 1000)}"
    # Fixed-width ids: Asterisk 22 refuses a ChannelId that is a prefix of a live channel's Uniqueid ("…-early"
    # while "…-early-3s" was up, and "x:5:1" while "x:5:10" was up, were "already in use": OriginateResponse
    # Failure, Reason 0, no channel).
    calls = {name: TrunkCall(number, f"{tag}-{n:02d}") for n, (name, number) in enumerate(NUMBERS.items())}
    by_id = {call.uniqueid: call for call in calls.values()}

    def collect(frame: Frame) -> None:
        call = by_id.get(frame.get("Uniqueid", "")) or by_id.get(frame.get("DestUniqueid", ""))
        if call is not None:
            call.events.append((time.time(), frame))

    ami.listeners.append(collect)
    try:
        for name, call in calls.items():
            timeout = RING_TIMEOUT_MS if name == "ringing" else ANSWER_TIMEOUT_MS
            reply = await ami.send(
                "Originate",
                [
                    ("Channel", f"PJSIP/{call.number}@trunk"),
                    ("Context", "carrier-probe"),
                    ("Exten", str(LISTEN_S)),
                    ("Priority", "1"),
                    ("Timeout", str(timeout)),
                    ("Async", "true"),
                    ("ChannelId", call.uniqueid),
                ],
            )
            assert reply.get("Response") == "Success", reply
        deadline = time.monotonic() + 60
        while not ami.hung_up(by_id) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        await ami.close()
    return calls


@pytest.fixture(scope="module")
def calls(sandbox: SandboxHandle) -> Iterator[dict[str, TrunkCall]]:
    yield asyncio.run(_place_all(sandbox))


def test_the_ports_follow_the_sandboxs_ami_port(sandbox: SandboxHandle) -> None:
    layout = sandbox.sandbox.layout
    ports = {layout.ami_port, layout.carrier_ami_port, layout.clinic_sip_port, layout.carrier_sip_port}
    assert len(ports) == 4
    assert layout.carrier_ami_port == layout.ami_port + 1
    assert (layout.clinic_sip_port, layout.carrier_sip_port) == (
        layout.ami_port + 1000,
        layout.ami_port + 1001,
    )
    status = sandbox.sandbox.status()
    assert status.carrier_pids and not set(status.carrier_pids) & set(status.pids)


def test_both_ends_of_the_trunk_are_qualified(sandbox: SandboxHandle) -> None:
    _assert_qualified(sandbox)
    endpoints = sandbox.rx("pjsip show endpoint trunk")
    assert "dtmf_mode" in endpoints and "rfc4733" in endpoints


def _assert_qualified(sandbox: SandboxHandle) -> None:
    layout = sandbox.sandbox.layout
    clinic_sees = f"trunk/sip:127.0.0.1:{layout.carrier_sip_port}"
    carrier_sees = f"clinic/sip:127.0.0.1:{layout.clinic_sip_port}"
    deadline = time.monotonic() + 10
    while True:
        clinic = sandbox.rx("pjsip show contacts")
        carrier = sandbox.sandbox.carrier_rx("pjsip show contacts")
        lines = [
            line for line in (clinic + carrier).splitlines() if clinic_sees in line or carrier_sees in line
        ]
        if (len(lines) == 2 and all(" Avail " in line for line in lines)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(lines) == 2 and all(" Avail " in line for line in lines), clinic + carrier


@pytest.mark.parametrize(
    ("name", "cause", "sip", "dial_status"),
    [
        ("busy", "17", "486", "BUSY"),
        ("unallocated", "1", "404", "NOANSWER"),
        ("congestion", "34", "503", "CONGESTION"),
    ],
)
def test_refusals_arrive_as_their_sip_responses(
    calls: dict[str, TrunkCall], name: str, cause: str, sip: str, dial_status: str
) -> None:
    call = calls[name]
    assert call.answered_at is None
    assert (call.hangup.get("Cause"), call.hangup.get("TechCause")) == (cause, sip)
    assert "PROGRESS" not in call.dial_states
    end = call.first("DialEnd")
    assert end is not None and end[1].get("DialStatus") == dial_status
    response = call.first("OriginateResponse")
    assert response is not None and response[1].get("Response") == "Failure"


def test_switched_off_plays_its_announcement_as_early_media_then_480(calls: dict[str, TrunkCall]) -> None:
    call = calls["unavailable"]
    assert call.answered_at is None
    progress = call.first("DialState", DialStatus="PROGRESS")
    hangup = call.first("Hangup")
    assert progress is not None and hangup is not None, call.events
    assert (hangup[1].get("Cause"), hangup[1].get("TechCause")) == ("19", "480")
    # The announcement lasts 3.5-4.3 s depending on the voice: the refusal comes after it, not at once.
    assert 3.0 <= hangup[0] - progress[0] <= 8.0


def test_a_number_that_only_rings_is_given_up_by_the_clinic(calls: dict[str, TrunkCall]) -> None:
    call = calls["ringing"]
    assert call.answered_at is None
    assert "RINGING" in call.dial_states
    response = call.first("OriginateResponse")
    assert response is not None and response[1].get("Reason") == "3"  # no answer within the Timeout
    assert call.hangup.get("Cause") == "19"
    ringing = call.first("DialState", DialStatus="RINGING")
    assert ringing is not None and response[0] - ringing[0] >= RING_TIMEOUT_MS / 1000 - 0.5


def test_a_person_says_hello_then_presses_the_key_after_the_menu(calls: dict[str, TrunkCall]) -> None:
    call = calls["person"]
    assert "RINGING" in call.dial_states and call.answered_at is not None
    assert call.digit == "1"
    assert call.digit_after_answer_s() >= 8.0  # waited for the clinic's menu
    talk = call.talk_ms()
    assert talk and 1000 <= talk[0] <= 6000, talk  # «Алло?» … «Да, слушаю»: a few seconds, not a monologue


@pytest.mark.parametrize(
    ("name", "key", "earliest_s", "latest_s"), [("early", "2", 0.8, 2.3), ("early-3s", "3", 2.8, 4.3)]
)
def test_an_early_presser_presses_at_the_second_the_number_says(
    calls: dict[str, TrunkCall], name: str, key: str, earliest_s: float, latest_s: float
) -> None:
    call = calls[name]
    assert call.answered_at is not None
    assert call.digit == key
    assert earliest_s <= call.digit_after_answer_s() <= latest_s
    # …and hangs up soon after, before the clinic's end would have.
    hangup = call.first("Hangup")
    assert hangup is not None and hangup[1].get("Cause") == "16"
    assert hangup[0] - call.answered_at < LISTEN_S


def test_on_93_numbers_the_early_presser_and_the_silent_answer_hang_up_early(
    calls: dict[str, TrunkCall],
) -> None:
    early, silent = calls["early-gone"], calls["silent-gone"]
    # The silent one is gone before the clinic's end would report "no key": no report at all.
    assert early.digit == "2" and silent.digit is None
    for call, latest_s in ((early, 3.0), (silent, 5.5)):
        hangup = call.first("Hangup")
        assert call.answered_at is not None and hangup is not None and hangup[1].get("Cause") == "16"
        # The 6 s after an early key and the 40 s of an open line are gone.
        assert hangup[0] - call.answered_at < latest_s, call.number
    hangup = silent.first("Hangup")
    assert hangup is not None and silent.answered_at is not None
    assert hangup[0] - silent.answered_at > 3.5


@pytest.mark.parametrize("variant", ["0", "2"])  # the quietest line and the noisiest
def test_a_silent_answer_says_nothing_and_presses_nothing(calls: dict[str, TrunkCall], variant: str) -> None:
    call = calls[f"silent-{variant}"]
    assert call.answered_at is not None
    assert call.digit == ""
    assert not call.all("ChannelTalkingStart"), call.all("ChannelTalkingStart")


@pytest.mark.parametrize("variant", ["0", "1", "2"])
def test_voicemail_greets_for_8_to_15_seconds_then_beeps(calls: dict[str, TrunkCall], variant: str) -> None:
    call = calls[f"voicemail-{variant}"]
    assert call.answered_at is not None
    assert call.digit == ""
    # From the greeting's first word to the end of its beep: 8-15 s of greeting, then a 0.45 s beep.
    span = call.sound_span_s()
    assert 8.0 <= span <= 16.0, (span, call.talk_ms())


def test_a_voice_assistant_asks_who_is_calling(calls: dict[str, TrunkCall]) -> None:
    call = calls["assistant"]
    assert call.answered_at is not None
    assert call.digit == ""
    talk = call.talk_ms()
    assert talk and 4000 <= sum(talk) <= 9000, talk


def test_the_clinics_own_calls_show_the_trunks_inbound_context_with_exten_s(
    calls: dict[str, TrunkCall],
) -> None:
    # What a tracker of inbound calls must not take for a caller: the leg the clinic dials out on.
    for name, call in calls.items():
        found = call.first("Newchannel")
        assert found is not None, name
        frame = found[1]
        assert frame.get("Channel", "").startswith("PJSIP/trunk-"), frame
        assert (frame.get("Context"), frame.get("Exten")) == ("clinic-inbound", "s"), frame


async def test_a_caller_on_the_public_network_reaches_the_clinics_inbound_context(
    sandbox: SandboxHandle,
) -> None:
    layout = sandbox.sandbox.layout
    clinic = await RawAmi.logged_in(sandbox.host, sandbox.port, sandbox.username, sandbox.secret)
    carrier = await RawAmi.logged_in(sandbox.host, layout.carrier_ami_port, CARRIER_USERNAME, sandbox.secret)
    caller, did = "79161230001", "4951234567"
    try:
        reply = await carrier.send(
            "Originate",
            [
                ("Channel", f"PJSIP/{did}@clinic"),
                ("Application", "Wait"),
                ("Data", "2"),
                ("CallerID", f'"" <{caller}>'),
                ("Async", "true"),
                ("ChannelId", f"public{int(time.time() * 1000)}"),
            ],
        )
        assert reply.get("Response") == "Success", reply
        arrived = await clinic.wait_for(
            lambda f: f.get("Event") == "Newchannel" and f.get("CallerIDNum") == caller, timeout=10
        )
    finally:
        await carrier.close()
        await clinic.close()
    assert arrived.get("Channel", "").startswith("PJSIP/trunk-")
    assert (arrived.get("Context"), arrived.get("Exten")) == ("clinic-inbound", did)
    # A call from outside starts its own linked group (Uniqueid = Linkedid), as the inbound tracker expects.
    assert arrived.get("Uniqueid") == arrived.get("Linkedid")


def test_down_stops_the_carrier_too_and_up_brings_both_back(sandbox: SandboxHandle) -> None:
    # Last in this module: it restarts the session's sandbox, and leaves it as `up` makes it.
    box, out = sandbox.sandbox, io.StringIO()
    box.down(out)
    stopped = box.status()
    assert not stopped.running and not stopped.carrier_pids
    box.up(out)
    started = box.status()
    assert started.running and started.carrier_pids
    _assert_qualified(sandbox)
