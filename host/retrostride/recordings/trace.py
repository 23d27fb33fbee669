"""The trace format: the twin's input, written by every dataset loader.

UTF-8 CSV. Lines starting with `#` are metadata (`# rate_hz: 100`, `# source: ...`),
then a header row, then one row per sample:
  t_s (seconds, increasing), ax_g, ay_g, az_g (g, sensor axes as mounted),
  optionally gx_dps, gy_dps, gz_dps (deg/s; absent = the recording had no gyro).
"""
import csv
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ACCEL = ("ax_g", "ay_g", "az_g")
GYRO = ("gx_dps", "gy_dps", "gz_dps")
STANDARD_G = 9.80665  # m/s^2 per g


# physically possible readings: far past any IMU's range (16 g, 2000 deg/s saturate
# in the twin), still well inside float32, which carries the trace to the twin
LIMIT = {**{c: 1000.0 for c in ACCEL}, **{c: 100000.0 for c in GYRO}, "t_s": 1e7}


class TraceError(ValueError):
    """A trace file that cannot be replayed; the message names file and line."""


@dataclass
class Trace:
    t: np.ndarray            # (n,) seconds
    accel: np.ndarray        # (n, 3) g
    gyro: np.ndarray | None  # (n, 3) deg/s, None when not recorded
    meta: dict = field(default_factory=dict)

    @property
    def duration_s(self):
        return float(self.t[-1] - self.t[0]) if len(self.t) else 0.0

    @property
    def rate_hz(self):
        if len(self.t) < 2:
            return 0.0
        return float((len(self.t) - 1) / self.duration_s)


def read_trace(path):
    """A trace CSV. A well-formed file is read by numpy at once; anything numpy
    cannot read, or values out of bounds, go through the line-by-line reader,
    whose errors name the file and line."""
    fast = _read_fast(Path(path))
    return fast if fast is not None else _read_checked(path)


def _read_fast(path):
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    lines = text.splitlines()
    meta = {}
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        key, sep, value = lines[i][1:].partition(":")
        if sep:
            meta[key.strip()] = value.strip()
        i += 1
    if i >= len(lines) or "rate_hz" in meta and not _positive(meta["rate_hz"]):
        return None
    header = [c.strip() for c in lines[i].split(",")]
    want = ("t_s",) + ACCEL + GYRO if all(c in header for c in GYRO) else ("t_s",) + ACCEL
    if any(c not in header for c in want) or any(c in header for c in GYRO) and len(want) == 4:
        return None
    try:
        data = np.loadtxt(lines[i + 1:], delimiter=",", ndmin=2, comments="#")
    except ValueError:
        return None
    if data.shape[0] < 2 or data.shape[1] != len(header):
        return None
    data = data[:, [header.index(c) for c in want]]
    bounds = np.array([LIMIT[c] for c in want])
    if not np.all(np.isfinite(data)) or np.any(np.abs(data) > bounds) or np.any(np.diff(data[:, 0]) <= 0):
        return None
    gyro = data[:, 4:7] if data.shape[1] == 7 else None
    return Trace(t=data[:, 0], accel=data[:, 1:4], gyro=gyro, meta=meta)


def _positive(text):
    try:
        return float(text) > 0
    except ValueError:
        return False


def _read_checked(path):
    path = Path(path)
    meta = {}
    rows = []
    header = None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(f"{path}: not UTF-8 text ({e})") from None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep:
                meta[key.strip()] = value.strip()
                if key.strip() == "rate_hz":
                    try:
                        ok = float(value) > 0
                    except ValueError:
                        ok = False
                    if not ok:
                        raise TraceError(f"{path}, line {lineno}: # rate_hz: {value.strip()!r} is not a "
                                         f"positive number")
            continue
        cells = next(csv.reader([line]))
        if header is None:
            header = [c.strip() for c in cells]
            missing = [c for c in ("t_s",) + ACCEL if c not in header]
            if missing:
                raise TraceError(f"{path}, line {lineno}: header lacks column(s) {', '.join(missing)} "
                                 f"(need t_s, ax_g, ay_g, az_g; gx_dps, gy_dps, gz_dps optional)")
            has_gyro = [c in header for c in GYRO]
            if any(has_gyro) and not all(has_gyro):
                raise TraceError(f"{path}, line {lineno}: gyro columns must be all of {', '.join(GYRO)} or none")
            cols = [header.index(c) for c in ("t_s",) + ACCEL + (GYRO if all(has_gyro) else ())]
            continue
        if len(cells) != len(header):
            raise TraceError(f"{path}, line {lineno}: {len(cells)} cells, header has {len(header)}")
        row = []
        for c in cols:
            try:
                v = float(cells[c])
            except ValueError:
                raise TraceError(f"{path}, line {lineno}: column {header[c]}: {cells[c]!r} is not a number") from None
            if not math.isfinite(v):
                raise TraceError(f"{path}, line {lineno}: column {header[c]}: {cells[c]!r} is not finite")
            bound = LIMIT.get(header[c])
            if bound and abs(v) > bound:
                raise TraceError(f"{path}, line {lineno}: column {header[c]}: {cells[c]} is beyond any "
                                 f"IMU (|value| <= {bound:g}); the units are g and deg/s")
            row.append(v)
        if rows and row[0] <= rows[-1][0]:
            raise TraceError(f"{path}, line {lineno}: time {row[0]} does not increase (previous {rows[-1][0]})")
        rows.append(row)
    if header is None:
        raise TraceError(f"{path}: no header row")
    if len(rows) < 2:
        raise TraceError(f"{path}: needs at least two samples, has {len(rows)}")
    data = np.array(rows, dtype=float)
    gyro = data[:, 4:7] if data.shape[1] == 7 else None
    return Trace(t=data[:, 0], accel=data[:, 1:4], gyro=gyro, meta=meta)


def write_trace(path, t, accel, gyro=None, meta=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.asarray(t, dtype=float)
    accel = np.asarray(accel, dtype=float)
    cols = ["t_s", *ACCEL] + (list(GYRO) if gyro is not None else [])
    data = np.column_stack([t, accel] + ([np.asarray(gyro, dtype=float)] if gyro is not None else []))
    with path.open("w", encoding="utf-8", newline="") as f:
        meta = dict(meta or {})
        if len(t) > 1:
            meta.setdefault("rate_hz", "%g" % round((len(t) - 1) / (t[-1] - t[0]), 6))
        for k, v in meta.items():
            f.write(f"# {k}: {v}\n")
        f.write(",".join(cols) + "\n")
        for row in data:  # time to the microsecond however long the trace; values to 6 digits
            f.write("%.6f," % row[0] + ",".join("%.6g" % v for v in row[1:]) + "\n")
    return path


def write_twin_binary(trace, path):
    """The twin's input: b'RSTW', u32 count, then float32 records
    (t, ax, ay, az, gx, gy, gz); zero rate when the trace has no gyro."""
    n = len(trace.t)
    gyro = trace.gyro if trace.gyro is not None else np.zeros((n, 3))
    data = np.column_stack([trace.t - trace.t[0], trace.accel, gyro]).astype("<f4")
    with open(path, "wb") as f:
        f.write(b"RSTW" + struct.pack("<I", n))
        f.write(data.tobytes())
    return path


# the twin's usual setting: 104 Hz, +-16 g (0.488 mg/LSB), +-2000 dps (70 mdps/LSB)
WORDS_ODR = 104
WORDS_SCALE = (1000 / 0.488, 1000 / 70.0)


def write_twin_words(trace, path):
    """The FIFO words the twin's chip would make at its usual setting, made
    here at once with numpy: per sample an accel word then a gyro word (tag,
    then three int16), the trace linearly interpolated at each sample's time
    and quantised as the twin does (round half to even, saturating). The twin
    serves these when the firmware sets the chip that way, and computes words
    itself otherwise."""
    t0 = float(np.float32(trace.t[0]))
    t = (trace.t - trace.t[0]).astype("<f4").astype(float)
    n = int(np.floor(float(t[-1]) * WORDS_ODR)) + 1
    at = np.arange(n) / WORDS_ODR
    gyro = trace.gyro if trace.gyro is not None else np.zeros((len(t), 3))
    words = np.zeros((n, 2, 7), dtype=np.uint8)
    for k, (data, scale, tag) in enumerate(((trace.accel, WORDS_SCALE[0], 0x02), (gyro, WORDS_SCALE[1], 0x01))):
        v = np.column_stack([np.interp(at, t, data[:, j].astype("<f4").astype(float)) for j in range(3)])
        raw = np.clip(np.round(v * scale), -32768, 32767).astype("<i2")
        words[:, k, 0] = (tag << 3) | ((np.arange(n) & 3) << 1)
        words[:, k, 1:] = raw.view(np.uint8).reshape(n, 6)
    del t0
    Path(path).write_bytes(words.tobytes())
    return path


def rotate(trace, matrix):
    """The same recording with the sensor mounted another way: both the
    accelerometer and the gyro are rotated by `matrix` (3x3)."""
    m = np.asarray(matrix, dtype=float)
    gyro = trace.gyro @ m.T if trace.gyro is not None else None
    return Trace(t=trace.t.copy(), accel=trace.accel @ m.T, gyro=gyro, meta=dict(trace.meta))


def round_the_belt(trace, metres, forward):
    """The recording as a sensor clipped `metres` further round the belt, to
    the wearer's left (negative: right), would have made it. The pelvis is
    taken as rigid: the acceleration at that point is the recorded one plus
    the rotation's, alpha x r + omega x (omega x r), from the gyro (alpha its
    change); the gyro reads the same. `forward` in sensor axes; 'up' is the
    recording's mean gravity. Needs a gyro."""
    if trace.gyro is None:
        raise ValueError("moving a sensor round the belt needs the recording's gyro")
    up = trace.accel.mean(axis=0)
    up /= np.linalg.norm(up)
    f = np.asarray(forward, dtype=float)
    f = f - f.dot(up) * up
    f /= np.linalg.norm(f)
    r = metres * np.cross(up, f)  # up x forward points to the wearer's left
    w = np.radians(trace.gyro)
    alpha = np.gradient(w, trace.t, axis=0)
    extra = np.cross(alpha, r) + np.cross(w, np.cross(w, r))  # m/s^2
    return Trace(t=trace.t.copy(), accel=trace.accel + extra / STANDARD_G, gyro=trace.gyro.copy(),
                 meta=dict(trace.meta))


def axis_vector(name):
    """'+x', '-z', ... -> unit vector in sensor axes."""
    if len(name) != 2 or name[0] not in "+-" or name[1] not in "xyz":
        raise ValueError(f"axis {name!r}: expected +x, -y, ...")
    v = np.zeros(3)
    v["xyz".index(name[1])] = 1.0 if name[0] == "+" else -1.0
    return v


def add_lean(trace, angle_deg, forward):
    """The same recording with the trunk leaning forward by angle_deg (one value
    per sample) more than it did: the sensor turns about the horizontal
    left-right axis, so the accelerometer and the gyro are rotated by the lean
    and the gyro also reads the lean's own angular rate. `forward` is the
    forward direction in sensor axes; 'up' is the recording's mean gravity."""
    from scipy.spatial.transform import Rotation
    up = trace.accel.mean(axis=0)
    up /= np.linalg.norm(up)
    f = np.asarray(forward, dtype=float)
    f = f - f.dot(up) * up
    f /= np.linalg.norm(f)
    k = np.cross(up, f)  # the body turns about its left axis: up moves towards forward
    theta = np.radians(np.asarray(angle_deg, dtype=float))
    # a world-fixed vector seen from the leaned sensor: turned by -theta about k
    rot = Rotation.from_rotvec(-theta[:, None] * k[None, :])
    accel = rot.apply(trace.accel)
    rate = np.gradient(theta, trace.t)  # rad/s
    # a recording without a gyro gets one that reads only the lean's rate
    own = trace.gyro if trace.gyro is not None else np.zeros_like(trace.accel)
    gyro = rot.apply(own) + np.degrees(rate)[:, None] * k[None, :]
    return Trace(t=trace.t.copy(), accel=accel, gyro=gyro, meta=dict(trace.meta))


def slower_sensor(trace, rate_hz):
    """The recording as a slower sensor would have made it: on an even grid at
    its own rate (gaps filled in), then resampled to rate_hz (polyphase, its
    anti-alias filter included); as is if not faster."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    step = float(np.median(np.diff(trace.t)))  # the sensor's own rate: a recording may have gaps
    if rate_hz * step >= 1.0:
        return trace
    even = np.arange(trace.t[0], trace.t[-1] + step / 2, step)  # the gaps filled in, on the rate's grid

    def channels(x):
        return np.column_stack([np.interp(even, trace.t, x[:, j]) for j in range(x.shape[1])])
    ratio = Fraction(rate_hz * step).limit_denominator(100)

    def resampled(x):  # padded at the ends with their own trend, not zeros: gravity has no edge
        return resample_poly(channels(x), ratio.numerator, ratio.denominator, axis=0, padtype="line")
    accel = resampled(trace.accel)
    gyro = None if trace.gyro is None else resampled(trace.gyro)
    t = trace.t[0] + np.arange(len(accel)) * (step / float(ratio))
    return Trace(t=t, accel=accel, gyro=gyro, meta=dict(trace.meta))
