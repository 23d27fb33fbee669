# Session logs on flash: one append-only file per session, a checksum per
# record. Records reach the flash when the app syncs the file (every
# SYNC_MS and at the session's end; littlefs commits a file only at a sync),
# so a power cut loses at most the records of the last SYNC_MS and never a
# record already synced. Closed sessions stay until the host confirms it holds
# a CRC-verified copy; confirmed ones are deleted, oldest first, when space runs low.
import binascii
import os
import struct

import micropython
from micropython import const

from . import schema as S
from .wire import CRC32_TABLE

# protocol constants named in this module, written by `make protocol` from the catalogue
_RECORD_MAGIC = const(181)

_DIR = const("sessions")
_OPEN = const(".rsl")        # recording or closed, not yet confirmed by the host
_DONE = const(".rsc")        # confirmed by the host; free to delete when space runs low
_LAST = const("sessions/last_id")
_BOOTS = const("sessions/boots")
SYNC_MS = const(5000)  # each sync rewrites the file's last flash block: not per batch


def _name(sid, ext):
    return "%s/%08d%s" % (_DIR, sid, ext)


class SessionStore:
    """Lists the sessions on flash and serves their bytes to the link."""

    def __init__(self):
        try:
            os.mkdir(_DIR)
        except OSError:
            pass
        self._crc = {}  # sid -> (size, crc32) cache for closed sessions
        self._rf = None  # a closed session's file kept open for reading, its id and size
        self._rf_sid = 0
        self._rf_size = 0

    def count_boot(self):
        """This boot's number (one more than the last; kept on flash)."""
        n = 0
        try:
            with open(_BOOTS) as f:
                n = int(f.read())
        except (OSError, ValueError):
            pass
        n = (n + 1) & 0xFFFF
        try:
            with open(_BOOTS, "w") as f:
                f.write(str(n))
        except OSError:
            pass  # a full flash: the count stays behind, dating by uptime is then refused
        return n

    def ids(self):
        out = []
        for name in os.listdir(_DIR):
            if name.endswith(_OPEN) or name.endswith(_DONE):
                try:
                    out.append(int(name[:8]))
                except ValueError:
                    pass
        out.sort()
        return out

    def path(self, sid):
        for ext in (_OPEN, _DONE):
            p = _name(sid, ext)
            try:
                os.stat(p)
                return p
            except OSError:
                pass
        return None

    def _existing(self, sid):
        p = self.path(sid)
        if p is None:
            raise OSError("no session %d" % sid)
        return p

    def next_id(self):
        """A new session's id: never one used before on this board, even once
        reclaiming has deleted every older session (the host keys on it)."""
        ids = self.ids()
        last = ids[-1] if ids else 0
        try:
            with open(_LAST) as f:
                last = max(last, int(f.read()))
        except (OSError, ValueError):
            pass
        with open(_LAST + ".tmp", "w") as f:
            f.write(str(last + 1))
        os.rename(_LAST + ".tmp", _LAST)
        return last + 1

    def size(self, sid):
        if self._rf is not None and self._rf_sid == sid:  # the closed session being read: known
            return self._rf_size
        p = self.path(sid)
        return os.stat(p)[6] if p else -1

    def confirmed(self, sid):
        p = self.path(sid)
        return p is not None and p.endswith(_DONE)

    def read(self, sid, offset, length, buf, keep=False):
        """Read into buf (bytearray); returns the byte count. keep: a closed
        session's file stays open for the next chunk (a sync reads hundreds
        in a row; opening each time was most of a chunk's cost)."""
        if self._rf is not None and self._rf_sid == sid:
            f = self._rf
        else:
            self.forget()
            f = open(self._existing(sid), "rb")
            if keep:
                self._rf_size = f.seek(0, 2)
        f.seek(offset)
        n = f.readinto(buf, length)  # nbytes, not a slice: nothing allocated
        if keep:
            self._rf = f
            self._rf_sid = sid
        else:
            f.close()
            self._rf = None
        return n

    def forget(self):
        """Close the file kept open for reading (before it is renamed or deleted)."""
        if self._rf is not None:
            self._rf.close()
            self._rf = None

    def crc(self, sid, buf):
        size = self.size(sid)
        hit = self._crc.get(sid)
        if hit and hit[0] == size:
            return hit[1]
        crc = 0
        with open(self._existing(sid), "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                crc = binascii.crc32(memoryview(buf)[:n], crc)
        self._crc[sid] = (size, crc)
        return crc

    def mark_confirmed(self, sid):
        self.forget()
        p = self.path(sid)
        if p and p.endswith(_OPEN):
            os.rename(p, _name(sid, _DONE))

    def free_kb(self):
        try:
            st = os.statvfs(_DIR)
        except OSError:
            return 0
        free = st[3]
        if free > st[2]:  # littlefs counts a full disk below zero, unsigned
            free = 0
        return st[0] * free // 1024

    def reclaim(self, need_kb, keep=-1):
        """Delete confirmed sessions, oldest first, until need_kb are free.
        True if they are."""
        for sid in self.ids():
            if self.free_kb() >= need_kb:
                return True
            if sid != keep and self.confirmed(sid):
                self.forget()
                os.remove(_name(sid, _DONE))
                self._crc.pop(sid, None)
        return self.free_kb() >= need_kb


@micropython.viper
def _crc16(buf, start: int, end: int, table) -> int:
    """The low 16 bits of the CRC-32 of buf[start:end]: in machine words, so
    no big int (a CRC-32 over 2^30 is one on a 32-bit port) and no slice."""
    b = ptr8(buf)
    t = ptr32(table)
    c = uint(0xFFFFFFFF)
    for i in range(start, end):
        c = uint(t[(c ^ uint(b[i])) & uint(0xFF)]) ^ (c >> 8)
    return int((c ^ uint(0xFFFFFFFF)) & uint(0xFFFF))


class SessionWriter:
    """Appends checksummed records to one session file. Each record is packed
    into a pre-allocated buffer; the app decides when to flush (sync).
    write() takes up to 10 fields by position and allocates nothing;
    longer records go through write_tail()."""

    def __init__(self, store, sid):
        self.sid = sid
        self.f = open(_name(sid, _OPEN), "ab")
        self.buf = bytearray(3 + 255 + 2)
        self.mv = memoryview(self.buf)
        self.records = 0
        self.written = 0  # bytes appended

    def write(self, rtype, a=0, b=0, c=0, d=0, e=0, f=0, g=0, h=0, i=0, j=0):
        fmt = S.RECORD[rtype]
        n = len(fmt) - 1  # one letter per field
        buf = self.buf
        if n == 1:
            struct.pack_into(fmt, buf, 3, a)
        elif n == 2:
            struct.pack_into(fmt, buf, 3, a, b)
        elif n == 3:
            struct.pack_into(fmt, buf, 3, a, b, c)
        elif n == 4:
            struct.pack_into(fmt, buf, 3, a, b, c, d)
        elif n == 5:
            struct.pack_into(fmt, buf, 3, a, b, c, d, e)
        elif n == 6:
            struct.pack_into(fmt, buf, 3, a, b, c, d, e, f)
        elif n == 7:
            struct.pack_into(fmt, buf, 3, a, b, c, d, e, f, g)
        elif n == 8:
            struct.pack_into(fmt, buf, 3, a, b, c, d, e, f, g, h)
        elif n == 9:
            struct.pack_into(fmt, buf, 3, a, b, c, d, e, f, g, h, i)
        else:
            struct.pack_into(fmt, buf, 3, a, b, c, d, e, f, g, h, i, j)
        self._finish(rtype, struct.calcsize(fmt))

    def write_tail(self, rtype, tail, *values):
        """A record whose fixed fields are followed by the bytes of `tail`
        (a buffer, or None); any number of fields."""
        fmt = S.RECORD[rtype]
        size = struct.calcsize(fmt)
        struct.pack_into(fmt, self.buf, 3, *values)
        if tail is not None:
            n = len(tail)
            self.mv[3 + size:3 + size + n] = tail
            size += n
        self._finish(rtype, size)

    def _finish(self, rtype, size):
        """Frame the payload packed at buf[3:3 + size] and append it."""
        buf = self.buf
        buf[0] = _RECORD_MAGIC
        buf[1] = rtype
        buf[2] = size
        crc = _crc16(buf, 1, 3 + size, CRC32_TABLE)
        buf[3 + size] = crc & 0xFF
        buf[4 + size] = crc >> 8
        self.f.write(buf, 5 + size)  # a stream's write takes a count: no slice, no view
        self.written += 5 + size
        self.records += 1

    def flush(self):
        """Commit what was written to the flash."""
        self.f.flush()

    def close(self):
        self.f.close()
