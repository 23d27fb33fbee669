"""Protocol client over a serial port (pyserial): one request, one reply."""
import os
import time

import serial
from construct import ConstructError

from rsproto import catalogue as cat
from rsproto import wire


class LinkError(Exception):
    """The link failed: timeout, not a RetroStride device, protocol mismatch."""


class DeviceError(LinkError):
    """The device answered with an ERROR frame."""

    def __init__(self, code, about):
        self.code = code
        self.name = wire.ERROR_NAME.get(code, "code %d" % code)
        super().__init__(f"device refused {about}: {self.name}")


def open_port(port, timeout=0.05):
    # exclusive=True: two tools on one port corrupt each other's frames
    return serial.serial_for_url(port, baudrate=115200, timeout=timeout, exclusive=True)


ERROR_TYPE = wire.MESSAGE_BY_NAME["ERROR"][0]
WINDOW = 8      # READ_SESSION requests in flight: 8 x 21 B, well inside the ESP32's 256 B stdin ring
QUIET_S = 0.05  # the device answers a frame within a loop tick (5 ms); ten of them is quiet
REPLY_TYPE = {wire.MESSAGE_BY_NAME[req][0]: wire.MESSAGE_BY_NAME[rep][0] for req, rep in cat.REPLIES}


class Client:
    """One request, one reply, matched by type and sequence number: the reply
    the catalogue names for request type T, or an ERROR that names T and this seq.
    Anything else (a stale reply to a request that timed out, an ERROR for
    noise, a request echoed back by a loopback) is skipped."""

    def __init__(self, ser, timeout=1.5, retries=2):
        self.ser = ser
        self.timeout = timeout
        self.retries = retries
        self.seq = int.from_bytes(os.urandom(1), "little")  # not the last client's seqs
        self.rx = bytearray()
        self.port = getattr(ser, "port", None) or getattr(ser, "name", "?")
        self.drain()

    def close(self):
        self.ser.close()

    def drain(self):
        """Start clean: forget replies meant for someone else, and send one
        frame's length of zero bytes, so that a frame the device's parser is
        still assembling from earlier noise (a corrupt length can make it wait
        for hundreds of bytes) ends before this client's first request (no
        frame can start inside zeros); then wait until the device has been
        quiet for QUIET_S, dropping its answers to what came before."""
        try:
            self.ser.reset_input_buffer()
            self.ser.write(bytes(wire.FRAME_OVERHEAD + cat.MAX_PAYLOAD))
            # then let the device answer whatever it still had queued, and drop those answers
            deadline = time.monotonic() + self.timeout
            quiet = time.monotonic() + QUIET_S
            while time.monotonic() < deadline:
                if self.ser.read(max(1, self.ser.in_waiting)):
                    quiet = time.monotonic() + QUIET_S
                elif time.monotonic() >= quiet:
                    break
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"{self.port}: {e}") from None
        self.rx.clear()

    def request(self, name, **fields):
        """Send a request; return (reply name, fields). Retries on silence,
        raises DeviceError on an ERROR reply and LinkError when nothing valid comes."""
        tid = wire.MESSAGE_BY_NAME[name][0]
        for attempt in range(self.retries + 1):
            self.seq = (self.seq + 1) & 0xFF
            try:
                self.ser.write(wire.encode_message(name, seq=self.seq, **fields))
                reply = self._read_reply(tid, self.seq)
            except (serial.SerialException, OSError) as e:
                raise LinkError(f"the link to {self.port} dropped during {name}: {e}") from None
            if reply is None:
                continue
            rname, rfields = reply
            if rname == "ERROR":
                raise DeviceError(rfields["code"], name)
            return rname, rfields
        raise LinkError(f"no valid reply to {name} on {self.port} after {self.retries + 1} tries "
                        f"of {self.timeout:.1f} s: is a RetroStride device there, running its app "
                        f"(not the REPL)?")

    def _read_reply(self, tid, seq):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            frame = self._next_frame()
            if frame is None:
                data = self.ser.read(max(1, self.ser.in_waiting or 1))
                if data:
                    self.rx += data
                continue
            body = frame.body.value
            if body.seq != seq or body.type not in (REPLY_TYPE[tid], ERROR_TYPE):
                continue  # stale, or not a reply to this request (an echo of it)
            try:
                reply = wire.decode_payload(body.type, body.payload)
            except ConstructError:
                continue
            if reply[0] == "ERROR" and (reply[1]["about_type"], reply[1]["about_seq"]) != (tid, seq):
                continue  # an ERROR about another frame that happened to share the seq
            return reply
        return None

    def _next_frame(self):
        """Pop the first valid frame from the receive buffer, skipping noise."""
        rx = self.rx
        while True:
            i = rx.find(cat.FRAME_MAGIC)
            if i < 0:
                del rx[:max(0, len(rx) - 1)]
                return None
            del rx[:i]
            if len(rx) < wire.FRAME_OVERHEAD:
                return None
            length = rx[5] | (rx[6] << 8)
            if length > cat.MAX_PAYLOAD:
                del rx[:1]
                continue
            total = wire.FRAME_OVERHEAD + length
            if len(rx) < total:
                return None
            try:
                frame = wire.Frame.parse(bytes(rx[:total]))
            except ConstructError:
                del rx[:1]  # corrupt: resync on the next magic
                continue
            del rx[:total]
            return frame

    # --- messages --------------------------------------------------------
    def hello(self):
        _, f = self.request("HELLO")
        if f["protocol"] != cat.PROTOCOL_VERSION or f["schema_hash"] != wire.SCHEMA_HASH:
            raise LinkError(f"device speaks protocol {f['protocol']} schema {f['schema_hash']:08x}, "
                            f"this host {cat.PROTOCOL_VERSION} schema {wire.SCHEMA_HASH:08x}: "
                            f"update the firmware (make flash) or the host")
        return f

    def status(self):
        return self.request("STATUS")[1]

    def set_time(self, utc):
        """Set the device's UTC clock (s); -> {utc, uptime_ms, boot}."""
        return self.request("SET_TIME", utc=int(utc))[1]

    def sessions(self):
        out = []
        index = 0
        total = None
        while total is None or index < total:
            try:
                _, f = self.request("LIST_SESSIONS", index=index)
            except DeviceError as e:
                if e.name == "NO_SESSION" and index == 0:
                    return []
                raise
            total = f["total"]
            out.append(f)
            index += 1
        return out

    def read(self, session_id, offset, length):
        _, f = self.request("READ_SESSION", session_id=session_id, offset=offset, length=length)
        if f["session_id"] != session_id or f["offset"] != offset:
            raise LinkError(f"chunk for session {f['session_id']} offset {f['offset']}, "
                            f"asked {session_id} offset {offset}")
        return f["data"]

    def read_window(self, session_id, spans):
        """Chunks [(offset, length), ...] with up to WINDOW requests in flight
        (their frames fit the ESP32's ~256 B stdin ring), so the device serves
        one while the next is on the wire. Yields each chunk's data in order; a
        reply that does not come is asked for again alone (with retries)."""
        tid = wire.MESSAGE_BY_NAME["READ_SESSION"][0]
        for i in range(0, len(spans), WINDOW):
            batch = spans[i:i + WINDOW]
            seqs = []
            try:
                for offset, length in batch:
                    self.seq = (self.seq + 1) & 0xFF
                    seqs.append(self.seq)
                    self.ser.write(wire.encode_message("READ_SESSION", seq=self.seq, session_id=session_id,
                                                       offset=offset, length=length))
                for (offset, length), seq in zip(batch, seqs):
                    reply = self._read_reply(tid, seq)
                    if reply is None or reply[0] == "ERROR" or reply[1]["offset"] != offset \
                            or reply[1]["session_id"] != session_id:
                        yield self.read(session_id, offset, length)  # alone, with its retries and errors
                    else:
                        yield reply[1]["data"]
            except (serial.SerialException, OSError) as e:
                raise LinkError(f"the link to {self.port} dropped during READ_SESSION: {e}") from None

    def confirm(self, session_id, crc32):
        return self.request("CONFIRM_SESSION", session_id=session_id, crc32=crc32)[1]

    def get_config(self, key):
        """The device's value (int) of a setting; DeviceError UNKNOWN_KEY if it has none."""
        return self.request("GET_CONFIG", key=key.encode())[1]["value"]

    def set_config(self, key, value):
        """Set and persist; DeviceError UNKNOWN_KEY / BAD_VALUE leaves the old value."""
        return self.request("SET_CONFIG", key=key.encode(), value=value)[1]["value"]

    def calibrate(self):
        return self.request("CALIBRATE")[1]

    def calibration(self):
        return self.request("GET_CALIBRATION")[1]

    def capture(self, seconds, label):
        """Start a raw capture; the new session's id. DeviceError NOT_CALIBRATED
        without a calibration, BAD_VALUE for seconds or label out of range."""
        return self.request("CAPTURE", seconds=seconds, label=label)[1]["session_id"]
