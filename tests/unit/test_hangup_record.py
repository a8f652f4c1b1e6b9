"""The dialplan's hangup record (config/asterisk/extensions_dialer.conf, [dialer-hangup]) as the service reads it
back for a call it did not follow: a key, or a callback's patient leg made exact by the patient's hangup cause."""

from __future__ import annotations

from dialer.ami.telephony import parse_outcome
from dialer.core.outcomes import UNALLOCATED
from dialer.engine.calls import recorded_leg


def test_a_callback_to_a_number_the_network_does_not_know_is_read_back_as_unallocated() -> None:
    recorded = parse_outcome("cause=16;stage=patient;digit=CHANUNAVAIL;leg_cause=1")
    assert (recorded.digit, recorded.leg_cause) == ("CHANUNAVAIL", 1)
    assert recorded_leg(recorded) == UNALLOCATED


def test_a_network_failure_stays_what_dial_said() -> None:
    assert (
        recorded_leg(parse_outcome("cause=16;stage=patient;digit=CHANUNAVAIL;leg_cause=34")) == "CHANUNAVAIL"
    )
    assert recorded_leg(parse_outcome("cause=16;stage=patient;digit=NOANSWER;leg_cause=")) == "NOANSWER"


def test_a_record_of_an_older_dialplan_or_of_a_reminder_has_no_leg_cause() -> None:
    older = parse_outcome("cause=16;stage=patient;digit=CHANUNAVAIL")
    assert older.leg_cause is None and recorded_leg(older) == "CHANUNAVAIL"
    reminder = parse_outcome("cause=16;stage=confirmed;digit=1;leg_cause=")
    assert (reminder.digit, reminder.leg_cause, recorded_leg(reminder)) == ("1", None, "")


def test_the_trunks_refusal_is_kept_and_a_provisional_or_success_response_is_not() -> None:
    assert parse_outcome("cause=19;stage=;digit=;leg_cause=;sip=480").sip == 480
    # The clinic stopped ringing: the channel's last response was the 180.
    assert parse_outcome("cause=19;stage=;digit=;leg_cause=;sip=180").sip is None
    assert parse_outcome("cause=16;stage=confirmed;digit=1;leg_cause=;sip=200").sip is None
    assert parse_outcome("cause=16;stage=intro;digit=;leg_cause=;sip=").sip is None
    assert parse_outcome("cause=19;stage=;digit=;leg_cause=").sip is None  # an older dialplan's record
