# Frame codec of the device side of the link, driven by the generated table in
# schema.py (from protocol/rsproto/catalogue.py); golden vectors keep it honest.
import binascii
import struct
from array import array

import micropython
from micropython import const

from . import schema as S

# protocol constants named in this module, written by `make protocol` from the catalogue
_E_BAD_CRC = const(1)
_E_BAD_LENGTH = const(4)
_E_BAD_VERSION = const(2)
_E_UNKNOWN_TYPE = const(3)
_HEADER = const(7)
_MAGIC0 = const(165)
_MAGIC1 = const(90)
_MAX_PAYLOAD = const(512)
_PROTOCOL_VERSION = const(1)

_CRC = const(4)

# CRC seed per message type: crc32 of its schema byte (MAVLink CRC_EXTRA);
# unknown types get seed 0 (they fail as UNKNOWN_TYPE). Kept as uint32 words:
# a CRC of 2**30 or more is a big int (an allocation) on the ESP32's port.
_SEEDS = array("I", bytes(4 * 256))
for _t in S.MESSAGE:
    _SEEDS[_t] = binascii.crc32(bytes((S.MESSAGE[_t][2],)))


def _crc32_table():
    t = array("I", bytes(4 * 256))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        t[i] = c
    return t


CRC32_TABLE = _crc32_table()  # CRC-32 (zlib's), a byte at a time; the log's records use it too


def frame_crc(body):
    # body: version..payload
    return binascii.crc32(body, _SEEDS[body[1]])


@micropython.viper
def _crc_at(buf, start: int, end: int, table, seeds, put: int) -> bool:
    """The frame CRC of buf[start:end] (version..payload), in machine words:
    written little-endian at buf[end] (put), else compared with what is there."""
    b = ptr8(buf)
    t = ptr32(table)
    mask = ((uint(1) << 16) << 16) - uint(1)  # 32 ones, on a 32-bit port as on a 64-bit VM
    crc = (uint(ptr32(seeds)[b[start + 1]]) ^ mask) & mask
    i = start
    while i < end:
        crc = uint(t[(crc ^ uint(b[i])) & uint(0xFF)]) ^ (crc >> 8)
        i += 1
    crc = (crc ^ mask) & mask
    if put:
        b[end] = crc & uint(0xFF)
        b[end + 1] = (crc >> 8) & uint(0xFF)
        b[end + 2] = (crc >> 16) & uint(0xFF)
        b[end + 3] = (crc >> 24) & uint(0xFF)
        return True
    got = uint(b[end]) | (uint(b[end + 1]) << 8) | (uint(b[end + 2]) << 16) | (uint(b[end + 3]) << 24)
    return got == crc


def seal(buf, tid, seq, length):
    """Frame a payload already at buf[7:7+length] in place: header and CRC.
    -> the frame's length. Nothing allocated (the sync's chunks go this way)."""
    buf[0] = _MAGIC0
    buf[1] = _MAGIC1
    buf[2] = _PROTOCOL_VERSION
    buf[3] = tid
    buf[4] = seq & 0xFF
    buf[5] = length & 0xFF
    buf[6] = length >> 8
    _crc_at(buf, 2, _HEADER + length, CRC32_TABLE, _SEEDS, 1)
    return _HEADER + length + _CRC


def encode(tid, seq, values=(), tail: bytes | memoryview = b""):
    fmt, has_tail, _ = S.MESSAGE[tid]
    payload = struct.pack(fmt, *values)
    if has_tail:
        payload += tail
    head = struct.pack("<BBBBBH", _MAGIC0, _MAGIC1, _PROTOCOL_VERSION, tid, seq & 0xFF, len(payload))
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
    or a corrupt frame. take() returns -1 until a frame ends, then 0 when it
    is good (`tid`, `seq`, and the payload in buf[7:end]) or an error code;
    feed() returns None or (error_code, type, seq, payload bytes). A corrupt
    frame may hide the start of a good one, so its bytes after the first are
    scanned again: in a loop, not by recursion (a crafted frame nests dozens
    of candidates, and the ESP32's task stack is small)."""

    def __init__(self):
        self.buf = bytearray(_HEADER + _MAX_PAYLOAD + _CRC)
        self.scan = bytearray(len(self.buf))
        self.n = 0
        self.need = _HEADER
        self.tid = 0
        self.seq = 0
        self.end = _HEADER  # the last good frame's payload ends here in buf

    def reset(self):
        self.n = 0
        self.need = _HEADER

    def feed(self, b):
        r = self.take(b)
        if r < 0:
            return None
        return (r, self.tid, self.seq, bytes(memoryview(self.buf)[_HEADER:self.end]) if r == 0 else b"")

    def take(self, b):
        r = self._take(b)
        if r > 0 and self.n:  # a corrupt candidate, still held: rescan it
            tid = self.tid
            seq = self.seq
            self._rescan()
            self.tid = tid
            self.seq = seq
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
            if r > 0 and self.n:  # a nested candidate failed too:
                i -= self.n - 1   # go on from its second byte
                self.reset()

    def _take(self, b):
        """One byte. A frame that fails its length or CRC is returned as an
        error with its bytes still held (n > 0) for the rescan."""
        buf = self.buf
        n = self.n
        if n == 0 and b != _MAGIC0:
            return -1
        if n == 1 and b != _MAGIC1:
            self.n = 1 if b == _MAGIC0 else 0
            return -1
        buf[n] = b
        n += 1
        self.n = n
        if n == _HEADER:
            length = buf[5] | (buf[6] << 8)
            if length > _MAX_PAYLOAD:
                self.tid = buf[3]
                self.seq = buf[4]
                return _E_BAD_LENGTH
            self.need = _HEADER + length + _CRC
        if n < self.need or n < _HEADER:
            return -1
        end = self.need - _CRC
        self.tid = buf[3]
        self.seq = buf[4]
        if not _crc_at(buf, 2, end, CRC32_TABLE, _SEEDS, 0):
            return _E_BAD_CRC
        self.reset()
        if buf[2] != _PROTOCOL_VERSION:
            return _E_BAD_VERSION
        if buf[3] not in S.MESSAGE:
            return _E_UNKNOWN_TYPE
        self.end = end
        return 0
