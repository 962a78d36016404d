"""Framing of the 4G watch text protocol over a TCP byte stream (pure: bytes in, frames out).

A frame is `[MM*ID*LLLL*CONTENT]` or, in some firmwares, `[MM*ID*IIII*LLLL*CONTENT]`:
MM a two-character vendor code (`3G`, `SG`, `ZJ`, `CS`...), ID the watch's protocol id,
IIII an optional message index and LLLL the content's length in bytes, both 4 hex digits.
Binary content (voice `TK`, images) escapes the bytes that would break framing as
0x7D 0x01..0x05 (for 0x7D `[` `]` `,` `*`), so a raw `]` always ends a frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_FRAME_BYTES = 16 * 1024  # a voice TK chunk is the largest thing a watch sends

_HEADER = re.compile(
    rb"\[([0-9A-Za-z]{2})\*([0-9A-Za-z]{1,20})\*(?:([0-9A-Fa-f]{4})\*)?([0-9A-Fa-f]{4})\*"
)
_ESCAPES = {1: b"\x7d", 2: b"[", 3: b"]", 4: b",", 5: b"*"}


@dataclass(frozen=True, slots=True)
class Frame:
    """One well-formed frame."""

    vendor: str
    watch_id: str
    index: str | None  # the optional 4-hex message index, echoed in replies
    content: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Bytes that looked like a frame but were not one; kept whole for the dead letters."""

    reason: str  # "header", "length", "too_large"
    raw: bytes
    watch_id: str | None = None


class FrameReader:
    """Cuts a byte stream into frames; keeps at most `max_frame_bytes` of a partial frame."""

    __slots__ = ("_buffer", "_max", "_dropping")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = b""
        self._max = max_frame_bytes
        self._dropping = False  # inside an over-size frame: discard up to its `]`

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        """Add received bytes; return the frames (and bad frames) they complete."""
        buffer = self._buffer + data
        out: list[Frame | BadFrame] = []
        start = 0
        while True:
            if self._dropping:
                end = buffer.find(b"]", start)
                if end < 0:
                    buffer, start = b"", 0
                    break
                self._dropping, start = False, end + 1
            begin = buffer.find(b"[", start)
            if begin < 0:  # everything left is garbage between frames
                buffer, start = b"", 0
                break
            end = buffer.find(b"]", begin)
            if end < 0:
                if len(buffer) - begin > self._max:
                    out.append(BadFrame("too_large", buffer[begin : begin + 256]))
                    self._dropping, buffer, start = True, b"", 0
                    break
                start = begin
                break
            nested = buffer.rfind(b"[", begin + 1, end)
            if nested > 0:  # a frame cut short by the start of another: garbage
                out.append(BadFrame("header", buffer[begin:nested]))
                begin = nested
            raw = buffer[begin : end + 1]
            out.append(BadFrame("too_large", raw[:256]) if len(raw) > self._max else parse(raw))
            start = end + 1
        self._buffer = buffer[start:]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buffer)


def parse(raw: bytes) -> Frame | BadFrame:
    """One complete `[...]` into a Frame, checking the declared content length."""
    header = _HEADER.match(raw)
    if header is None:
        return BadFrame("header", raw)
    vendor, watch_id = header[1].decode(), header[2].decode()
    index, length = header[3].decode() if header[3] else None, header[4].decode()
    content = raw[header.end() : -1]
    if len(content) != int(length, 16) and index is not None:
        # Read as index-less: what looked like the index is the length, and the content
        # begins with what looked like the length (content such as `00A1*...`).
        length, content = index, raw[header.start(4) : -1]
        index = None
    if len(content) != int(length, 16):
        return BadFrame("length", raw, watch_id)
    return Frame(vendor, watch_id, index, content, raw)


def unescape(content: bytes) -> bytes:
    """Binary content as the watch meant it (0x7D 0x0N escapes resolved)."""
    if b"\x7d" not in content:
        return content
    out = bytearray()
    i = 0
    while i < len(content):
        byte = content[i]
        if byte == 0x7D and i + 1 < len(content) and content[i + 1] in _ESCAPES:
            out += _ESCAPES[content[i + 1]]
            i += 2
        else:
            out.append(byte)
            i += 1
    return bytes(out)


def encode(vendor: str, watch_id: str, content: bytes, index: str | None = None) -> bytes:
    """A frame to send to the watch (with the index when the watch used one)."""
    middle = f"*{index}" if index else ""
    return b"[%s*%s%s*%04X*%s]" % (
        vendor.encode(),
        watch_id.encode(),
        middle.encode(),
        len(content),
        content,
    )
