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
        ("samples", "I"),
        # the flash is full of unsynced sessions: nothing records until a sync
        # and confirm frees room; I2C errors since power-up
        ("flash_full", "B"), ("i2c_errors", "H"),
        # the boot count (a session of this boot can be dated from uptime_ms) and
        # the device's UTC clock (0: not set since power-up)
        ("boot", "H"), ("utc", "I"))),
    ("LIST_SESSIONS", 0x03, (("index", "H"),)),
    ("SESSION_INFO", 0x83, (
        ("index", "H"), ("total", "H"), ("session_id", "I"),
        ("size", "I"), ("crc32", "I"), ("closed", "B"), ("confirmed", "B"))),
    ("READ_SESSION", 0x04, (("session_id", "I"), ("offset", "I"), ("length", "H"))),
    ("SESSION_CHUNK", 0x84, (("session_id", "I"), ("offset", "I"), ("data", "*"))),
    ("CONFIRM_SESSION", 0x05, (("session_id", "I"), ("crc32", "I"))),
    ("CONFIRMED", 0x85, (("session_id", "I"),)),
    # Leave the binary link and give the REPL back (mpremote works again).
    # Settings by name (the CONFIG table below); a reply carries the value now in force.
    ("GET_CONFIG", 0x06, (("key", "*"),)),
    ("SET_CONFIG", 0x07, (("value", "i"), ("key", "*"))),
    ("CONFIG_VALUE", 0x86, (("value", "i"), ("key", "*"))),
    # Start the stand-tall-then-walk calibration (as a long button press does);
    # GET_CALIBRATION polls it. state: CAL_STATES; refusal: last REFUSALS code.
    ("CALIBRATE", 0x08, ()),
    ("GET_CALIBRATION", 0x09, ()),
    ("CALIBRATION", 0x89, (
        ("state", "B"), ("refusal", "B"),
        ("up_x", "h"), ("up_y", "h"), ("up_z", "h"),
        ("fwd_x", "h"), ("fwd_y", "h"), ("fwd_z", "h"))),
    # Record the calibrated raw samples for `seconds` as a capture session (the
    # running one ends first); label: CAPTURE_LABELS. Refused NOT_CALIBRATED
    # without a calibration (a capture is only worth its forward axis).
    ("CAPTURE", 0x0A, (("seconds", "H"), ("label", "B"))),
    ("CAPTURE_STARTED", 0x8A, (("session_id", "I"),)),
    # Set the device's clock (UTC, s since 1970); the host does so when it connects.
    ("SET_TIME", 0x0B, (("utc", "I"),)),
    ("TIME", 0x8B, (("utc", "I"), ("uptime_ms", "I"), ("boot", "H"))),
    ("REPL", 0x0F, ()),
    ("REPL_REPLY", 0x8F, ()),
    ("ERROR", 0x7F, (("code", "B"), ("about_type", "B"), ("about_seq", "B"))),
)

# The reply each request gets (or an ERROR naming the request's type and seq).
REPLIES = (
    ("HELLO", "HELLO_REPLY"), ("STATUS", "STATUS_REPLY"), ("LIST_SESSIONS", "SESSION_INFO"),
    ("READ_SESSION", "SESSION_CHUNK"), ("CONFIRM_SESSION", "CONFIRMED"),
    ("GET_CONFIG", "CONFIG_VALUE"), ("SET_CONFIG", "CONFIG_VALUE"),
    ("CALIBRATE", "CALIBRATION"), ("GET_CALIBRATION", "CALIBRATION"),
    ("CAPTURE", "CAPTURE_STARTED"), ("SET_TIME", "TIME"), ("REPL", "REPL_REPLY"),
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
    ("UNKNOWN_KEY", 9),      # setting name not in the CONFIG table
    ("BAD_VALUE", 10),       # setting value outside its range (old value kept)
    ("BUSY", 11),            # a calibration is already running
    ("NOT_CALIBRATED", 12),  # a capture needs the calibration's upright and forward
    ("FLASH_FULL", 13),      # no room for a new session: sync and confirm to free some
)

# Calibration: states and the reasons a device refuses one (previous kept).
CAL_STATES = (("NONE", 0), ("RUNNING", 1), ("DONE", 2))
REFUSALS = (
    ("MOVING", 1),       # not still while it should stand tall
    ("NOT_UPRIGHT", 2),  # the still posture is not the walking one (lying down, bent)
    ("NO_STEPS", 3),     # no steps forward followed in time
    ("NO_FORWARD", 4),   # the steps gave no clear forward direction
)

# On-flash session log: RECORD_MAGIC, type u8, length u8, payload, crc16
# (low 16 bits of crc32 over type, length, payload). Append-only; a reader
# keeps every complete record before a torn or corrupt one.
# A record only ever grows at its tail: a newer reader parses an older, shorter
# record with the fields it lacks absent (None), so logs of format 2 on parse.
RECORD_MAGIC = 0xB5
LOG_FORMAT_VERSION = 6

RECORDS = (
    ("HEADER", 0x01, (
        ("format", "B"), ("fw_major", "B"), ("fw_minor", "B"), ("fw_patch", "B"),
        ("session_id", "I"), ("start_ms", "I"),
        # IMU samples since power-up before this session's first one
        ("first_sample", "I"), ("odr_hz", "H"),
        ("accel_fs_g", "B"), ("gyro_fs_dps", "H"),
        # calibrated upright and forward (unit vectors x1000, sensor axes);
        # up 0,0,0 = not calibrated; forward 0,0,0 = forward axis unknown
        ("up_x", "h"), ("up_y", "h"), ("up_z", "h"),
        ("fwd_x", "h"), ("fwd_y", "h"), ("fwd_z", "h"),
        ("step_min_ms", "H"), ("step_floor_mg", "H"),
        ("slouch_threshold_deg", "B"), ("slouch_hold_s", "H"),
        ("alert_mode", "B"), ("alert_when", "B"),
        # format 4: SESSION_KINDS, the capture's CAPTURE_LABELS, and the raw
        # samples' scale (micro-g and micro-deg/s per LSB)
        ("session_kind", "B"), ("label", "B"), ("accel_ug_per_lsb", "I"), ("gyro_udps_per_lsb", "I"),
        # format 5: the chip's own rate deviation (INTERNAL_FREQ_FINE): it samples at
        # odr_hz x (1 + 0.0015 x odr_fine). Every t_ms counts nominal sample periods
        # (sample index x 1000 / odr_hz); a reader scales them to the true rate.
        ("odr_fine", "b"),
        # format 6: the session's start in UTC (s since 1970) when the device's clock
        # was set since power-up (SET_TIME), else 0; and the boot it was recorded in
        # (the device counts its boots), so a host can date it from the uptime if
        # it is still the same boot
        ("start_utc", "I"), ("boot", "H"))),
    # t_ms counts from the session's first sample, on the IMU's sample clock.
    # pitch (forward lean +) and roll (right +) of the trunk, centidegrees,
    # relative to the reference upright. lag_ms: how long after t_ms the
    # detector confirmed the step (its real-time delay, FIFO batching aside).
    # format 4: direction (DIRECTIONS), the stride-averaged lean against the
    # reference in force (lean_cdeg) and which reference that is (FORMS).
    ("STEP", 0x02, (("t_ms", "I"), ("interval_ms", "H"), ("cadence_dspm", "H"),
                    ("peak_mg", "H"), ("pitch_cdeg", "h"), ("roll_cdeg", "h"), ("lag_ms", "H"),
                    ("direction", "B"), ("lean_cdeg", "h"), ("reference", "B"))),
    # a slouch alert: the stride-averaged pitch when it started (against the
    # calibrated upright) and, format 4, the reference that judged it (FORMS)
    # with the lean against it
    ("ALERT_START", 0x03, (("t_ms", "I"), ("pitch_cdeg", "h"), ("reference", "B"), ("lean_cdeg", "h"))),
    ("ALERT_END", 0x04, (("t_ms", "I"),)),
    ("FAULT", 0x05, (("t_ms", "I"), ("code", "B"), ("count", "H"))),
    ("END", 0x06, (("t_ms", "I"), ("steps", "I"), ("samples", "I"))),
    # movement bouts: kind BOUTS, direction DIRECTIONS (format 4; a change of
    # direction starts a new bout, and so does deciding it)
    ("BOUT", 0x07, (("t_ms", "I"), ("kind", "B"), ("direction", "B"))),
    ("REFERENCE", 0x08, (("t_ms", "I"), ("source", "B"),
                         ("up_x", "h"), ("up_y", "h"), ("up_z", "h"),
                         ("fwd_x", "h"), ("fwd_y", "h"), ("fwd_z", "h"))),
    # the runner's own form learned for one kind of movement (FORMS): the
    # stride-averaged pitch against the calibrated upright it holds there
    ("FORM", 0x09, (("t_ms", "I"), ("form", "B"), ("pitch_cdeg", "h"))),
    # the retro-interval cue played: backward steps in a row so far
    ("CUE", 0x0A, (("t_ms", "I"), ("steps", "H"))),
    # a capture's raw samples from t_ms on, one per sample period: int16 ax, ay,
    # az, gx, gy, gz (sensor axes, LSB; the HEADER gives the scale), 16 at most
    ("RAW", 0x0B, (("t_ms", "I"), ("samples", "*"))),
)

SESSION_KINDS = (("ACTIVITY", 0), ("CAPTURE", 1))
CAPTURE_LABELS = (("UNLABELLED", 0), ("FORWARD", 1), ("BACKWARD", 2), ("MIXED", 3))

BOUTS = (("REST", 0), ("WALK", 1), ("RUN", 2))
# direction of travel per step and bout: unknown without a forward axis or until decided
DIRECTIONS = (("UNKNOWN", 0), ("FORWARD", 1), ("BACKWARD", 2))
# the reference a lean is judged against: the calibrated upright (standing),
# or the runner's own form in that kind of movement and direction
FORMS = (("UPRIGHT", 0), ("WALK_FORWARD", 1), ("WALK_BACKWARD", 2), ("RUN_FORWARD", 3), ("RUN_BACKWARD", 4))
# where a session's reference upright came from
REFERENCES = (("CALIBRATED", 1), ("AUTO", 2))

# Settings kept on the device's flash (config.json): name, default, min, max,
# and for a choice the names of its values (the value is the index).
# The host (`--set`, `retrostride config`) and the device validate against this.
CONFIG = (
    ("step_floor_mg", 100, 40, 1000, ()),   # smallest vertical peak that can be a step (slow walking)
    ("step_min_ms", 250, 150, 600, ()),     # shortest step interval (230 steps/min = 261 ms)
    # posture coaching (Upright GO: ~5 s out of the neutral zone; Lumo: 3 s - 10 min)
    ("slouch_threshold_deg", 12, 3, 60, ()),  # forward lean beyond the upright that is a slouch
    ("slouch_hold_s", 5, 1, 600, ()),         # held this long (stride-averaged) before an alert
    ("slouch_hysteresis_deg", 4, 0, 20, ()),  # the alert ends this far below the threshold
    ("slouch_cooldown_s", 30, 0, 3600, ()),   # between buzzes of one alert, and after an alert
    ("slouch_max_repeats", 3, 1, 10, ()),     # buzzes per alert, each stronger
    ("alert_mode", 0, 0, 2, ("training", "tracking", "off")),  # buzz / log only / nothing
    ("alert_when", 0, 0, 1, ("moving", "always")),  # only in walk/run bouts, or any time
    ("haptic_strength_pct", 70, 10, 100, ()),  # motor PWM duty
    # bouts: running from this cadence up; a bout ends after this long without a step
    ("run_cadence_spm", 145, 100, 200, ()),
    ("bout_pause_s", 3, 1, 60, ()),
    # without a calibration, the posture over the first seconds of the first bout is the upright
    ("auto_reference_s", 10, 2, 120, ()),
    # sessions: from sustained movement (most everyday walking bouts are under 12
    # steps, Orendurff et al. 2008), ended after a pause longer than a drink stop
    # or a traffic light; power_up records from boot until the button says stop
    ("session_start", 0, 0, 1, ("movement", "power_up")),
    ("session_start_steps", 16, 4, 48, ()),  # steps in a row (each within bout_pause_s) that start one
    ("session_end_s", 300, 10, 3600, ()),    # a session started by movement ends after this long still
    # run-aware coaching: moving, a lean is judged against the runner's own form
    # for that kind and direction, learned over form_learn_s after the first
    # form_settle_s of it (starting off, settling into the pace) following a calibration
    ("form_settle_s", 5, 0, 60, ()),
    ("form_learn_s", 15, 3, 120, ()),
    # retro intervals: after this many backward steps in a row a distinct buzz (0 = off)
    ("retro_cue_steps", 0, 0, 2000, ()),
    # raw capture started on the device: with capture_s > 0 a short press records
    # a capture of that length (labelled capture_label) instead of a session
    ("capture_s", 0, 0, 3600, ()),
    ("capture_label", 0, 0, 3, ("unlabelled", "forward", "backward", "mixed")),
    # unworn this long (no session, no movement, no link), the board sleeps deeply until
    # the IMU feels motion (0 = never)
    ("sleep_after_min", 30, 0, 240, ()),
)

# FAULT records: what went wrong, and `count` what it cost
FAULTS = (
    ("FIFO_OVERRUN", 1),  # count: samples lost (the sample clock skips them, so later times stay true)
    ("I2C_ERROR", 2),     # count: I2C errors since power-up
    ("IMU_RESET", 3),     # the IMU had lost its settings and was set up again; count: samples lost
    ("FLASH_FULL", 4),    # no room left: the session ends here, nothing records until a sync frees room
    ("LOW_BATTERY", 5),   # count: the battery's mV (under 3450 mV a LiPo has about a tenth left)
)


def canonical_text():
    """The catalogue as text; its CRC32 is the schema hash."""
    parts = ["v%d" % PROTOCOL_VERSION, "log%d" % LOG_FORMAT_VERSION]
    for table in (MESSAGES, RECORDS):
        for name, tid, fields in table:
            parts.append("%s=%d(%s)" % (name, tid, ",".join(n + ":" + f for n, f in fields)))
    parts.extend("%s=%d" % e for e in ERRORS)
    parts.extend("%s=%d[%d,%d]%s" % (n, d, lo, hi, "|".join(ch)) for n, d, lo, hi, ch in CONFIG)
    for table in (CAL_STATES, REFUSALS, BOUTS, REFERENCES, DIRECTIONS, FORMS, SESSION_KINDS, CAPTURE_LABELS,
                  FAULTS):
        parts.extend("%s=%d" % e for e in table)
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
