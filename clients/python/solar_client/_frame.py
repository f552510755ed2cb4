"""FRAME32 framing, shared by the sync and asyncio connections.

A frame is a 4-byte big-endian length and that many payload bytes. In a
reply, bit 31 of the length word set means an error reply: the low 31 bits
are the length of a UTF-8 error message, at most 64 KiB (the worker's
process() threw or called Response::error). A normal reply is at most the
server's max_frame_bytes, itself at most 2^30.
"""
import struct

from .errors import ProtocolError, ServerError

HEADER = struct.Struct(">I")
ERROR_BIT = 0x8000_0000
# The largest normal reply accepted by default: the largest max_frame_bytes a
# server can be configured with (2^30). A longer length word cannot come from
# solar (the stream is out of step): ProtocolError. Memory is only used as
# bytes arrive, so a wrong length cannot make the client allocate it at once.
DEFAULT_MAX_REPLY_BYTES = 1 << 30
# The server cuts error messages to 64 KiB.
MAX_ERROR_BYTES = 64 << 10


def encode(payloads):
    """The request frames of `payloads` (bytes-like), concatenated."""
    parts = []
    for p in payloads:
        if not isinstance(p, (bytes, bytearray, memoryview)):
            raise TypeError(f"a request payload must be bytes, not {type(p).__name__}")
        if len(p) >= ERROR_BIT:
            raise ValueError(f"a request of {len(p)} bytes does not fit a frame32 frame")
        parts.append(HEADER.pack(len(p)))
        parts.append(p)
    return b"".join(parts)


def decode_header(header, max_reply_bytes):
    """(is_error, length) of a reply's 4-byte length word."""
    (word,) = HEADER.unpack(header)
    is_error = bool(word & ERROR_BIT)
    length = word & (ERROR_BIT - 1)
    if is_error and length > MAX_ERROR_BYTES:
        raise ProtocolError(f"error reply of {length} bytes is implausible (limit {MAX_ERROR_BYTES})")
    if length > max_reply_bytes:
        raise ProtocolError(f"reply frame of {length} bytes is implausible (limit {max_reply_bytes})")
    return is_error, length


def reply_value(is_error, body, index=None):
    """The reply as returned to the caller: bytes, or a ServerError."""
    if is_error:
        return ServerError(bytes(body).decode("utf-8", errors="replace"), index)
    return bytes(body)


class ReplyReader:
    """Cuts replies out of a byte stream: feed() bytes, then take() the
    complete replies (bytes, or ServerError for an error reply)."""

    def __init__(self, max_reply_bytes):
        self._max = max_reply_bytes
        self._buf = bytearray()
        self._need = None  # (is_error, length) once the header is in
        self.replies = 0

    def feed(self, data):
        self._buf += data

    def take(self):
        out = []
        buf = self._buf
        pos = 0
        while True:
            if self._need is None:
                if len(buf) - pos < 4:
                    break
                self._need = decode_header(buf[pos:pos + 4], self._max)
                pos += 4
            is_error, length = self._need
            if len(buf) - pos < length:
                break
            out.append(reply_value(is_error, buf[pos:pos + length], self.replies))
            self.replies += 1
            pos += length
            self._need = None
        if pos:
            del buf[:pos]
        return out

    def pending(self):
        """Bytes of an incomplete reply held (header included)."""
        return len(self._buf) + (4 if self._need is not None else 0)
