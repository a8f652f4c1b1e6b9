"""The reminder, follow-up and survey IVRs and the simulated patients, end to end on the real sandbox Asterisk.

Calls are originated exactly the way the service does it (Async, ChannelId = attempt id, the DIALER_*
variables, the hangup handler pushed through CHANNEL()), over a raw AMI connection logged in as the service's
least-privilege user. The IVRs are rung over the PJSIP trunk to the sandbox's carrier (bench/lib/carrier_numbers.py),
as a clinic's calls go; `Local/` patients (tests/asterisk/patients.conf) remain only where a test needs what the
carrier's people do not do, each said where it is used. The tests pin down what the service relies on: the
OriginateResponse Reason, the Hangup causes, the DialerDigit UserEvents and the astdb outcome record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bench.lib.carrier_numbers import TRUNK_DIAL, CarrierPatient, FarEnd
from bench.lib.rawami import Frame, RawAmi
from dialer.ami.telephony import parse_outcome
from dialer.core.outcomes import CallResult as Outcome
from dialer.core.outcomes import classify
from dialer.prompts import build_prompts, doctor_prompt_name
from tests.asterisk_plugin import SandboxHandle
from tests.timed_patients import Timed

pytestmark = pytest.mark.asterisk

VISIT = datetime(2026, 5, 15, 14, 30, tzinfo=ZoneInfo("Asia/Omsk"))
RING_OUT_MS = 3000
CALL_LIMIT_S = 45.0
# A test agent in the reception queue (answers, talks 2 s): a patient who presses 3 reaches someone.
AGENT = "Local/answer@sandbox-agents"
DOCTOR = "Иванова Мария Петровна"
# A doctor whose prompt was never made: the IVR must skip it quietly.
MISSING_DOCTOR = "dialer/doctor-000000000000"


LOCAL_DIAL = "Local/{number}@patients"


@dataclass
class CallResult:
    attempt: str
    number: str
    started: float
    originate: Frame
    # By Uniqueid: the attempt id (the IVR's channel; over the trunk the only one) and, for a `Local/` patient,
    # "<attempt id>;2" (the patient's half).
    hangups: dict[str, Frame]
    digits: list[Frame]
    record: str | None
    queue_events: list[Frame] = field(default_factory=list)
    ended: float = 0.0

    @property
    def ivr_hangup(self) -> Frame:
        return self.hangups[self.attempt]

    @property
    def patient_hangup(self) -> Frame:
        return self.hangups[f"{self.attempt};2"]


async def _db_get(ami: RawAmi, key: str) -> str | None:
    reply = await ami.send("DBGet", [("Family", "dialer"), ("Key", key)])
    if reply["Response"] != "Success":
        return None
    event = await ami.wait_for(lambda f: f.get("Event") == "DBGetResponse" and f.get("Key") == key, 5)
    return event["Val"]


async def call(
    ami: RawAmi,
    number: str,
    attempt: str,
    queue: str = "reception",
    doctor: str = MISSING_DOCTOR,
    context: str = "dialer-reminder",
    visit: datetime = VISIT,
    dial: str = TRUNK_DIAL,
    ring_ms: int = RING_OUT_MS,
) -> CallResult:
    """Originate one reminder (or post-visit) call as the service does, and gather everything it produced."""
    started = time.monotonic()
    reply = await ami.send(
        "Originate",
        [
            ("Channel", dial.format(number=number)),
            ("Context", context),
            ("Exten", "s"),
            ("Priority", "1"),
            ("Async", "true"),
            ("ChannelId", attempt),
            ("Timeout", str(ring_ms)),
            ("Variable", f"DIALER_ATTEMPT={attempt}"),
            ("Variable", f"DIALER_APPT_TS={int(visit.timestamp())}"),
            ("Variable", "DIALER_TZ=Asia/Omsk"),
            ("Variable", f"DIALER_DOCTOR_PROMPT={doctor}"),
            ("Variable", f"DIALER_QUEUE={queue}"),
            ("Variable", f"CHANNEL(hangup_handler_push)=dialer-hangup\\,s\\,1({attempt})"),
        ],
    )
    assert reply["Response"] == "Success", reply
    response = await ami.wait_for(
        lambda f: f.get("Event") == "OriginateResponse" and f.get("Uniqueid") == attempt, CALL_LIMIT_S
    )
    await ami.wait_for(lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == attempt, CALL_LIMIT_S)
    ended = time.monotonic()
    # A `Local/` patient's half may go a moment later; a failed originate can leave no ;2 Hangup of its own.
    if dial == LOCAL_DIAL:
        with contextlib.suppress(TimeoutError):
            await ami.wait_for(
                lambda f: f.get("Event") == "Hangup" and f.get("Uniqueid") == f"{attempt};2", 5
            )
    ids = {attempt, f"{attempt};2"}
    hangups = ami.matching(lambda f: f.get("Event") == "Hangup" and f["Uniqueid"] in ids)
    record = await _db_get(ami, attempt)
    # What the service does once it has read the record; `system` is not needed for it.
    await ami.send("Setvar", [("Variable", f"DB_DELETE(dialer/{attempt})"), ("Value", "1")])
    return CallResult(
        attempt=attempt,
        number=number,
        started=started,
        originate=response,
        hangups={f["Uniqueid"]: f for f in hangups},
        digits=ami.matching(lambda f: f.get("Event") == "UserEvent" and f.get("AttemptId") == attempt),
        record=record,
        queue_events=ami.matching(
            lambda f: f.get("Event", "").startswith(("QueueCaller", "Agent")) and f.get("Uniqueid") == attempt
        ),
        ended=ended,
    )


async def _second_day_patient(ami: RawAmi, number: str, prefix: str) -> list[CallResult]:
    first = await call(ami, number, f"{prefix}:9:1", dial=LOCAL_DIAL)
    second = await call(ami, number, f"{prefix}:9:2", dial=LOCAL_DIAL)
    return [first, second]


def _person(key: str, serial: int) -> str:
    """A carrier person who waits for the menu and presses `key` (about 12.5 s after answering)."""
    return CarrierPatient(FarEnd.PERSON, key=key).number(serial).lstrip("+")


async def run_all(handle: SandboxHandle, middle: str) -> dict[str, list[CallResult]]:
    ami = await RawAmi.connect(handle.host, handle.port)
    try:
        login = await ami.login(handle.username, handle.secret)
        assert login["Response"] == "Success", login
        prefix = f"simtest-{os.getpid()}-{middle}"
        # The `Local/` patients themselves (tests/asterisk/patients.conf), which the carrier does not replace:
        # one whose first call of the day rings out (9), one gone 4 s into the greeting (7), one who presses an
        # invalid key and stays (8).
        numbers = {d: f"7916{middle}{d}" for d in "0123456789"}
        jobs = {d: call(ami, numbers[d], f"{prefix}:{d}:1", dial=LOCAL_DIAL) for d in "012345678"}
        # What the IVR says and where a 3 leads, over the trunk to the carrier's people.
        serial = int(middle[-4:])
        jobs["c1"] = call(ami, _person("1", serial), f"{prefix}:c1:1")
        jobs["c2"] = call(ami, _person("2", serial), f"{prefix}:c2:1", doctor=doctor_prompt_name(DOCTOR))
        jobs["c3"] = call(ami, _person("3", serial), f"{prefix}:c3:1")
        # Presses 3 too, but for a queue nobody can answer.
        jobs["c3-empty"] = call(ami, _person("3", (serial + 1) % 10000), f"{prefix}:c3e:1", queue="sim-empty")
        # The carrier's refusals, rung longer than the switched-off announcement (up to 4.6 s) lasts.
        for key, (far_end, _, _) in REFUSALS.items():
            number = CarrierPatient(far_end).number(serial).lstrip("+")
            jobs[key] = call(ami, number, f"{prefix}:{key}:1", ring_ms=REFUSAL_RING_MS)
        singles, day_patient = await asyncio.gather(
            asyncio.gather(*jobs.values()), _second_day_patient(ami, numbers["9"], prefix)
        )
        results = {d: [r] for d, r in zip(jobs, singles, strict=True)}
        results["9"] = day_patient
        return results
    finally:
        await ami.close()


@pytest.fixture(scope="module")
def calls(sandbox: SandboxHandle) -> dict[str, list[CallResult]]:
    build_prompts(sandbox.sandbox.layout.prompts_dir, [DOCTOR])
    # Unique numbers per run: behaviour 9 counts calls per number and day in the astdb.
    middle = f"{random.randrange(10**6):06d}"
    sandbox.rx(f"queue add member {AGENT} to reception")
    try:
        return asyncio.run(run_all(sandbox, middle))
    finally:
        sandbox.rx(f"queue remove member {AGENT} from reception")
        seen = sandbox.rx("database show patients-seen")
        for line in seen.splitlines():
            key = line.split(":", 1)[0].strip()
            if key.startswith(f"/patients-seen/7916{middle}9-"):  # only ours: other runs may share the box
                sandbox.rx(f"database del patients-seen {key.rsplit('/', 1)[1]}")


# The carrier's refusals by far end: the SIP response the hangup record keeps, and what the service makes of
# that record after a restart.
REFUSAL_RING_MS = 8000
REFUSALS: dict[str, tuple[FarEnd, str, Outcome]] = {
    "off": (FarEnd.SWITCHED_OFF, "480", Outcome.UNAVAILABLE),
    "busy": (FarEnd.BUSY, "486", Outcome.BUSY),
    "unallocated": (FarEnd.UNALLOCATED, "404", Outcome.INVALID_NUMBER),
    "congested": (FarEnd.CONGESTION, "503", Outcome.CONGESTION),
    # The clinic's own ring timeout: the last response the channel had was the ringing.
    "rings-out": (FarEnd.RINGS_OUT, "180", Outcome.NO_ANSWER),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_the_hangup_record_keeps_the_carriers_refusal(calls: dict[str, list[CallResult]], case: str) -> None:
    # A call that ends while the service is down or restarting is known from this record alone; its Q.850
    # cause says 19 both for a phone switched off and for one nobody answers.
    _, sip, outcome = REFUSALS[case]
    result = calls[case][0]
    assert result.record is not None and result.record.endswith(f";sip={sip}"), result.record
    recorded = parse_outcome(result.record)
    assert classify(answered=False, reason=None, cause=recorded.cause, sip=recorded.sip) is outcome


def _digits(result: CallResult) -> list[str]:
    return [frame["Digit"] for frame in result.digits]


# The `Local/` patients of tests/asterisk/patients.conf, which tests and benches still ring where the carrier
# lacks a behaviour: digit: (OriginateResponse Response, Reason, IVR ;1 Hangup cause, patient ;2 Hangup cause,
# digits, record).
ANSWERED = ("Success", "4", "16", "16")
EXPECTED: dict[str, tuple[tuple[str, str, str, str], list[str], str]] = {
    "1": (ANSWERED, ["1"], "cause=16;stage=confirmed;digit=1;leg_cause=;sip="),
    # Busy and congestion reach Asterisk on the patient's half only: the IVR half hangs up with cause 0.
    "2": (("Failure", "5", "0", "17"), [], "cause=0;stage=;digit=;leg_cause=;sip="),
    "3": (("Failure", "3", "19", "19"), [], "cause=19;stage=;digit=;leg_cause=;sip="),
    "4": (("Failure", "8", "0", "34"), [], "cause=0;stage=;digit=;leg_cause=;sip="),
    "5": (ANSWERED, ["2"], "cause=16;stage=cancelled;digit=2;leg_cause=;sip="),
    "6": (ANSWERED, ["3"], "cause=16;stage=queue;digit=3;leg_cause=;sip="),
    # Hangs up 4 s after answering, while the IVR is still reading the date.
    "7": (ANSWERED, [], "cause=16;stage=intro;digit=;leg_cause=;sip="),
    "8": (ANSWERED, ["9"], "cause=16;stage=no_digit;digit=9;leg_cause=;sip="),
    "0": (("Failure", "0", "1", "1"), [], "cause=1;stage=;digit=;leg_cause=;sip="),
}


@pytest.mark.parametrize("digit", sorted(EXPECTED))
def test_patient_behaviour(calls: dict[str, list[CallResult]], digit: str) -> None:
    (response, reason, ivr_cause, patient_cause), digits, record = EXPECTED[digit]
    result = calls[digit][0]
    assert (result.originate["Response"], result.originate["Reason"]) == (response, reason)
    assert result.ivr_hangup["Cause"] == ivr_cause
    assert result.patient_hangup["Cause"] == patient_cause
    assert _digits(result) == digits
    assert result.record == record


def test_the_digit_event_names_the_attempt(calls: dict[str, list[CallResult]]) -> None:
    result = calls["c1"][0]
    (event,) = result.digits
    assert event["UserEvent"] == "DialerDigit"
    assert event["AttemptId"] == result.attempt
    assert event["Uniqueid"] == result.attempt, "ChannelId presets the IVR channel's Uniqueid"
    assert result.originate["Uniqueid"] == result.attempt


def test_first_call_of_the_day_rings_out_then_the_patient_answers(calls: dict[str, list[CallResult]]) -> None:
    first, second = calls["9"]
    assert (first.originate["Response"], first.originate["Reason"]) == ("Failure", "3")
    assert first.ivr_hangup["Cause"] == "19"
    assert _digits(first) == []
    assert first.record == "cause=19;stage=;digit=;leg_cause=;sip="
    assert (second.originate["Response"], second.originate["Reason"]) == ("Success", "4")
    assert _digits(second) == ["1"]
    assert second.record == "cause=16;stage=confirmed;digit=1;leg_cause=;sip="


def test_digit_three_reaches_the_reception_queue(calls: dict[str, list[CallResult]]) -> None:
    result = calls["c3"][0]
    assert _digits(result) == ["3"]
    assert result.record == "cause=16;stage=queue;digit=3;leg_cause=;sip=200"
    events = [frame["Event"] for frame in result.queue_events]
    assert events[0] == "QueueCallerJoin"
    assert {"AgentCalled", "AgentConnect", "AgentComplete", "QueueCallerLeave"} <= set(events)
    assert result.queue_events[0]["Queue"] == "reception"


def test_the_carriers_people_confirm_and_cancel(calls: dict[str, list[CallResult]]) -> None:
    for case, digit, stage in (("c1", "1", "confirmed"), ("c2", "2", "cancelled")):
        result = calls[case][0]
        assert (result.originate["Response"], result.originate["Reason"]) == ("Success", "4"), case
        assert _digits(result) == [digit], case
        assert result.record == f"cause=16;stage={stage};digit={digit};leg_cause=;sip=200", case


def test_a_confirm_call_ends_soon_after_the_key(calls: dict[str, list[CallResult]]) -> None:
    # The carrier's person presses about 12.5 s after answering, and the IVR then says one sentence and goes.
    result = calls["c1"][0]
    (key,) = result.digits
    after_key = float(result.ivr_hangup["Timestamp"]) - float(key["Timestamp"])
    assert 0.5 < after_key < 6.0, f"the call went on {after_key:.1f} s after the key"
    duration = result.ended - result.started
    assert 12.0 < duration < 25.0, f"a confirm call took {duration:.1f} s"


def test_the_record_is_gone_after_the_service_deletes_it(
    sandbox: SandboxHandle, calls: dict[str, list[CallResult]]
) -> None:
    for results in calls.values():
        for result in results:
            assert "Database entry not found" in sandbox.rx(f"database get dialer {result.attempt}")


def _heard(sandbox: SandboxHandle, result: CallResult) -> list[str]:
    """What this one call's IVR played, from the sandbox's verbose log. A channel's name recurs in the log
    across runs (a trunk's channels are numbered from 0 after a restart; a timed patient's number recurs):
    read from this channel's last start only."""
    channel = result.ivr_hangup["Channel"]
    log = sandbox.sandbox.layout.root / "var/log/asterisk/full.log"
    text = log.read_text(encoding="utf-8", errors="replace")
    start = text.rfind(f'NoOp("{channel}"')
    assert start >= 0, channel
    pattern = re.compile(rf"<{re.escape(channel)}> Playing '([^']+)'")
    return [m.group(1).rsplit(".", 1)[0] for m in pattern.finditer(text, start)]


def test_the_ivr_says_the_visit_in_russian_and_the_doctor_when_there_is_a_prompt(
    sandbox: SandboxHandle, calls: dict[str, list[CallResult]]
) -> None:
    # 15 May, 14:30 in Omsk: "пятнадцатое мая в четырнадцать тридцать".
    date_and_time = ["digits/h-15", "digits/mon-4", "digits/at", "digits/14", "digits/30"]
    with_doctor = _heard(sandbox, calls["c2"][0])
    assert with_doctor == [
        "dialer/reminder-intro",
        *date_and_time,
        doctor_prompt_name(DOCTOR),
        "dialer/reminder-menu",
        "dialer/reminder-cancelled",
    ]
    without_doctor = _heard(sandbox, calls["c1"][0])
    assert without_doctor == [
        "dialer/reminder-intro",
        *date_and_time,
        "dialer/reminder-menu",
        "dialer/reminder-confirmed",
    ]


def test_digit_three_with_nobody_to_answer_promises_a_call_back(
    sandbox: SandboxHandle, calls: dict[str, list[CallResult]]
) -> None:
    result = calls["c3-empty"][0]
    assert _digits(result) == ["3"]
    assert result.record == "cause=16;stage=queue;digit=3;leg_cause=;sip=200"
    # joinempty keeps the patient out of a queue where nobody can answer: no hold music, no QueueCallerJoin.
    assert result.queue_events == []
    assert _heard(sandbox, result)[-2:] == ["dialer/reminder-connecting", "dialer/reminder-callback"]


# -- patients who keep their own time (barge-in) -------------------------------------------------------


@dataclass(frozen=True)
class Early:
    """A patient who presses on their own clock, rung into `context`: the carrier's early presser (outcome 6:
    presses at +1 s, or at +N s after saying «Алло?», and hangs up 6 s later or, `gone_at_once`, at once;
    `then` is a second key in the same go)."""

    key: str
    press_at: int
    gone_at_once: bool = False
    context: str = "dialer-reminder"
    then: str = ""

    def number(self, serial: int) -> str:
        patient = CarrierPatient(
            FarEnd.EARLY_PRESSER, self.key, serial % 3, self.press_at, self.gone_at_once, self.then
        )
        return patient.number(serial % 1000 if self.then else serial).lstrip("+")


# The reminder without a doctor's prompt speaks for about 7 s (breath, greeting, date), then the menu for 6 s.
TIMED: dict[str, Early | Timed] = {
    "r1-then-6s": Early("1", 1),  # knows the menu, presses at +1 s, gone 6 s later
    "r2-gone": Early("2", 1, gone_at_once=True),  # presses 2 and hangs up at once
    "r1-at-3s": Early("1", 3),
    "r1-at-3s-gone": Early("1", 3, gone_at_once=True),
    "r3-at-3s": Early("3", 3),
    "r1-in-menu": Early("1", 9),
    "r12": Early("1", 1, then="2"),  # "12" in one go: 1 is taken, 2 logged
    # A `Local/` patient (tests/timed_patients.py) where the carrier's presser cannot: it stays on the line
    # while the menu is read twice (the carrier's hangs up 6 s after pressing).
    "r9-early": Timed(1.0, "9", 9),  # an invalid key early: the menu is read again
    "f2-gone": Early("2", 1, gone_at_once=True, context="dialer-followup"),
    "f1-in-menu": Early("1", 6, context="dialer-followup"),
    "s5-at-3s": Early("5", 3, context="dialer-survey"),
    "s45": Early("4", 1, context="dialer-survey", then="5"),
}
# case: (digits reported, keys ignored, the hangup record's stage or stages, what it says of the digit)
TIMED_EXPECTED: dict[str, tuple[list[str], list[str], set[str], str]] = {
    "r1-then-6s": (["1"], [], {"confirmed"}, "1"),
    "r2-gone": (["2"], [], {"intro", "cancelled"}, "2"),
    "r1-at-3s": (["1"], [], {"confirmed"}, "1"),
    "r1-at-3s-gone": (["1"], [], {"intro", "confirmed"}, "1"),
    "r3-at-3s": (["3"], [], {"queue"}, "3"),
    "r1-in-menu": (["1"], [], {"confirmed"}, "1"),
    "r12": (["1"], ["2"], {"confirmed"}, "1"),
    "r9-early": (["9"], [], {"no_digit"}, "9"),
    "f2-gone": (["2"], [], {"intro", "answered"}, "2"),
    "f1-in-menu": (["1"], [], {"answered"}, "1"),
    "s5-at-3s": (["5"], [], {"answered"}, "5"),
    "s45": (["4"], ["5"], {"answered"}, "4"),
}


async def _run_timed(handle: SandboxHandle, run: int) -> dict[str, CallResult]:
    ami = await RawAmi.connect(handle.host, handle.port)
    try:
        login = await ami.login(handle.username, handle.secret)
        assert login["Response"] == "Success", login
        prefix = f"timedtest-{os.getpid()}-{run}"
        jobs = [
            call(ami, case.number(run * 100 + i), f"{prefix}:{i:02d}:1", context=case.context)
            if isinstance(case, Early)
            else call(
                ami,
                case.number(f"{(run + i) % 100:02d}"),
                f"{prefix}:{i:02d}:1",
                context=case.context,
                dial=LOCAL_DIAL,
            )
            for i, case in enumerate(TIMED.values())
        ]
        return dict(zip(TIMED, await asyncio.gather(*jobs), strict=True))
    finally:
        await ami.close()


@pytest.fixture(scope="module")
def timed(sandbox: SandboxHandle) -> dict[str, CallResult]:
    build_prompts(sandbox.sandbox.layout.prompts_dir, [DOCTOR])
    sandbox.rx(f"queue add member {AGENT} to reception")
    try:
        return asyncio.run(_run_timed(sandbox, random.randrange(100)))
    finally:
        sandbox.rx(f"queue remove member {AGENT} from reception")


def _kinds(result: CallResult, kind: str) -> list[str]:
    return [f["Digit"] for f in result.digits if f.get("UserEvent") == kind]


def _record(result: CallResult) -> dict[str, str]:
    assert result.record is not None, result.attempt
    return dict(part.split("=", 1) for part in result.record.split(";"))


@pytest.mark.parametrize("case", sorted(TIMED))
def test_a_key_pressed_any_time_after_answer_is_taken(timed: dict[str, CallResult], case: str) -> None:
    reported, ignored, stages, digit = TIMED_EXPECTED[case]
    result = timed[case]
    assert (result.originate["Response"], result.originate["Reason"]) == ("Success", "4")
    assert _kinds(result, "DialerDigit") == reported, result.digits
    assert _kinds(result, "DialerDigitIgnored") == ignored, result.digits
    record = _record(result)
    assert record["stage"] in stages, record
    assert record["digit"] == digit, record


def test_the_ignored_key_names_the_one_taken(timed: dict[str, CallResult]) -> None:
    (event,) = [f for f in timed["r12"].digits if f.get("UserEvent") == "DialerDigitIgnored"]
    assert (event["AttemptId"], event["Digit"], event["Taken"]) == (timed["r12"].attempt, "2", "1")


def test_an_early_key_cuts_the_greeting_short(sandbox: SandboxHandle, timed: dict[str, CallResult]) -> None:
    # Pressed at +1 s: the greeting is cut, the date and the menu are never read, the answer follows at once.
    assert _heard(sandbox, timed["r1-then-6s"]) == [
        "dialer/reminder-intro",
        "dialer/reminder-confirmed",
    ]
    assert _heard(sandbox, timed["r2-gone"])[:1] == ["dialer/reminder-intro"]
    assert "dialer/reminder-menu" not in _heard(sandbox, timed["r2-gone"])
    # Pressed at +3 s, during the date: the rest of it is skipped.
    at_3s = _heard(sandbox, timed["r1-at-3s"])
    assert at_3s[0] == "dialer/reminder-intro" and at_3s[-1] == "dialer/reminder-confirmed"
    assert "dialer/reminder-menu" not in at_3s
    # The patient who waited pressed during the menu, after the whole visit was read.
    assert _heard(sandbox, timed["r1-in-menu"])[-2:] == [
        "dialer/reminder-menu",
        "dialer/reminder-confirmed",
    ]
    # An invalid key early: "no such key", then the menu, read twice, then goodbye.
    assert _heard(sandbox, timed["r9-early"])[-4:] == [
        "dialer/reminder-invalid",
        "dialer/reminder-menu",
        "dialer/reminder-menu",
        "dialer/reminder-goodbye",
    ]
    assert _heard(sandbox, timed["f2-gone"])[:1] == ["dialer/followup-intro"]
    assert "dialer/followup-menu" not in _heard(sandbox, timed["f2-gone"])
    assert _heard(sandbox, timed["s45"]) == ["dialer/survey-intro", "dialer/survey-thanks"]


def _key_to_hangup(result: CallResult) -> float:
    key = next(f for f in result.digits if f.get("UserEvent") == "DialerDigit")
    return float(result.ivr_hangup["Timestamp"]) - float(key["Timestamp"])


def test_a_patient_who_presses_and_hangs_up_is_gone_before_the_ivr(timed: dict[str, CallResult]) -> None:
    # The case the hangup handler exists for: the far end leaves (a BYE over the trunk) before the IVR has said
    # its answer, and the key still arrived. The patient who stays hears the answer out.
    gone = {case: _key_to_hangup(timed[case]) for case in ("r2-gone", "r1-at-3s-gone", "f2-gone")}
    stayed = {case: _key_to_hangup(timed[case]) for case in ("r1-then-6s", "r1-at-3s")}
    assert all(after < 1.0 for after in gone.values()), gone
    assert all(after > 1.5 for after in stayed.values()), stayed
    assert all(timed[case].ivr_hangup["Cause"] == "16" for case in gone)


def test_the_date_words_for_a_late_day_and_hour(sandbox: SandboxHandle) -> None:
    # 23 December, 21:05 in Omsk: "двадцать третье декабря в двадцать один ноль пять", the files SayUnixTime
    # would choose (ordinals exist up to 20, so "двадцать" + "третье").
    visit = datetime(2026, 12, 23, 21, 5, tzinfo=ZoneInfo("Asia/Omsk"))
    number = _person("1", random.randrange(10**4))  # waits for the menu, presses 1

    async def ring() -> CallResult:
        ami = await RawAmi.connect(sandbox.host, sandbox.port)
        try:
            await ami.login(sandbox.username, sandbox.secret)
            return await call(ami, number, f"datetest-{os.getpid()}:1:1", visit=visit)
        finally:
            await ami.close()

    result = asyncio.run(ring())
    assert _digits(result) == ["1"]
    assert _heard(sandbox, result) == [
        "dialer/reminder-intro",
        *["digits/20", "digits/h-3", "digits/mon-11", "digits/at", "digits/20", "digits/1"],
        *["digits/0", "digits/5"],
        "dialer/reminder-menu",
        "dialer/reminder-confirmed",
    ]


def test_a_key_read_but_not_yet_reported_is_reported_by_the_hangup_handler(sandbox: SandboxHandle) -> None:
    # A carrier person answers; the sandbox context plays the IVR whose Read has just taken 2 when the line
    # drops (tests/asterisk/sandbox_extra.conf).
    attempt = f"handlertest-{os.getpid()}:1:1"

    async def ring() -> CallResult:
        ami = await RawAmi.connect(sandbox.host, sandbox.port)
        try:
            await ami.login(sandbox.username, sandbox.secret)
            number = _person("0", random.randrange(10**4))
            return await call(ami, number, attempt, context="sandbox-read-then-gone")
        finally:
            await ami.close()

    result = asyncio.run(ring())
    assert _digits(result) == ["2"]
    (event,) = result.digits
    assert event["AttemptId"] == attempt
    # The UserEvent comes before the Hangup, where the service's tracker still follows the call.
    assert float(event["Timestamp"]) <= float(result.ivr_hangup["Timestamp"])
    assert result.record == "cause=16;stage=intro;digit=2;leg_cause=;sip=200"
