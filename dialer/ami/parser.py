"""A lean AMI frame parser.

Frames are cut on the blank line in *bytes* and decoded only when complete, so a multi-byte UTF-8
character (a Cyrillic name) arrives intact however TCP splits the stream. panoramisk decodes each
TCP chunk on its own and drops the bytes of a character cut in two.
"""

from __future__ import annotations

from collections.abc import Collection

from dialer.core.errors import PeerFailed

FRAME_END = b"\r\n\r\n"
EVENT_HEAD = b"Event: "  # how Asterisk begins every event frame
LINE_END = "\r\n"
SEPARATOR = ": "
# A peer that never sends a frame end must not make us buffer without bound.
MAX_FRAME_BYTES = 1 << 20

Frame = dict[str, str]


class FrameTooLarge(PeerFailed):
    """Asterisk (or whatever answers on its port) sent a frame no AMI peer sends."""


class FrameParser:
    """Feed bytes, get complete frames as plain dicts. The first header wins when a key repeats.

    With `reads`, the names of the events whose headers are read: any other event comes out as its name alone
    (`{"Event": "NewCallerid"}`), unparsed, unless it answers an action (ActionID) or concerns a queue (Queue),
    which are read whatever their name. Most of a call's events are read by nobody, and parsing is most of what
    an event costs."""

    __slots__ = ("_buffer", "_reads", "banner")

    def __init__(self, reads: Collection[str] | None = None) -> None:
        self._buffer = b""
        self.banner: str | None = None
        self._reads = None if reads is None else frozenset(name.encode() for name in reads)

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer + data if self._buffer else data
        if self.banner is None:
            # Asterisk greets with one line ("Asterisk Call Manager/11.0.0") before any frame.
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                if len(buffer) > MAX_FRAME_BYTES:
                    self._buffer = b""
                    raise FrameTooLarge(f"AMI greeting longer than {MAX_FRAME_BYTES} bytes")
                self._buffer = buffer
                return []
            self.banner = buffer[:line_end].decode("utf-8", "replace")
            buffer = buffer[line_end + 2 :]
        if FRAME_END not in buffer:
            if len(buffer) > MAX_FRAME_BYTES:
                self._buffer = b""
                raise FrameTooLarge(f"AMI frame larger than {MAX_FRAME_BYTES} bytes")
            self._buffer = buffer
            return []
        chunks = buffer.split(FRAME_END)
        self._buffer = chunks.pop()
        frames = []
        reads = self._reads
        for chunk in chunks:
            if reads is not None and chunk.startswith(EVENT_HEAD):
                end = chunk.find(b"\r\n")
                name = chunk[len(EVENT_HEAD) : end] if end > 0 else chunk[len(EVENT_HEAD) :]
                if name not in reads and b"ActionID:" not in chunk and b"\r\nQueue:" not in chunk:
                    frames.append({"Event": name.decode("utf-8", "replace")})
                    continue
            frame = parse_frame(chunk)
            if frame:
                frames.append(frame)
        return frames


def parse_frame(chunk: bytes) -> Frame:
    frame: Frame = {}
    for line in chunk.decode("utf-8", "replace").split(LINE_END):
        key, sep, value = line.partition(SEPARATOR)
        if sep and key not in frame:
            frame[key] = value
        elif not sep and key.endswith(":") and key[:-1] not in frame:
            frame[key[:-1]] = ""  # "Key:" with an empty value
    return frame
