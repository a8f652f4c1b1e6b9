"""Recovering calls from Asterisk 22's queue_log, on lines as the sandbox writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.core.ids import AttemptId
from dialer.core.inbound import MissReason
from dialer.core.pbx_links import MAIN, headed
from dialer.core.queuelog import QueueLogReader


def at(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


SINCE = at(1795600700)

# One queue_log, as Asterisk wrote it: an answered call, a queue timeout, an abandon, one still waiting.
LOG = """\
1795600700|NONE|NONE|NONE|QUEUESTART|
1795600746|1795600746.1727|reception|NONE|ENTERQUEUE||79161110001|1
1795600746|1795600746.1727|reception|Local/admin1@sandbox-agents|CONNECT|3|1795600751.1728|1
1795600755|1795600746.1727|reception|Local/admin1@sandbox-agents|COMPLETECALLER|3|6|1
1795600788|1795600783.1735|reception|NONE|ENTERQUEUE||79161110003|1
1795600792|1795600783.1735|reception|Local/admin2@sandbox-agents|RINGNOANSWER|4000
1795600792|1795600783.1735|reception|NONE|EXITWITHTIMEOUT|1|1|4
1795600800|1795600795.1740|reception|NONE|ENTERQUEUE||79161110002|1
1795600806|1795600795.1740|reception|NONE|ABANDON|1|1|6
1795600810|1795600809.1745|reception|NONE|ENTERQUEUE||79161110004|1
"""


def read(text: str, since: datetime = SINCE) -> QueueLogReader:
    reader = QueueLogReader(since)
    reader.feed(text.splitlines())
    return reader


def test_finished_calls_with_their_outcome() -> None:
    calls = {c.call_id: c for c in read(LOG).calls()}
    # .1745 is still waiting: not reported.
    assert sorted(calls) == ["1795600746.1727", "1795600783.1735", "1795600795.1740"]

    answered = calls["1795600746.1727"]
    assert answered.miss is None
    assert (answered.caller, answered.queue, answered.queue_channel) == (
        "79161110001",
        "reception",
        "1795600746.1727",
    )
    assert answered.answered_by == "Local/admin1@sandbox-agents"
    assert (answered.started_at, answered.answered_at, answered.waited) == (
        at(1795600746),
        at(1795600746),
        3.0,
    )

    timeout = calls["1795600783.1735"]
    assert timeout.miss is MissReason.QUEUE_TIMEOUT
    assert (timeout.caller, timeout.waited, timeout.answered_at, timeout.answered_by) == (
        "79161110003",
        4.0,
        None,
        "",
    )
    assert (timeout.started_at, timeout.ended_at) == (at(1795600788), at(1795600792))

    abandoned = calls["1795600795.1740"]
    assert abandoned.miss is MissReason.ABANDONED
    assert (abandoned.caller, abandoned.waited, abandoned.ended_at) == ("79161110002", 6.0, at(1795600806))


def test_exit_when_empty_is_a_queue_timeout() -> None:
    (call,) = read("1795600900|1795600899.1|reception|NONE|ENTERQUEUE||79161110005|1\n"
                   "1795600905|1795600899.1|reception|NONE|EXITEMPTY|1|1|5\n").calls()  # fmt: skip
    assert (call.miss, call.waited) == (MissReason.QUEUE_TIMEOUT, 5.0)


def test_exit_with_a_key_takes_the_wait_from_the_right_field() -> None:
    """EXITWITHKEY is key|position|origposition|waittime: the wait is the fourth field, not the third."""
    (call,) = read("1795600900|1795600899.1|reception|NONE|ENTERQUEUE||79161110005|2\n"
                   "1795600917|1795600899.1|reception|NONE|EXITWITHKEY|5|1|2|17\n").calls()  # fmt: skip
    assert call.waited == 17.0


def test_a_hidden_caller_has_an_empty_number() -> None:
    text = ("1795600900|1795600899.1|reception|NONE|ENTERQUEUE||<unknown>|1\n"
            "1795600905|1795600899.1|reception|NONE|ABANDON|1|1|5\n"
            "1795600910|1795600909.1|reception|NONE|ENTERQUEUE|||1\n"
            "1795600915|1795600909.1|reception|NONE|ABANDON|1|1|5\n")  # fmt: skip
    assert [c.caller for c in read(text).calls()] == ["", ""]


def test_the_dialers_own_calls_in_a_queue_are_no_inbound_calls() -> None:
    """A КОС patient left waiting, a reminder patient who pressed 3, an automatic callback: each joined the queue
    from one of the dialer's calls, under its attempt id, this installation's or another's on the same PBX."""
    ours = [
        str(AttemptId("kos", 7, 1, "a1b2c3d4")),
        str(AttemptId("reminders", 3, 2, "ffee0011")),
        str(AttemptId("autocb", 5, 1, "a1b2c3d4")),
    ]
    lines = "".join(
        f"1795600746|{callid}|reception|NONE|ENTERQUEUE||79161110009|1\n"
        f"1795600751|{callid}|reception|NONE|EXITWITHTIMEOUT|1|1|5\n"
        for callid in ours
    )
    assert [c.call_id for c in read(lines + LOG).calls()] == [c.call_id for c in read(LOG).calls()]


def test_lines_before_since_are_ignored() -> None:
    calls = read(LOG, since=at(1795600790)).calls()
    # The answered call and the timeout entered the queue before `since`: not reported, even their endings.
    assert [c.call_id for c in calls] == ["1795600795.1740"]


def test_a_call_entered_exactly_at_since_counts() -> None:
    assert [c.call_id for c in read(LOG, since=at(1795600800)).calls()] == ["1795600795.1740"]


def test_the_first_ending_wins() -> None:
    text = ("1795600900|1795600899.1|reception|NONE|ENTERQUEUE||79161110005|1\n"
            "1795600905|1795600899.1|reception|NONE|ABANDON|1|1|5\n"
            "1795600909|1795600899.1|reception|Local/admin1@sandbox-agents|CONNECT|9|1795600901.3|1\n")  # fmt: skip
    (call,) = read(text).calls()
    assert (call.miss, call.waited) == (MissReason.ABANDONED, 5.0)


def test_an_ending_with_no_wait_field_uses_the_time_in_the_log() -> None:
    text = ("1795600900|1795600899.1|reception|NONE|ENTERQUEUE||79161110005|1\n"
            "1795600907|1795600899.1|reception|NONE|ABANDON\n")  # fmt: skip
    (call,) = read(text).calls()
    assert call.waited == 7.0


def test_garbage_lines_are_skipped_and_counted() -> None:
    garbage = [
        "",
        "not a queue_log line",
        "abc|1795600899.1|reception|NONE|ENTERQUEUE||79161110005|1",
        "1795600900|1795600899.1|reception",  # truncated mid-write
        "1795600900|1795600899.1|rece",
        "½|x|y|z|ABANDON",
        "|||||",
    ]
    reader = read("\n".join([*LOG.splitlines()[:4], *garbage, *LOG.splitlines()[4:]]))
    assert reader.skipped == len(garbage)
    assert len(reader.calls()) == 3


def test_an_absurd_timestamp_is_a_garbage_line_not_a_crash() -> None:
    """A damaged line whose first field is digits but no possible time (recover_misses runs inside the AMI
    link-up hook: an exception there takes the link down with it)."""
    reader = read("99999999999999999999|1795600899.1|reception|NONE|ENTERQUEUE||79161110005|1\n" + LOG)
    assert reader.skipped == 1
    assert len(reader.calls()) == 3


def test_lines_fed_in_several_chunks_are_one_log() -> None:
    lines = LOG.splitlines()
    reader = QueueLogReader(SINCE)
    for i in range(0, len(lines), 3):
        reader.feed(lines[i : i + 3])
    assert sorted(c.call_id for c in reader.calls()) == sorted(c.call_id for c in read(LOG).calls())


line_parts = st.one_of(
    st.text(alphabet="0123456789|.ABCENTRQUOWIHXMPYK-", max_size=40),
    st.lists(
        st.one_of(
            st.sampled_from(["ENTERQUEUE", "ABANDON", "CONNECT", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY", "",
                             "1795600900", "1795600899.1", "reception", "NONE", "-5", "x", "79161110005"]),
            st.integers(-(10**20), 10**20).map(str),
        ),
        max_size=9,
    ).map("|".join),
)  # fmt: skip


@given(lines=st.lists(line_parts, max_size=20))
@settings(max_examples=200, deadline=None)
def test_any_lines_never_raise(lines: list[str]) -> None:
    reader = read("\n".join([*lines, *LOG.splitlines()]), since=at(0))
    assert len(reader.calls()) >= 0
    assert reader.skipped <= len(lines) + len(LOG.splitlines())


def test_a_second_asterisks_queue_log_gives_its_ids_headed_as_its_events_are() -> None:
    reader = QueueLogReader(SINCE, head=lambda callid: headed(callid, "east"))
    reader.feed(LOG.splitlines())
    calls = reader.calls()
    assert sorted(c.call_id for c in calls) == [
        "east/1795600746.1727",
        "east/1795600783.1735",
        "east/1795600795.1740",
    ]
    assert all(c.queue_channel == c.call_id for c in calls)
    assert {c.call_id: c.miss for c in calls}["east/1795600795.1740"] is MissReason.ABANDONED
    main = QueueLogReader(SINCE, head=lambda callid: headed(callid, MAIN))
    main.feed(LOG.splitlines())
    assert sorted(c.call_id for c in main.calls()) == sorted(c.call_id for c in read(LOG).calls())
