# The device end of the USB link: binary frames on the REPL's stream, one
# reply per request (the host never runs ahead: the ESP32's stdin ring is
# ~256 B). Ctrl-C is disabled while frames flow so 0x03 in data is data.
import select
import struct

import micropython
from micropython import const

from . import schema as S

from .wire import FrameReader, decode, encode, seal

# protocol constants named in this module, written by `make protocol` from the catalogue
_CALIBRATE = const(8)
_CALIBRATION = const(137)
_CAPTURE = const(10)
_CAPTURE_STARTED = const(138)
_CONFIG_VALUE = const(134)
_CONFIRMED = const(133)
_CONFIRM_SESSION = const(5)
_ERROR = const(127)
_E_BAD_LENGTH = const(4)
_E_BAD_RANGE = const(6)
_E_BUSY = const(11)
_E_CRC_MISMATCH = const(7)
_E_NOT_CLOSED = const(8)
_E_NO_SESSION = const(5)
_E_UNKNOWN_KEY = const(9)
_E_UNKNOWN_TYPE = const(3)
_GET_CALIBRATION = const(9)
_GET_CONFIG = const(6)
_HEADER = const(7)
_HELLO = const(1)
_HELLO_REPLY = const(129)
_LIST_SESSIONS = const(3)
_MAX_CHUNK = const(384)
_PROTOCOL_VERSION = const(1)
_READ_SESSION = const(4)
_REPL = const(15)
_REPL_REPLY = const(143)
_SESSION_CHUNK = const(132)
_SESSION_INFO = const(131)
_SET_CONFIG = const(7)
_SET_TIME = const(11)
_STATUS = const(2)
_STATUS_REPLY = const(130)
_TIME = const(139)

_IDLE_RESET_MS = const(500)  # a frame cut off mid-way (cable pulled) is dropped after this
_ACTIVE_MS = const(2000)     # after a byte, the host is talking: the loop polls the link often


class Link:
    def __init__(self, board, store, app):
        self.board = board
        self.store = store
        self.app = app
        self.inp = board.link_in
        self.out = board.link_out
        self.poller = select.poll()
        self.poller.register(self.inp, select.POLLIN)
        self.reader = FrameReader()
        self.last_byte = 0
        self.leave = False
        self.buf = bytearray(_MAX_CHUNK)
        # a SESSION_CHUNK frame is built here in place: its chunk read from the file at
        # byte 15 (after sid and offset), header and CRC around it; nothing allocated
        self.tx = bytearray(_HEADER + 8 + _MAX_CHUNK + 4)
        self.tx_chunk = memoryview(self.tx)[_HEADER + 8:]
        self.byte = bytearray(1)    # read into, one byte at a time: nothing allocated per byte
        self.active_at = -_ACTIVE_MS  # board clock of the last byte that arrived

    def open(self):
        micropython.kbd_intr(-1)

    def close(self):
        micropython.kbd_intr(3)

    def poll(self, budget=64):
        """Read what has arrived (up to budget bytes) and answer whole frames.
        True if anything arrived."""
        board = self.board
        got = False
        byte = self.byte
        for _ in range(budget):
            ready = False
            for _ in self.poller.ipoll(0):  # ipoll: no list per call, unlike poll
                ready = True
            if not ready or not self.inp.readinto(byte):
                break
            got = True
            self.byte_in(byte[0])
        now = board.ticks_ms()
        if got:
            self.last_byte = now
            self.active_at = now
        elif self.reader.n and board.ticks_diff(now, self.last_byte) > _IDLE_RESET_MS:
            self.reader.reset()
        return got

    def talking(self):
        """True while a host is exchanging frames (bytes within _ACTIVE_MS)."""
        board = self.board
        return board.ticks_diff(board.ticks_ms(), self.active_at) < _ACTIVE_MS

    def byte_in(self, b):
        """One byte from the host: a whole frame is answered."""
        r = self.reader.take(b)
        if r >= 0:
            self._handle(r)

    def send(self, tid, seq, values=(), tail: bytes | memoryview = b""):
        self.out.write(encode(tid, seq, values, tail))

    def error(self, code, tid, seq):
        self.send(_ERROR, seq, (code, tid, seq))

    def _handle(self, err):
        reader = self.reader
        tid = reader.tid
        seq = reader.seq
        if err:
            self.error(err, tid, seq)
            return
        b = reader.buf
        if tid == _READ_SESSION and reader.end == _HEADER + 10:
            # the sync's steady state, a chunk after a chunk: fields read in place, no tuple
            self.read_session(seq, b[_HEADER] | (b[_HEADER + 1] << 8) | (b[_HEADER + 2] << 16) | (b[_HEADER + 3] << 24),
                              b[_HEADER + 4] | (b[_HEADER + 5] << 8) | (b[_HEADER + 6] << 16) | (b[_HEADER + 7] << 24),
                              b[_HEADER + 8] | (b[_HEADER + 9] << 8))
            return
        try:
            args = decode(tid, memoryview(b)[_HEADER:reader.end])
        except ValueError:
            self.error(_E_BAD_LENGTH, tid, seq)
            return
        if tid == _HELLO:
            v = S.FW_VERSION
            self.send(_HELLO_REPLY, seq, (_PROTOCOL_VERSION, S.SCHEMA_HASH, v[0], v[1], v[2], self.board.device_id))
        elif tid == _STATUS:
            app = self.app
            self.send(_STATUS_REPLY, seq, (
                self.board.ticks_ms() & 0xFFFFFFFF, self.board.battery_mv(), len(self.store.ids()),
                self.store.free_kb(), 1 if app.writer else 0, app.board.imu.overruns & 0xFFFF,
                app.samples & 0xFFFFFFFF, 1 if app.flash_full else 0, app.i2c_errors & 0xFFFF,
                app.boot & 0xFFFF, app.utc_now()))
        elif tid == _LIST_SESSIONS:
            ids = self.store.ids()
            i = args[0]
            if i >= len(ids):
                self.error(_E_NO_SESSION, tid, seq)
                return
            sid = ids[i]
            closed = not (self.app.writer and self.app.writer.sid == sid)
            crc = self.store.crc(sid, self.buf) if closed else 0
            self.send(_SESSION_INFO, seq, (i, len(ids), sid, self.store.size(sid), crc,
                                            1 if closed else 0, 1 if self.store.confirmed(sid) else 0))
        elif tid == _READ_SESSION:
            self.read_session(seq, args[0], args[1], args[2])
        elif tid == _CONFIRM_SESSION:
            sid, crc = args
            if self.store.size(sid) < 0:
                self.error(_E_NO_SESSION, tid, seq)
            elif self.app.writer and self.app.writer.sid == sid:
                self.error(_E_NOT_CLOSED, tid, seq)
            elif self.store.crc(sid, self.buf) != crc:
                self.error(_E_CRC_MISMATCH, tid, seq)
            else:
                self.store.mark_confirmed(sid)
                self.app.flash_full = False  # the next session may find room now
                self.send(_CONFIRMED, seq, (sid,))
        elif tid == _GET_CONFIG or tid == _SET_CONFIG:
            key = args[-1]
            try:
                name = str(key, "utf-8")
            except (UnicodeError, ValueError):
                name = ""
            cfg = self.app.cfg
            if name not in cfg:
                self.error(_E_UNKNOWN_KEY, tid, seq)
                return
            if tid == _SET_CONFIG:
                err = self.app.set_config(name, args[0])
                if err:
                    self.error(err, tid, seq)
                    return
            self.send(_CONFIG_VALUE, seq, (cfg[name],), key)
        elif tid == _CALIBRATE or tid == _GET_CALIBRATION:
            if tid == _CALIBRATE and not self.app.start_calibration():
                self.error(_E_BUSY, tid, seq)
                return
            app = self.app
            up = app.up
            fwd = app.fwd
            self.send(_CALIBRATION, seq, (app.cal_state, app.refusal, up[0], up[1], up[2], fwd[0], fwd[1], fwd[2]))
        elif tid == _CAPTURE:
            err = self.app.start_capture(args[0], args[1])
            if err:
                self.error(err, tid, seq)
            else:
                self.send(_CAPTURE_STARTED, seq, (self.app.writer.sid,))
        elif tid == _SET_TIME:
            self.app.set_time(args[0])
            self.send(_TIME, seq, (self.app.utc_now(), self.board.ticks_ms() & 0xFFFFFFFF, self.app.boot & 0xFFFF))
        elif tid == _REPL:
            self.send(_REPL_REPLY, seq)
            self.leave = True
        else:
            self.error(_E_UNKNOWN_TYPE, tid, seq)

    def read_session(self, seq, sid, offset, length):
        store = self.store
        size = store.size(sid)
        if size < 0:
            self.error(_E_NO_SESSION, _READ_SESSION, seq)
            return
        if offset > size or length > _MAX_CHUNK:
            self.error(_E_BAD_RANGE, _READ_SESSION, seq)
            return
        writer = self.app.writer
        recording = False
        if writer is not None and writer.sid == sid:
            recording = True
            writer.flush()
        n = store.read(sid, offset, min(length, size - offset), self.tx_chunk, keep=not recording) \
            if offset < size else 0
        tx = self.tx
        struct.pack_into("<II", tx, _HEADER, sid, offset)
        self.out.write(tx, seal(tx, _SESSION_CHUNK, seq, 8 + n))
