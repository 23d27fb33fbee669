"""The one definition of every byte format shared by the device and the host.

Everything else is derived from these tables: the host's construct structs
(`rsproto.wire`), the firmware's generated codec table
(`firmware/rsdevice/schema.py`, written by `python -m rsproto.generate`) and
the golden vectors in `protocol/golden/`. Change a table, regenerate, and the
schema hash changes so a mismatched host and device refuse each other at HELLO.

Field formats are `struct` codes, little-endian: B/b u8/i8, H/h u16/i16,
I/i u32/i32, `Ns` N raw bytes; `*` (last field only) takes the rest.
"""

PROTOCOL_VERSION = 1
FIRMWARE_VERSION = (0, 1, 0)

# Frame: MAGIC, version u8, type u8, seq u8, length u16, payload, crc32 u32.
# The CRC covers version..payload and is seeded with the message's schema byte
# (as MAVLink's CRC_EXTRA), so a host and a device that disagree on a message's
# layout reject its frames even when the lengths happen to match.
FRAME_MAGIC = b"\xa5\x5a"
FRAME_HEADER = "<BBBH"  # version, type, seq, length
MAX_PAYLOAD = 512
# Reads stay well under the ESP32's ~256 B stdin ring only on the device->host
# side, which has no such limit; host->device requests are all < 32 B.
MAX_CHUNK = 384

# name, type id, fields.  Requests < 0x80, replies = request | 0x80.
MESSAGES = (
    ("HELLO", 0x01, ()),
    ("HELLO_REPLY", 0x81, (
        ("protocol", "B"), ("schema_hash", "I"),
        ("fw_major", "B"), ("fw_minor", "B"), ("fw_patch", "B"),
        ("device_id", "8s"))),
    ("STATUS", 0x02, ()),
    ("STATUS_REPLY", 0x82, (
        ("uptime_ms", "I"), ("battery_mv", "H"), ("sessions", "H"),
        ("free_kb", "I"), ("recording", "B"), ("fifo_overruns", "H"),
        ("samples", "I"))),
    ("LIST_SESSIONS", 0x03, (("index", "H"),)),
    ("SESSION_INFO", 0x83, (
        ("index", "H"), ("total", "H"), ("session_id", "I"),
        ("size", "I"), ("crc32", "I"), ("closed", "B"), ("confirmed", "B"))),
    ("READ_SESSION", 0x04, (("session_id", "I"), ("offset", "I"), ("length", "H"))),
    ("SESSION_CHUNK", 0x84, (("session_id", "I"), ("offset", "I"), ("data", "*"))),
    ("CONFIRM_SESSION", 0x05, (("session_id", "I"), ("crc32", "I"))),
    ("CONFIRMED", 0x85, (("session_id", "I"),)),
    # Leave the binary link and give the REPL back (mpremote works again).
    ("REPL", 0x0F, ()),
    ("REPL_REPLY", 0x8F, ()),
    ("ERROR", 0x7F, (("code", "B"), ("about_type", "B"), ("about_seq", "B"))),
)

ERRORS = (
    ("BAD_CRC", 1),          # frame CRC wrong: corrupted or schema mismatch
    ("BAD_VERSION", 2),      # protocol version differs
    ("UNKNOWN_TYPE", 3),     # message type not in this catalogue
    ("BAD_LENGTH", 4),       # payload length does not fit the message
    ("NO_SESSION", 5),       # session id unknown
    ("BAD_RANGE", 6),        # offset/length outside the session
    ("CRC_MISMATCH", 7),     # CONFIRM_SESSION crc differs from the device's
    ("NOT_CLOSED", 8),       # session still recording
)

# On-flash session log: RECORD_MAGIC, type u8, length u8, payload, crc16
# (low 16 bits of crc32 over type, length, payload). Append-only; a reader
# keeps every complete record before a torn or corrupt one.
RECORD_MAGIC = 0xB5
LOG_FORMAT_VERSION = 1

RECORDS = (
    ("HEADER", 0x01, (
        ("format", "B"), ("fw_major", "B"), ("fw_minor", "B"), ("fw_patch", "B"),
        ("session_id", "I"), ("start_ms", "I"),
        # IMU samples since power-up before this session's first one
        ("first_sample", "I"), ("odr_hz", "H"),
        ("accel_fs_g", "B"), ("gyro_fs_dps", "H"),
        # upright reference (gravity, mg, sensor axes); 0,0,0 = not calibrated
        ("cal_gx_mg", "h"), ("cal_gy_mg", "h"), ("cal_gz_mg", "h"),
        ("step_min_ms", "H"), ("step_floor_mg", "H"))),
    # t_ms counts from the session's first sample, on the IMU's sample clock.
    ("STEP", 0x02, (("t_ms", "I"), ("interval_ms", "H"), ("cadence_dspm", "H"),
                    ("peak_mg", "H"))),
    ("ALERT_START", 0x03, (("t_ms", "I"), ("pitch_cdeg", "h"))),
    ("ALERT_END", 0x04, (("t_ms", "I"),)),
    ("FAULT", 0x05, (("t_ms", "I"), ("code", "B"), ("count", "H"))),
    ("END", 0x06, (("t_ms", "I"), ("steps", "I"), ("samples", "I"))),
)

# Settings kept on the device's flash (config.json): name, default, min, max.
# The host (`--set`, `retrostride config`) and the device validate against this.
CONFIG = (
    ("step_floor_mg", 120, 40, 1000),   # smallest vertical peak that can be a step
    ("step_min_ms", 250, 150, 600),     # shortest step interval (230 steps/min = 261 ms)
)

FAULTS = (
    ("FIFO_OVERRUN", 1),
    ("I2C_ERROR", 2),
)


def canonical_text():
    """The catalogue as text; its CRC32 is the schema hash."""
    parts = ["v%d" % PROTOCOL_VERSION, "log%d" % LOG_FORMAT_VERSION]
    for table in (MESSAGES, RECORDS):
        for name, tid, fields in table:
            parts.append("%s=%d(%s)" % (name, tid, ",".join(n + ":" + f for n, f in fields)))
    parts.extend("%s=%d" % e for e in ERRORS)
    parts.extend("%s=%d[%d,%d]" % c for c in CONFIG)
    return ";".join(parts)


def message_extra(name, fields):
    """Per-message schema byte seeding the frame CRC (MAVLink CRC_EXTRA)."""
    import zlib
    text = name + "(" + ",".join(n + ":" + f for n, f in fields) + ")"
    return zlib.crc32(text.encode()) & 0xFF


def schema_hash():
    import zlib
    return zlib.crc32(canonical_text().encode())


def payload_format(fields):
    """struct format of the fixed part; True if a trailing `*` field follows."""
    fixed = "".join(f for _, f in fields if f != "*")
    return "<" + fixed, any(f == "*" for _, f in fields)
