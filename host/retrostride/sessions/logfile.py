"""Parse a session log (the on-flash record stream) with the protocol's construct codecs."""
from dataclasses import dataclass, field

from construct import ConstructError

from rsproto import catalogue as cat
from rsproto import wire


@dataclass
class SessionLog:
    header: dict | None = None
    records: list = field(default_factory=list)   # (name, fields) in file order
    corrupt: int = 0        # records skipped for a bad checksum or unknown type
    truncated: bool = False  # the file ends inside a record (power cut mid-write)

    def of(self, name):
        return [f for n, f in self.records if n == name]

    @property
    def end(self):
        ends = self.of("END")
        return ends[-1] if ends else None

    @property
    def rate_hz(self):
        """The IMU's true sample rate: its nominal ODR scaled by the chip's
        own deviation (format 5; older logs knew none)."""
        h = self.header or {}
        return h.get("odr_hz", 0) * (1 + 0.0015 * (h.get("odr_fine") or 0))

    @property
    def time_scale(self):
        """True seconds per second of t_ms (which counts nominal sample periods)."""
        rate = self.rate_hz
        return (self.header or {}).get("odr_hz", 0) / rate if rate else 1.0


def parse_log(data):
    """Every complete, checksummed record; skips corrupt ones by resyncing on
    the record magic, and notes a torn tail instead of failing."""
    log = SessionLog()
    data = bytes(data)
    i = 0
    magic = bytes([cat.RECORD_MAGIC])
    while i < len(data):
        if data[i] != cat.RECORD_MAGIC:
            j = data.find(magic, i)
            if j < 0:
                log.corrupt += 1
                break
            log.corrupt += 1
            i = j
            continue
        if i + 3 > len(data) or i + 5 + data[i + 2] > len(data):
            log.truncated = True
            break
        size = 5 + data[i + 2]
        try:
            rec = wire.Record.parse(data[i:i + size])
            body = rec.body.value
            name, fields = wire.decode_record_payload(body.type, body.payload)
        except (ConstructError, KeyError, ValueError):
            log.corrupt += 1
            i += 1
            continue
        if name == "HEADER" and log.header is None:
            log.header = fields
        log.records.append((name, fields))
        i += size
    return log
