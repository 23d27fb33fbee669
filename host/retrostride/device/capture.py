"""Raw captures: the device records its calibrated raw samples as a session of
their own (`retrostride capture`, or a short press with `capture_s` set); the
host turns one into a trace CSV in the project's format, with the label and
the calibration in its `#` metadata, so `replay` and `bench retro` read it as
they read any recording. Flash budget: RAW records of 16 samples (5 B record
frame + 4 B time + 16 x 12 B) at 104 Hz are 1306.5 B/s, 4.7 MB per hour."""
import time

import numpy as np
from rsproto import catalogue as cat

from ..errors import UsageError
from ..recordings.trace import Trace
from ..sessions.logfile import parse_log
from .client import LinkError
from .sync import sync

LABELS = [name.lower() for name, _ in cat.CAPTURE_LABELS]
KIND_CAPTURE = dict(cat.SESSION_KINDS)["CAPTURE"]
SAMPLE = np.dtype([("a", "<i2", 3), ("g", "<i2", 3)])


def label_code(label):
    if label not in LABELS:
        raise UsageError(f"--label {label!r}: choose one of {', '.join(LABELS)}")
    return LABELS.index(label)


def is_capture(log):
    return log.header is not None and log.header.get("session_kind") == KIND_CAPTURE


def capture_trace(log, source=""):
    """The capture's samples as a Trace: g and deg/s in sensor axes, time from
    the session's start; meta carries the label and the calibration."""
    if not is_capture(log):
        raise ValueError("not a capture session (its header names no capture)")
    h = log.header
    odr = h["odr_hz"]
    times, samples = [], []
    for r in log.of("RAW"):
        block = np.frombuffer(r["samples"], dtype=SAMPLE)
        # t_ms is the sample's index x 1000 / odr, rounded down: the index back,
        # then its time at the chip's true rate
        first = -(-r["t_ms"] * odr // 1000)
        times.append((first + np.arange(len(block))) / log.rate_hz)
        samples.append(block)
    if not samples:
        raise ValueError("the capture holds no samples")
    t = np.concatenate(times)
    s = np.concatenate(samples)
    keep = np.concatenate([[True], np.diff(t) > 0])  # a torn record repeated: keep time increasing
    accel = s["a"][keep] * (h["accel_ug_per_lsb"] / 1e6)
    gyro = s["g"][keep] * (h["gyro_udps_per_lsb"] / 1e6)
    cal = [h["up_x"], h["up_y"], h["up_z"], h["fwd_x"], h["fwd_y"], h["fwd_z"]]
    meta = {"source": source or f"RetroStride capture, session {h['session_id']}",
            "label": LABELS[h["label"]] if h["label"] < len(LABELS) else str(h["label"]),
            # the device's calibration (x1000, sensor axes): up then forward
            "calibration": ",".join(str(v) for v in cal),
            "firmware": "%d.%d.%d" % (h["fw_major"], h["fw_minor"], h["fw_patch"])}
    return Trace(t=t[keep], accel=accel, gyro=gyro, meta=meta)


def trace_calibration_of(trace):
    """The calibration a capture's metadata carries (6 ints x1000), or None."""
    text = trace.meta.get("calibration", "")
    if not text:
        return None
    try:
        cal = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"# calibration: {text!r}: expected 6 integers (up x,y,z, forward x,y,z, x1000)") from None
    if len(cal) != 6 or not any(cal[:3]):
        raise ValueError(f"# calibration: {text!r}: expected 6 integers with an upright")
    return cal


def run_capture(client, library, seconds, label, timeout_s=None, progress=False):
    """Start a capture, wait for it to close, sync it: -> (session id, its log)."""
    client.hello()
    sid = client.capture(seconds, label_code(label))
    deadline = time.monotonic() + (timeout_s or seconds + 30)
    while True:
        if time.monotonic() > deadline:
            raise LinkError(f"capture {sid} did not close within {seconds} s and the margin")
        if not client.status()["recording"]:
            break
        time.sleep(0.2)
    device, _ = sync(client, library, progress=progress)
    return sid, parse_log(library.data(device, sid))
