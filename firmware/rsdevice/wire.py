# Frame codec of the device side of the link, driven by the generated table in
# schema.py (from protocol/rsproto/catalogue.py); golden vectors keep it honest.
import binascii
import struct
from micropython import const

from . import schema as S

_HDR = const(7)  # magic(2) + version, type, seq, length(2)
_CRC = const(4)

# CRC seed per message type: crc32 of its schema byte (MAVLink CRC_EXTRA).
_SEED = {}
for _t in S.MESSAGE:
    _SEED[_t] = binascii.crc32(bytes((S.MESSAGE[_t][2],)))


def frame_crc(body):
    # body: version..payload; unknown types get seed 0 (they fail as UNKNOWN_TYPE)
    return binascii.crc32(body, _SEED.get(body[1], 0))


def encode(tid, seq, values=(), tail: bytes | memoryview = b""):
    fmt, has_tail, _ = S.MESSAGE[tid]
    payload = struct.pack(fmt, *values)
    if has_tail:
        payload += tail
    head = struct.pack("<BBBBBH", S.MAGIC0, S.MAGIC1, S.PROTOCOL_VERSION, tid, seq & 0xFF, len(payload))
    body = head[2:] + payload
    return head + payload + struct.pack("<I", frame_crc(body))


def decode(tid, payload) -> tuple:
    """Payload -> tuple of fields (+ trailing bytes); ValueError if it does not fit."""
    fmt, has_tail, _ = S.MESSAGE[tid]
    size = struct.calcsize(fmt)
    if len(payload) < size or (not has_tail and len(payload) != size):
        raise ValueError("length")
    values = struct.unpack_from(fmt, payload, 0)
    if has_tail:
        values = values + (bytes(payload[size:]),)
    return values


class FrameReader:
    """Assembles frames one byte at a time; resyncs on the magic after noise
    or a corrupt frame. feed() returns None until a frame ends, then
    (error_code, type, seq, payload) with error_code 0 when the frame is good.
    A corrupt frame may hide the start of a good one, so its bytes after the
    first are scanned again: in a loop, not by recursion (a crafted frame
    nests dozens of candidates, and the ESP32's task stack is small)."""

    def __init__(self):
        self.buf = bytearray(_HDR + S.MAX_PAYLOAD + _CRC)
        self.scan = bytearray(len(self.buf))
        self.n = 0
        self.need = _HDR

    def reset(self):
        self.n = 0
        self.need = _HDR

    def feed(self, b):
        r = self._take(b)
        if r is not None and self.n:  # a corrupt candidate, still held: rescan it
            self._rescan()
        return r

    def _rescan(self):
        scan = self.scan
        buf = self.buf
        m = self.n - 1
        for k in range(m):
            scan[k] = buf[k + 1]
        self.reset()
        i = 0
        while i < m:
            r = self._take(scan[i])
            i += 1
            if r is not None and self.n:  # a nested candidate failed too:
                i -= self.n - 1           # go on from its second byte
                self.reset()

    def _take(self, b):
        """One byte. A frame that fails its length or CRC is returned as an
        error with its bytes still held (n > 0) for the rescan."""
        buf = self.buf
        n = self.n
        if n == 0 and b != S.MAGIC0:
            return None
        if n == 1 and b != S.MAGIC1:
            self.n = 1 if b == S.MAGIC0 else 0
            return None
        buf[n] = b
        n += 1
        self.n = n
        if n == _HDR:
            length = buf[5] | (buf[6] << 8)
            if length > S.MAX_PAYLOAD:
                return (S.E_BAD_LENGTH, buf[3], buf[4], b"")
            self.need = _HDR + length + _CRC
        if n < self.need or n < _HDR:
            return None
        end = self.need - _CRC
        mv = memoryview(buf)
        got = buf[end] | (buf[end + 1] << 8) | (buf[end + 2] << 16) | (buf[end + 3] << 24)
        tid = buf[3]
        seq = buf[4]
        if frame_crc(mv[2:end]) != got:
            return (S.E_BAD_CRC, tid, seq, b"")
        self.reset()
        if buf[2] != S.PROTOCOL_VERSION:
            return (S.E_BAD_VERSION, tid, seq, b"")
        if tid not in S.MESSAGE:
            return (S.E_UNKNOWN_TYPE, tid, seq, b"")
        return (0, tid, seq, bytes(mv[_HDR:end]))
