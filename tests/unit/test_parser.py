"""The byte-level AMI frame parser, and the panoramisk defect it exists to avoid."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from panoramisk.ami_protocol import AMIProtocol

from dialer.ami.parser import MAX_FRAME_BYTES, Frame, FrameParser, FrameTooLarge, parse_frame

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
NAME = "Смирнова Анна"

NEWCHANNEL = (
    "Event: Newchannel\r\n"
    "Privilege: call,all\r\n"
    "Channel: Local/79161234567@patients-00000001;1\r\n"
    "ChannelState: 0\r\n"
    "ChannelStateDesc: Down\r\n"
    "CallerIDNum: 79161234567\r\n"
    f"CallerIDName: {NAME}\r\n"
    "Uniqueid: reminders:17:2\r\n"
    "Linkedid: reminders:17:2\r\n"
    "\r\n"
).encode()
HANGUP = (
    "Event: Hangup\r\n"
    "Channel: Local/79161234567@patients-00000001;1\r\n"
    "CallerIDName: Ёлкина-Щукина Юлия\r\n"
    "Uniqueid: reminders:17:2\r\n"
    "Cause: 16\r\n"
    "Cause-txt: Normal Clearing\r\n"
    "\r\n"
).encode()
STREAM = BANNER + NEWCHANNEL + HANGUP


def feed_all(parser: FrameParser, chunks: list[bytes]) -> list[Frame]:
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(parser.feed(chunk))
    return frames


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    chunks, start = [], 0
    for point in [*points, len(data)]:
        chunks.append(data[start:point])
        start = point
    return chunks


# Frames and the banner -----------------------------------------------------------------------------


def test_the_banner_is_kept_apart_and_frames_are_cut_on_the_blank_line() -> None:
    parser = FrameParser()
    frames = parser.feed(STREAM)
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert [f["Event"] for f in frames] == ["Newchannel", "Hangup"]
    assert frames[0]["CallerIDName"] == NAME
    assert frames[0]["Uniqueid"] == "reminders:17:2"
    assert frames[1]["CallerIDName"] == "Ёлкина-Щукина Юлия"
    assert frames[1]["Cause"] == "16"
    assert "Asterisk Call Manager/11.0.0" not in frames[0]


def test_a_frame_is_held_back_until_its_blank_line_arrives() -> None:
    parser = FrameParser()
    assert parser.feed(BANNER + NEWCHANNEL[:-2]) == []
    assert parser.feed(b"\r") == []
    frames = parser.feed(b"\n")
    assert len(frames) == 1 and frames[0]["Event"] == "Newchannel"


def test_the_banner_split_across_chunks() -> None:
    parser = FrameParser()
    assert parser.feed(b"Asterisk Call Man") == []
    assert parser.banner is None
    assert parser.feed(b"ager/11.0.0\r") == []
    assert parser.feed(b"\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n") == [
        {"Event": "FullyBooted", "Status": "Fully Booted"}
    ]
    assert parser.banner == "Asterisk Call Manager/11.0.0"


def test_a_cyrillic_character_cut_in_two_arrives_intact() -> None:
    cut = STREAM.index("Смирнова".encode()) + 1  # between the two bytes of "С"
    assert STREAM[cut - 1 : cut + 1] == "С".encode()
    frames = feed_all(FrameParser(), [STREAM[:cut], STREAM[cut:]])
    assert frames[0]["CallerIDName"] == NAME


def test_byte_by_byte_equals_whole() -> None:
    whole = FrameParser().feed(STREAM)
    bytewise = feed_all(FrameParser(), [STREAM[i : i + 1] for i in range(len(STREAM))])
    assert bytewise == whole
    assert len(whole) == 2


def test_an_empty_value_and_a_key_with_a_bare_colon() -> None:
    frame = parse_frame(b"Event: Newchannel\r\nAccountCode: \r\nExten:\r\nContext: patients")
    assert frame == {"Event": "Newchannel", "AccountCode": "", "Exten": "", "Context": "patients"}


def test_a_repeated_key_keeps_the_first_value() -> None:
    frame = parse_frame(
        b"Event: VarSet\r\nVariable: FIRST\r\nValue: 1\r\n"
        b"Variable: SECOND\r\nValue: 2\r\nExten:\r\nExten: 100"
    )
    assert frame["Variable"] == "FIRST"
    assert frame["Value"] == "1"
    assert frame["Exten"] == ""


def test_a_value_keeps_its_own_colons_and_spaces() -> None:
    frame = parse_frame("Event: UserEvent\r\nNote: время: 11:00 \r\n".encode())
    assert frame["Note"] == "время: 11:00 "


def test_extra_blank_lines_between_frames_make_no_empty_frames() -> None:
    parser = FrameParser()
    frames = parser.feed(BANNER + b"\r\n\r\n" + HANGUP + b"\r\n\r\n\r\n" + NEWCHANNEL)
    assert [f["Event"] for f in frames] == ["Hangup", "Newchannel"]


# Bounds and garbage -------------------------------------------------------------------------------------


def test_an_oversized_frame_raises_and_the_parser_recovers() -> None:
    parser = FrameParser()
    parser.feed(BANNER)
    chunk = b"Junk: " + b"x" * (64 * 1024) + b"\r\n"
    with pytest.raises(FrameTooLarge):
        for _ in range(MAX_FRAME_BYTES // len(chunk) + 2):
            parser.feed(chunk)
    # The buffer is dropped; the stream goes on with the next frame.
    frames = parser.feed(b"\r\n\r\n" + HANGUP)
    assert frames[-1]["Event"] == "Hangup"
    assert frames[-1]["CallerIDName"] == "Ёлкина-Щукина Юлия"


def test_a_peer_that_never_ends_its_banner_line_is_bounded_too() -> None:
    # The module promises that a peer which never sends a terminator cannot make us buffer without bound.
    # Before the banner line is complete nothing checks the size (parser.py, the `banner is None` branch).
    parser = FrameParser()
    with pytest.raises(FrameTooLarge):
        for _ in range(MAX_FRAME_BYTES // (64 * 1024) + 2):
            parser.feed(b"x" * (64 * 1024))


@given(st.lists(st.binary(max_size=200), max_size=20))
@settings(max_examples=150, deadline=None)
def test_garbage_bytes_never_crash(chunks: list[bytes]) -> None:
    parser = FrameParser()
    frames = feed_all(parser, [*chunks, b"\r\n\r\n"])
    for frame in frames:
        assert frame
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in frame.items())


def test_invalid_utf8_is_replaced_not_raised() -> None:
    frames = FrameParser().feed(BANNER + b"Event: Hangup\r\nCallerIDName: \xff\xfe\xd0\r\nCause: 16\r\n\r\n")
    assert frames[0]["Cause"] == "16"
    assert "\ufffd" in frames[0]["CallerIDName"]


# Any split of the stream gives the same frames -------------------------------------------------------

KEYS = st.sampled_from(
    ["Event", "Channel", "CallerIDName", "ConnectedLineName", "Uniqueid", "Cause", "Digit", "Exten"]
)
VALUES = st.text(
    alphabet=st.sampled_from(list("Смирнова АннаЁёЩщЮюЯяЪъ-:.0123456789abcXYZ 🙂€")), max_size=30
)
FRAMES = st.lists(st.dictionaries(KEYS, VALUES, min_size=1, max_size=6), min_size=1, max_size=8)


def encode(frames: list[dict[str, str]]) -> bytes:
    out = bytearray(BANNER)
    for frame in frames:
        for key, value in frame.items():
            out += f"{key}: {value}\r\n".encode()
        out += b"\r\n"
    return bytes(out)


@given(frames=FRAMES, cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_split_yields_the_same_frames_as_the_whole_stream(
    frames: list[dict[str, str]], cuts: list[int]
) -> None:
    data = encode(frames)
    whole = FrameParser().feed(data)
    assert whole == frames  # values intact, Cyrillic and emoji included
    chunks = split_at(data, cuts)
    assert b"".join(chunks) == data
    assert feed_all(FrameParser(), chunks) == whole


@given(cut=st.integers(min_value=1, max_value=len(STREAM) - 1))
@settings(max_examples=100, deadline=None)
def test_any_single_cut_keeps_the_name(cut: int) -> None:
    frames = feed_all(FrameParser(), [STREAM[:cut], STREAM[cut:]])
    assert frames[0]["CallerIDName"] == NAME


# Events nobody reads ---------------------------------------------------------------------------------

NEWCALLERID = (
    f"Event: NewCallerid\r\nChannel: Local/79161234567@patients-00000001;1\r\nCallerIDName: {NAME}\r\n\r\n"
).encode()
LIST_ITEM = b"Event: CoreShowChannel\r\nActionID: dialer-7\r\nChannel: PJSIP/trunk-00000002\r\n\r\n"
QUEUE_STATUS = b"Event: QueueMemberStatus\r\nQueue: reception\r\nInterface: Local/admin1@agents\r\n\r\n"
ALONE = b"Event: FullyBooted\r\n\r\n"
MIXED = BANNER + NEWCHANNEL + NEWCALLERID + LIST_ITEM + QUEUE_STATUS + ALONE + HANGUP


def test_an_event_whose_name_is_not_read_comes_out_by_its_name_alone() -> None:
    frames = FrameParser(reads={"Newchannel", "Hangup"}).feed(MIXED)
    assert [f["Event"] for f in frames] == [
        "Newchannel",
        "NewCallerid",
        "CoreShowChannel",
        "QueueMemberStatus",
        "FullyBooted",
        "Hangup",
    ]
    assert frames[1] == {"Event": "NewCallerid"}  # the name (and whatever else it held) not even decoded
    assert frames[4] == {"Event": "FullyBooted"}
    assert frames[0]["CallerIDName"] == NAME and frames[5]["Cause"] == "16"


def test_an_answer_to_an_action_and_a_queue_event_are_read_whatever_their_name() -> None:
    frames = FrameParser(reads=set()).feed(MIXED)
    assert frames[2] == {
        "Event": "CoreShowChannel",
        "ActionID": "dialer-7",
        "Channel": "PJSIP/trunk-00000002",
    }
    assert frames[3]["Interface"] == "Local/admin1@agents"


def test_without_reads_every_event_is_read_whole() -> None:
    assert FrameParser().feed(MIXED) == FrameParser(
        reads={f["Event"] for f in FrameParser().feed(MIXED)}
    ).feed(MIXED)
    assert FrameParser().feed(MIXED)[1]["CallerIDName"] == NAME


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(MIXED)), max_size=12))
@settings(max_examples=100, deadline=None)
def test_any_split_passes_over_the_same_events(cuts: list[int]) -> None:
    reads = {"Newchannel", "Hangup"}
    assert feed_all(FrameParser(reads), split_at(MIXED, cuts)) == FrameParser(reads).feed(MIXED)


# The defect we guard against: panoramisk decodes each TCP chunk on its own ----------------------------


class _Transport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass


class _Factory:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def dispatch(self, message: Any) -> None:
        self.events.append(message)


def _panoramisk(chunks: list[bytes]) -> list[Any]:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    factory = _Factory()
    protocol.factory = factory
    protocol.encoding = "utf8"  # what panoramisk.Manager sets by default
    for chunk in chunks:
        protocol.data_received(chunk)
    return factory.events


def test_panoramisk_loses_a_cyrillic_character_split_across_two_chunks() -> None:
    cut = STREAM.index("Смирнова".encode()) + 1  # between 0xD0 and 0xA1, the two bytes of "С"
    chunks = [STREAM[:cut], STREAM[cut:]]

    whole = _panoramisk([STREAM])
    assert whole[0]["CallerIDName"] == NAME  # unsplit, panoramisk is fine

    split = _panoramisk(chunks)
    assert [e["Event"] for e in split] == ["Newchannel", "Hangup"]
    # Both halves of "С" are dropped by decode(..., "ignore"): the surname loses its first letter.
    assert split[0]["CallerIDName"] == "мирнова Анна"

    # Our parser, fed the very same chunks, keeps the name whole.
    ours = feed_all(FrameParser(), chunks)
    assert ours[0]["CallerIDName"] == NAME


def test_panoramisk_mangles_a_split_inside_a_three_byte_character() -> None:
    data = BANNER + "Event: UserEvent\r\nComment: цена 100€ оплачено\r\n\r\n".encode()
    cut = data.index("€".encode()) + 2  # "€" is E2 82 AC; cut before its last byte
    events = _panoramisk([data[:cut], data[cut:]])
    assert events[0]["Comment"] == "цена 100 оплачено"
    assert feed_all(FrameParser(), [data[:cut], data[cut:]])[0]["Comment"] == "цена 100€ оплачено"
