"""The recorded AMI streams of bench/data, cut into TCP-like chunks."""

from __future__ import annotations

import gzip
import random
from collections.abc import Sequence
from pathlib import Path

from bench.lib.paths import DATA
from dialer.ami.parser import FRAME_END
from dialer.campaigns.kinds import EVERY_KIND
from dialer.core.ownership import OurAttempts

STREAMS = ("ami_read_all.bin.gz", "ami_dialer_user.bin.gz")


def load_stream(name: str) -> bytes:
    path = Path(name) if Path(name).exists() else DATA / name
    return gzip.decompress(path.read_bytes())


def tcp_chunks(stream: bytes, seed: int = 20261125, low: int = 1024, high: int = 8192) -> list[bytes]:
    rng = random.Random(seed)
    chunks = []
    at = 0
    while at < len(stream):
        size = rng.randint(low, high)
        chunks.append(stream[at : at + size])
        at += size
    return chunks


def count_events(stream: bytes) -> int:
    # lstrip: Asterisk ends some TestEvent frames with one CRLF too many (seen on 22.10).
    return sum(1 for frame in stream.split(b"\r\n\r\n") if frame.lstrip(b"\r\n").startswith(b"Event: "))


def stream_attempts(stream: bytes) -> list[str]:
    """The attempt ids (first legs) of the calls in the stream, in order of appearance."""
    seen: dict[str, None] = {}
    for line in stream.split(b"\r\n"):
        if line.startswith(b"Uniqueid: "):
            value = line[10:].decode("utf-8", "replace")
            if OURS.is_ours(value):
                seen.setdefault(value)
    return list(seen)


def frame_cuts(chunks: Sequence[bytes]) -> list[int | None]:
    """For each chunk, the offset just after the first frame end in it (None: no frame ends in it)."""
    stream = b"".join(chunks)
    ends: list[int] = []
    at = stream.find(b"\r\n") + 2  # the greeting line
    while (i := stream.find(FRAME_END, at)) >= 0:
        at = i + len(FRAME_END)
        ends.append(at)
    cuts: list[int | None] = []
    base = k = 0
    for chunk in chunks:
        while k < len(ends) and ends[k] < base:
            k += 1
        cuts.append(ends[k] - base if k < len(ends) and ends[k] <= base + len(chunk) else None)
        base += len(chunk)
    return cuts


# The recorded streams' attempt ids carry no installation id (they are read as installation "").
OURS = OurAttempts("", EVERY_KIND)
