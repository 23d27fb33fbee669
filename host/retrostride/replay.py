"""Replay a trace through the shipped firmware on the twin, then download the
session over the pty exactly as `retrostride sync` does, and report it."""
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from rsproto import catalogue as cat

from .capture import trace_calibration_of
from .client import Client, LinkError, open_port
from .library import Library
from .logfile import parse_log
from .sync import sync
from .trace import axis_vector
from .twin import Faults, Twin

CONFIG = {name: (default, lo, hi, choices) for name, default, lo, hi, choices in cat.CONFIG}


def config_value(key, value):
    """A setting's value as the device stores it: an int in range, or the
    index of a choice's name. ValueError names the key and what it accepts."""
    if key not in CONFIG:
        raise ValueError(f"unknown setting {key!r}; known: {', '.join(CONFIG)}")
    _, lo, hi, choices = CONFIG[key]
    if choices:
        if value not in choices:
            raise ValueError(f"{key}={value}: choose one of {', '.join(choices)}")
        return choices.index(value)
    try:
        v = int(value)
    except ValueError:
        raise ValueError(f"{key}={value!r}: not an integer") from None
    if not lo <= v <= hi:
        raise ValueError(f"{key}={v}: out of range {lo}..{hi}")
    return v


def config_text(key, value):
    """The device's int as the user writes it (a choice's name)."""
    choices = CONFIG[key][3]
    return choices[value] if choices and 0 <= value < len(choices) else str(value)


def parse_settings(items):
    """['key=value', ...] -> {key: device value}, validated against the protocol's table."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = config_value(key.strip(), value.strip())
    return out


def trace_calibration(trace, seconds):
    """`--calibrate-s`: the mean acceleration of the first `seconds` is the
    upright, whatever they hold (the person replaying knows the trace). The
    forward axis comes from the trace's `forward_axis` metadata (e.g. `-z`)
    when its loader knows it; otherwise it stays unknown. -> 6 ints x1000."""
    if seconds <= 0:
        raise ValueError("--calibrate-s must be > 0")
    if seconds > trace.duration_s:
        raise ValueError(f"--calibrate-s {seconds}: the trace lasts only {trace.duration_s:.2f} s")
    first = trace.accel[trace.t - trace.t[0] < seconds]
    up = first.mean(axis=0)
    norm = float(np.linalg.norm(up))
    if norm < 0.2:
        raise ValueError(f"--calibrate-s {seconds}: the first seconds average {norm:.2f} g, no gravity to take")
    up = up / norm
    fwd = np.zeros(3)
    axis = trace.meta.get("forward_axis", "")
    if axis:
        fwd = axis_vector(axis)
        fwd -= fwd.dot(up) * up
        fwd /= np.linalg.norm(fwd)
    return [int(round(v * 1000)) for v in up] + [int(round(v * 1000)) for v in fwd]


def run_replay(trace, settings=None, timeout_s=None, progress=False, calibrate_s=None, faults=None, freq_fine=0):
    """Returns (report dict, raw session bytes). `faults`: what the twin
    injects (twin.Faults); the report's `faults` says what the device logged.
    `freq_fine`: the twin IMU's own rate deviation (INTERNAL_FREQ_FINE)."""
    started = time.monotonic()
    timeout_s = timeout_s or 60 + 2 * trace.duration_s
    twin = Twin(trace, faults=faults, freq_fine=freq_fine)
    # a replay is one session over the whole trace, as if started at power-up
    flash = dict(settings or {})
    power_up = config_value("session_start", "power_up")
    if flash.setdefault("session_start", power_up) != power_up:
        raise ValueError("replay records the whole trace as one session: session_start must stay power_up")
    if calibrate_s is not None:
        flash["calibration"] = trace_calibration(trace, calibrate_s)
    elif "calibration" not in flash and trace_calibration_of(trace):
        flash["calibration"] = trace_calibration_of(trace)  # a capture brings the device's own
    # the device reads its settings and calibration from flash at boot
    (twin.flash_dir / "config.json").write_text(json.dumps(flash))
    with twin:
        client = Client(open_port(twin.port))
        try:
            _with_twin_traceback(twin, wait_for_session_end, twin, client, timeout_s)
            with tempfile.TemporaryDirectory() as tmp:
                lib = Library(Path(tmp) / "replay.sqlite")
                device, fetched = _with_twin_traceback(twin, sync, client, lib, progress=progress)
                if not fetched:
                    raise LinkError("the twin recorded no session")
                data = lib.data(device, fetched[-1][0])
                lib.close()
            events = twin.events()
        finally:
            client.close()
    wall = time.monotonic() - started
    report = build_report(parse_log(data), events, trace, wall)
    return report, data


def _with_twin_traceback(twin, fn, *args, **kw):
    """fn(...); a link error from a twin that died says why it died."""
    try:
        return fn(*args, **kw)
    except LinkError as e:
        time.sleep(0.1)
        if twin.alive():
            raise
        raise LinkError(f"{e}\nthe firmware stopped on the twin:\n{twin.stderr_tail()}") from None


def wait_for_session_end(twin, client, timeout_s):
    """Until the trace is over and the session closed (a session the flash
    cut short closes early: the device plays on to the end regardless)."""
    client.hello()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not twin.alive():
            raise LinkError("the firmware stopped on the twin:\n" + twin.stderr_tail())
        st = client.status()
        end_us = next((e[2] for e in twin.events() if e[0] == "trace_start"), None)
        over = end_us is not None and st["uptime_ms"] * 1000 > end_us
        if over and not st["recording"]:
            if st["sessions"]:
                return st
            why = " (its flash had no room: a larger --flash-kb)" if st["flash_full"] else ""
            raise LinkError("the twin recorded no session" + why)
        time.sleep(0.05)
    raise LinkError(f"the twin did not finish the trace within {timeout_s:.0f} s")


def build_report(log, events, trace, wall_s):
    if log.header is None:
        raise ValueError("session log has no header record")
    h = log.header
    odr = log.rate_hz  # the chip's true rate: t_ms counts nominal sample periods
    scale = log.time_scale
    t0 = float(trace.t[0]) + h["first_sample"] / odr  # trace time of the session's first sample

    def t(ms):
        return round(t0 + ms / 1000.0 * scale, 4)

    referenced = any(n == "REFERENCE" for n, _ in log.records)
    direction = _names(cat.DIRECTIONS)
    form = _names(cat.FORMS)
    steps = []
    for s in log.of("STEP"):
        steps.append({"t": t(s["t_ms"]),
                      "interval_s": round(s["interval_ms"] / 1000.0 * scale, 4) if s["interval_ms"] else None,
                      "cadence_spm": round(s["cadence_dspm"] / 10.0 / scale, 1) if s["cadence_dspm"] else None,
                      "peak_mg": s["peak_mg"],
                      "lag_s": round(s["lag_ms"] / 1000.0 * scale, 4),  # confirmed this long after t
                      # degrees against the reference upright; None before there is one
                      "pitch": s["pitch_cdeg"] / 100.0 if referenced else None,
                      "roll": s["roll_cdeg"] / 100.0 if referenced else None,
                      # older logs (format < 4) knew no direction
                      "direction": direction.get(s["direction"], "unknown"),
                      # the stride-averaged lean against the reference in force, and which
                      "lean": s["lean_cdeg"] / 100.0 if referenced and s["lean_cdeg"] is not None else None,
                      "reference": form.get(s["reference"])})
    # an alert's start and end, with the averaged lean that started it
    alerts = []
    for name, r in log.records:
        if name == "ALERT_START":
            alerts.append({"start": t(r["t_ms"]), "end": None, "pitch": r["pitch_cdeg"] / 100.0,
                           # which reference judged it (upright before format 4) and the lean against it
                           "reference": form.get(r["reference"], "upright"),
                           "lean": r["lean_cdeg"] / 100.0 if r["lean_cdeg"] is not None else r["pitch_cdeg"] / 100.0})
        elif name == "ALERT_END" and alerts and alerts[-1]["end"] is None:
            alerts[-1]["end"] = t(r["t_ms"])
    bouts = [{"t": t(r["t_ms"]), "kind": cat.BOUTS[r["kind"]][0].lower(),
              "direction": direction.get(r["direction"], "unknown")} for r in log.of("BOUT")]
    forms = [{"t": t(r["t_ms"]), "form": form.get(r["form"]), "pitch": r["pitch_cdeg"] / 100.0}
             for r in log.of("FORM")]
    cues = [{"t": t(r["t_ms"]), "backward_steps": r["steps"]} for r in log.of("CUE")]
    references = [{"t": t(r["t_ms"]), "source": dict((c, n) for n, c in cat.REFERENCES)[r["source"]].lower(),
                   "up": [r["up_x"] / 1000, r["up_y"] / 1000, r["up_z"] / 1000],
                   "forward": [r["fwd_x"] / 1000, r["fwd_y"] / 1000, r["fwd_z"] / 1000]}
                  for r in log.of("REFERENCE")]

    fifo_t0 = next((e[1] for e in events if e[0] == "trace_start"), 0)
    buzzes = [{"t": round(float(trace.t[0]) + (e[1] - fifo_t0) / 1e6, 4), "ms": e[2]}
              for e in events if e[0] == "buzz"]
    faults = fault_list(log, t, odr, float(trace.t[-1]))
    # what the twin did to the firmware (--i2c-error-every, --stall), to hold the faults against
    injected = [{"t": round(float(trace.t[0]) + (e[2] - fifo_t0) / 1e6, 4), "kind": e[1]}
                for e in events if e[0] == "fault"]

    end = log.end
    duration = end["t_ms"] / 1000.0 * scale if end else (steps[-1]["t"] - t0 if steps else 0.0)
    summary = {
        "steps": len(steps),
        "duration_s": round(duration, 3),
        "cadence_spm": cadence_spm(steps),
        **direction_summary(steps),
        "alerts": len(alerts),
        "fifo_overruns": sum(1 for f in faults if f["kind"] == "fifo_overrun"),
        "faults": len(faults),
        "corrupt_records": log.corrupt,
        "truncated": log.truncated,
        "replay_speed_x": round(trace.duration_s / wall_s, 1) if wall_s > 0 else None,
        "wall_s": round(wall_s, 3),
    }
    return {"summary": summary, "steps": steps, "alerts": alerts, "buzzes": buzzes, "bouts": bouts,
            "references": references, "forms": forms, "cues": cues, "faults": faults, "injected": injected,
            "session": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in h.items()},
            "trace": {"source": trace.meta.get("source", ""), "duration_s": round(trace.duration_s, 3),
                      "rate_hz": round(trace.rate_hz, 3), "gyro": trace.gyro is not None}}


def fault_list(log, t, odr, trace_end):
    """The device's FAULT records: t (trace time), kind, count, and lost_s:
    the seconds of samples it lost (an overrun, an IMU reset), or of the trace
    left unrecorded (a full flash)."""
    kinds = _names(cat.FAULTS)
    out = []
    for r in log.of("FAULT"):
        kind = kinds.get(r["code"], "code %d" % r["code"])
        lost = None
        if kind in ("fifo_overrun", "imu_reset"):
            lost = round(r["count"] / odr, 3)
        elif kind == "flash_full":
            lost = round(max(0.0, trace_end - t(r["t_ms"])), 3)
        out.append({"t": t(r["t_ms"]), "kind": kind, "count": r["count"], "lost_s": lost})
    return out


def _names(table):
    """{code: lower-case name} of a catalogue table."""
    return {code: name.lower() for name, code in table}


def cadence_spm(steps):
    """Steps per minute from the median interval between steps."""
    intervals = [s["interval_s"] for s in steps if s["interval_s"]]
    return round(60.0 / statistics.median(intervals), 1) if intervals else 0.0


def direction_summary(steps):
    """How much of the session went backwards: steps, seconds (the intervals
    that ended in a backward step) and the cadence of each direction."""
    back = [s for s in steps if s["direction"] == "backward"]
    return {"backward_steps": len(back),
            "backward_s": round(sum(s["interval_s"] or 0.0 for s in back), 3),
            "forward_steps": sum(1 for s in steps if s["direction"] == "forward"),
            "cadence_forward_spm": cadence_spm([s for s in steps if s["direction"] == "forward"]),
            "cadence_backward_spm": cadence_spm(back)}
