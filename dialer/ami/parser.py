"""A lean AMI frame parser.

Frames are cut on the blank line in *bytes* and decoded only when complete, so a multi-byte UTF-8
character (a Cyrillic name) arrives intact however TCP splits the stream. panoramisk decodes each
TCP chunk on its own and drops the bytes of a character cut in two.
"""

from __future__ import annotations

from dialer.core.errors import PeerFailed

FRAME_END = b"\r\n\r\n"
LINE_END = "\r\n"
SEPARATOR = ": "
# A peer that never sends a frame end must not make us buffer without bound.
MAX_FRAME_BYTES = 1 << 20

Frame = dict[str, str]


class FrameTooLarge(PeerFailed):
    """Asterisk (or whatever answers on its port) sent a frame no AMI peer sends."""


class FrameParser:
    """Feed bytes, get complete frames as plain dicts. The first header wins when a key repeats."""

    __slots__ = ("_buffer", "banner")

    def __init__(self) -> None:
        self._buffer = b""
        self.banner: str | None = None

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
        for chunk in chunks:
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
